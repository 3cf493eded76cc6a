"""Running helm actions: one narrow seam for every one of them.

    helper = Helper(home)
    await helper.run(["upgrade", …], kubeconfig=doc, timeout=s, chart_digest=d) -> output
    await helper.close()

The actions run in kidp-helm-server (`server`: Helm's Go SDK, `hack/helm/server`), one
long-lived process per engine instead of a helm process per action. It is started
lazily, with a private helm home (its cache, config, data and plugins under `home`) and
no environment of ours beyond PATH, so nothing of the engine's environment (tokens,
$KUBECONFIG) reaches it. A request is the helm command line the helm CLI would have run
(the same commands and flags), the kubeconfig as a document (never a file) and the
chart's digest (the helper keeps loaded charts by it), one JSON line on the helper's
standard input; its answer comes back on standard output by the request's id. Requests
run concurrently.

A failure raises `HelmFailed` with helm's own error, on one line, as the helm CLI said
it. The caller cancelled, or the deadline (helm's timeout and `GRACE`) passed: the
helper is told to cancel the request. The helper died: every request in flight fails
with `HelmFailed` (never hangs), and the next one starts a new helper. The helper logs
nothing of a request; the last line it wrote to standard error when it ended is logged.

Tests watch the actions asked for, as `proc.substituted` lets them watch programs:

    with watching(lambda argv: seen.append(argv)):   # every request's helm command line
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from kidp_gitops.helm import server
from kidp_gitops.proc import run as proc

log = logging.getLogger(__name__)

# Time on top of helm's own --timeout before we give up on the action.
GRACE = 60.0
_MAX_MESSAGE = 1500
_LINE_LIMIT = 16 << 20
_STDERR_TAIL = 4096
_STOP_WAIT = 10.0
"""How long the helper has to end its actions (it cancels them) when the engine stops."""


Watcher = Callable[[Sequence[str]], None]

# Process-wide, as proc.run's substitutes: the engine a test watches runs its reconciles
# in tasks started before the test. A tuple, replaced whole.
_watchers: tuple[Watcher, ...] = ()


@contextlib.contextmanager
def watching(watcher: Watcher) -> Iterator[None]:
    """Within the block, `watcher` sees the helm command line of every request."""
    global _watchers
    _watchers = (*_watchers, watcher)
    try:
        yield
    finally:
        _watchers = tuple(w for w in _watchers if w is not watcher)


class HelmFailed(Exception):
    """The helm action failed (or did not finish); the message is helm's error."""


class _Running:
    """One started helper: its process and the requests waiting for an answer."""

    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.stderr = b""
        self.reader: asyncio.Task[None] | None = None
        self.gone = False


