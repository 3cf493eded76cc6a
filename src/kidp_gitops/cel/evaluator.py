"""Evaluating CEL from the event loop, bounded in time and memory.

    await evaluate(text, env, data) -> Any          the value (EvaluationFailed, InvalidExpression)
    await boolean(text, env, data) -> bool          the same, and it must be a bool

Every call goes to one worker process per event loop (`worker`), started on first use
and again after it died or was stopped: a call that takes longer than `DEADLINE` kills
the worker and fails, and so does one that makes it exceed its memory. The worker ends
with the engine (its stdin closes). Calls are answered one at a time, in order; a
health check's few objects, or a webhook's few resources, each take about 0.4 ms.

The expression is checked here first (cached), so a bad one never reaches the worker,
and the data must be JSON: what the API server returns or a webhook sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import weakref
from typing import Any

import orjson

from kidp_gitops.cel import expression, worker
from kidp_gitops.cel.expression import Environment, EvaluationFailed

DEADLINE = 2.0
"""Seconds one evaluation may take. The expressions Flux documents take microseconds."""
STARTUP = 60.0
"""Seconds the worker may take to load (a busy machine), before its first evaluation."""
_ANSWER_LIMIT = 1 << 20


class _Worker:
    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        line = orjson.dumps(request) + b"\n"
        async with self._lock:
            process = await self._started()
            assert process.stdin is not None
            assert process.stdout is not None
            try:
                process.stdin.write(line)
                async with asyncio.timeout(DEADLINE):
                    await process.stdin.drain()
                    reply = await process.stdout.readline()
            except TimeoutError:
                await self._stop()
                raise EvaluationFailed(
                    f"the evaluation took longer than {DEADLINE:g}s and was stopped"
                ) from None
            except (ConnectionError, ValueError, asyncio.LimitOverrunError):
                reply = b""
            if not reply:
                await self._stop()
                raise EvaluationFailed(
                    "the evaluating process ended (an expression needing more memory than "
                    "allowed ends it)"
                )
            answer: dict[str, Any] = orjson.loads(reply)
            return answer

    async def _started(self) -> asyncio.subprocess.Process:
        if self._process is not None and self._process.returncode is None:
            return self._process
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kidp_gitops.cel.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            limit=_ANSWER_LIMIT,
        )
        assert self._process.stdout is not None
        try:
            async with asyncio.timeout(STARTUP):
                ready = await self._process.stdout.readline()
        except TimeoutError:
            ready = b""
        if ready != worker.READY:
            await self._stop()
            raise EvaluationFailed("the CEL evaluator process did not start")
        return self._process

    async def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


_WORKERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Worker] = (
    weakref.WeakKeyDictionary()
)


def _worker() -> _Worker:
    loop = asyncio.get_running_loop()
    found = _WORKERS.get(loop)
    if found is None:
        found = _WORKERS[loop] = _Worker()
    return found


async def evaluate(text: str, env: Environment, data: dict[str, Any]) -> Any:
    """The value of `text` over the variables in `data`."""
    expression.check(text, env)
    answer = await _worker().ask({"text": text, "env": env.name, "data": data})
    if "error" in answer:
        if answer.get("invalid"):
            raise expression.InvalidExpression(answer["error"])
        raise EvaluationFailed(answer["error"])
    return answer["value"]


async def boolean(text: str, env: Environment, data: dict[str, Any]) -> bool:
    """The value of `text`, which must be a bool."""
    value = await evaluate(text, env, data)
    if not isinstance(value, bool):
        raise EvaluationFailed(f"the expression returned a {type(value).__name__}, not a bool")
    return value
