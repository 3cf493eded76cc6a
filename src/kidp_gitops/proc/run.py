"""Running a program: the one seam every caller goes through (git, helm, kustomize, gpg).

    done = await run(argv, env=…, timeout=…)        from the event loop
    done = run_sync(argv, env=…, timeout=…)         from a worker thread

The same rules for both:

- the program gets `env` and nothing of the engine's environment;
- it runs in a session of its own, and when the deadline passes, or the caller is
  cancelled, the whole process group is killed: git's ssh and remote helpers, kustomize's
  git clones, helm's plugins, not only the program itself;
- with `guard`, a `sandbox.Guard` watches the group's memory (and the size of stdout,
  which then goes to a file and is read only once bounded) and kills it past the limits;
- stderr is kept as its last `STDERR_TAIL` bytes, decoded, and passed through `scrub`
  (credentials in URLs, say) before anyone sees it.

`Finished` says how it ended; a caller turns a non-zero code into its own error.
`TimedOut` is raised past the deadline.

Tests substitute the seam instead of patching a caller's module globals:

    with substituted(lambda argv: slow_program):   # run this instead of what is asked
        ...
    with substituted(lambda argv: seen.append(argv) or argv):   # watch what starts
        ...

A substitute sees every argv a caller asks to run (async or in a thread, from any task)
and returns the argv to run instead; the rules above hold for what it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from kidp_gitops.proc import sandbox

STDERR_TAIL = 64 << 10

Substitute = Callable[[Sequence[str]], Sequence[str]]
"""Given the argv a caller asks to run, the argv to run instead (the same one to watch)."""

# Process-wide, not a context variable: the engine a test watches runs its reconciles in
# tasks (and their worker threads) started before the test, which a context variable set
# by the test would never reach. A tuple, replaced whole, so a thread reads it at once.
_substitutes: tuple[Substitute, ...] = ()


@contextlib.contextmanager
def substituted(substitute: Substitute) -> Iterator[None]:
    """Within the block, every program started goes through `substitute` first (after
    the ones already in place); it is removed on exit, whatever was added meanwhile."""
    global _substitutes
    _substitutes = (*_substitutes, substitute)
    try:
        yield
    finally:
        _substitutes = tuple(s for s in _substitutes if s is not substitute)


def _argv(argv: Sequence[str]) -> list[str]:
    for substitute in _substitutes:
        argv = substitute(argv)
    return list(argv)


@dataclass(frozen=True)
class Finished:
    code: int
    stdout: bytes
    stderr: str
    """The tail of what the program wrote to stderr, scrubbed."""
    exceeded: str | None = None
    """"memory" or "output" when the guard stopped it."""

    @property
    def ok(self) -> bool:
        return self.code == 0 and self.exceeded is None

    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")


class TimedOut(Exception):
    """The program did not finish within its time; it and its group were killed."""


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _spawn_args(
    env: Mapping[str, str],
    cwd: Path | str | None,
    stdin: bytes | None,
    out: IO[bytes] | None,
    devnull: int,
    pipe: int,
) -> dict[str, Any]:
    """What both spawns pass: the env whole, stdout to the bounded file when guarded, a
    session of its own (so the whole group can be killed)."""
    return {
        "cwd": cwd,
        "env": dict(env),
        "stdin": devnull if stdin is None else pipe,
        "stdout": out if out is not None else pipe,
        "stderr": pipe,
        "start_new_session": True,
    }


def _watch(pid: int, out: IO[bytes] | None, guard: bool) -> sandbox.Guard | None:
    if not guard:
        return None
    watch = sandbox.Guard(pid, output=out.fileno() if out else None)
    watch.start()
    return watch


def _finished(
    code: int | None,
    stdout: bytes | None,
    stderr: bytes | None,
    out: IO[bytes] | None,
    watch: sandbox.Guard | None,
    scrub: Callable[[str], str] | None,
) -> Finished:
    """How the run ended: stdout read only when within the output limit (which a program
    that ends between two of the guard's looks can pass), stderr's tail scrubbed."""
    exceeded = watch.exceeded if watch is not None else None
    if out is not None:
        if exceeded is None and os.fstat(out.fileno()).st_size > sandbox.LIMITS.output:
            exceeded = "output"
        if exceeded is None:
            out.seek(0)
            stdout = out.read()
        else:
            stdout = b""
    tail = (stderr or b"")[-STDERR_TAIL:].decode("utf-8", "replace")
    return Finished(
        -1 if code is None else code, stdout or b"", scrub(tail) if scrub else tail, exceeded
    )


async def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float,
    cwd: Path | str | None = None,
    stdin: bytes | None = None,
    guard: bool = False,
    scrub: Callable[[str], str] | None = None,
) -> Finished:
    """Run `argv` to its end, or kill its process group at `timeout` or cancellation."""
    if timeout <= 0:
        raise TimedOut
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(tempfile.TemporaryFile()) if guard else None
        proc = await _spawn(
            _argv(argv),
            _spawn_args(env, cwd, stdin, out, asyncio.subprocess.DEVNULL, asyncio.subprocess.PIPE),
        )
        watch = _watch(proc.pid, out, guard)
        try:
            async with asyncio.timeout(timeout):
                stdout, stderr = await proc.communicate(stdin)
        except BaseException as exc:  # the deadline, or the caller was cancelled
            _kill(proc.pid)
            await proc.wait()
            if isinstance(exc, TimeoutError):
                raise TimedOut from exc
            raise
        finally:
            if watch is not None:
                watch.stop()
        return _finished(proc.returncode, stdout, stderr, out, watch, scrub)


async def _spawn(argv: Sequence[str], kwargs: dict[str, Any]) -> asyncio.subprocess.Process:
    """Start the program. A cancellation that arrives while it starts lets the start finish
    and then kills the whole group: asyncio's own clean-up of a cancelled start kills only
    the direct child, leaves what it already started running, and waits for the pipes
    those grandchildren hold (a `sleep 30` under `sh` held a cancelled caller 30 s)."""
    spawn = asyncio.ensure_future(asyncio.create_subprocess_exec(*argv, **kwargs))
    try:
        return await asyncio.shield(spawn)
    except asyncio.CancelledError:
        while not spawn.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(spawn)
        if not spawn.cancelled() and spawn.exception() is None:
            proc = spawn.result()
            _kill(proc.pid)
            await proc.wait()
        raise


async def start(
    argv: Sequence[str], *, env: Mapping[str, str], line_limit: int
) -> asyncio.subprocess.Process:
    """Start a program that lives on and talks over pipes (the Helm helper), by the same
    rules as `run`: `env` only, a session of its own, substitutes applied. Its standard
    streams are pipes (`line_limit`: the longest line read from them); the caller ends
    it with `kill`."""
    kwargs: dict[str, Any] = {
        "env": dict(env),
        "stdin": asyncio.subprocess.PIPE,
        "stdout": asyncio.subprocess.PIPE,
        "stderr": asyncio.subprocess.PIPE,
        "start_new_session": True,
        "limit": line_limit,
    }
    return await _spawn(_argv(argv), kwargs)


def kill(pid: int) -> None:
    """Kill a program `start` started, and everything in its process group."""
    _kill(pid)


def run_sync(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float,
    cwd: Path | str | None = None,
    stdin: bytes | None = None,
    guard: bool = False,
    scrub: Callable[[str], str] | None = None,
) -> Finished:
    """`run` for a worker thread (never call it on the event loop)."""
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(tempfile.TemporaryFile()) if guard else None
        proc = stack.enter_context(
            subprocess.Popen(
                _argv(argv),
                **_spawn_args(env, cwd, stdin, out, subprocess.DEVNULL, subprocess.PIPE),
            )
        )
        watch = _watch(proc.pid, out, guard)
        try:
            stdout, stderr = proc.communicate(stdin, timeout=timeout)
        except BaseException as exc:
            _kill(proc.pid)
            proc.communicate()
            if isinstance(exc, subprocess.TimeoutExpired):
                raise TimedOut from exc
            raise
        finally:
            if watch is not None:
                watch.stop()
        return _finished(proc.returncode, stdout, stderr, out, watch, scrub)