class Helper:
    """The helm actions of one engine (its `home`), served by one helper process."""

    def __init__(self, home: Path):
        self.home = home
        self._running: _Running | None = None
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)

    @property
    def pid(self) -> int | None:
        """The helper's process id while it runs (None before the first action)."""
        running = self._running
        return None if running is None or running.gone else running.process.pid

    async def run(
        self,
        args: list[str],
        *,
        kubeconfig: dict[str, Any],
        timeout: float,
        chart_digest: str | None = None,
    ) -> str:
        """Run `helm <args>` (`kubeconfig`: the cluster and credentials it acts with)."""
        for watcher in _watchers:
            watcher(args)
        running = await self._started()
        ident = next(self._ids)
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        running.waiting[ident] = answer
        request = {"id": ident, "argv": args, "kubeconfig": kubeconfig}
        if chart_digest:
            request["chartDigest"] = chart_digest
        try:
            self._send(running, request)
            async with asyncio.timeout(timeout + GRACE):
                said = await answer
        except TimeoutError as exc:
            raise HelmFailed(f"helm {args[0]} did not finish within {timeout + GRACE:g}s") from exc
        finally:
            running.waiting.pop(ident, None)
            if not answer.done():  # the deadline, or our caller was cancelled
                answer.cancel()
                with contextlib.suppress(HelmFailed):
                    self._send(running, {"cancel": ident})
        error = said.get("error")
        if error is not None:
            raise HelmFailed(message(f"Error: {error}") or f"helm {args[0]} failed")
        return str(said.get("output", ""))

    async def close(self) -> None:
        """End the helper: its input closed, it cancels what runs and exits (killed
        with its process group if it does not within a few seconds)."""
        async with self._lock:
            running, self._running = self._running, None
        if running is None:
            return
        stdin = running.process.stdin
        if stdin is not None:
            stdin.close()
        try:
            async with asyncio.timeout(_STOP_WAIT):
                await running.process.wait()
        except TimeoutError:
            pass
        finally:
            proc.kill(running.process.pid)
            await running.process.wait()
            if running.reader is not None:
                await running.reader

    async def _started(self) -> _Running:
        async with self._lock:
            if self._running is not None and not self._running.gone:
                return self._running
            program = await asyncio.to_thread(server.find)
            process = await proc.start(
                [str(program)], env=_environment(self.home), line_limit=_LINE_LIMIT
            )
            running = _Running(process)
            running.reader = asyncio.create_task(self._read(running), name="helm-helper")
            self._running = running
            return running

    def _send(self, running: _Running, request: dict[str, Any]) -> None:
        stdin = running.process.stdin
        if running.gone or stdin is None or stdin.is_closing():
            raise HelmFailed(f"the helm helper ended ({_ended(running)})")
        # Written at once (the pipe's buffer takes it; a request is a few KiB): no await
        # between the answer's registration and the request, so no answer is missed.
        stdin.write(json.dumps(request, separators=(",", ":")).encode() + b"\n")

    async def _read(self, running: _Running) -> None:
        """Answers, by id, until the helper ends; then whatever still waits fails."""
        process = running.process
        assert process.stdout is not None  # started with pipes
        tail = asyncio.create_task(_drain(running))
        try:
            while line := await process.stdout.readline():
                said = json.loads(line)
                waiting = running.waiting.get(int(said.get("id", 0)))
                if waiting is not None and not waiting.done():
                    waiting.set_result(said)
        except (ValueError, asyncio.LimitOverrunError) as err:
            log.warning("the helm helper wrote an unreadable answer: %s", type(err).__name__)
        finally:
            running.gone = True
            proc.kill(process.pid)
            await process.wait()
            await tail
            ended = _ended(running)
            for waiting in running.waiting.values():
                if not waiting.done():
                    waiting.set_exception(HelmFailed(f"the helm helper ended ({ended})"))
            if running.process.returncode not in (0, -9) or running.stderr:
                last = running.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
                log.warning("the helm helper ended (%s): %s", ended, " ".join(last))


async def _drain(running: _Running) -> None:
    stream = running.process.stderr
    assert stream is not None
    while chunk := await stream.read(65536):
        running.stderr = (running.stderr + chunk)[-_STDERR_TAIL:]


def _ended(running: _Running) -> str:
    code = running.process.returncode
    return "still running" if code is None else f"exit code {code}"


def message(stderr: str) -> str:
    """helm's error, on one line: from its first 'Error:' line on (helm continues a
    template error on indented lines), without warnings before it or hints after it."""
    lines = [line.strip() for line in stderr.splitlines()]
    start = next((i for i, line in enumerate(lines) if line.startswith("Error:")), None)
    if start is None:
        kept = [line for line in lines if line][-3:]
    else:
        kept = []
        for line in lines[start:]:
            if not line or line.startswith("Use --debug"):
                break
            kept.append(line)
    text = re.sub(r"^Error:\s*", "", " ".join(kept))
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 1] + "…"
    return text


def _environment(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "HELM_DRIVER": "secret",
        "KUBECONFIG": os.devnull,
    }
