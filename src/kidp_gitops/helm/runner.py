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
it. The helper died (or wrote what cannot be read, and is ended): every request in
flight fails with `HelperGone` (never hangs; not the release's failure, the caller
retries), and the next one starts a new helper. An answer too long to read fails its
own request only. The helper refuses a request for a release it still runs an action
of (`ReleaseBusy`, a `HelperGone`); `busy` says so before asking.

Helm does not stop an install or upgrade when cancelled (it goes on and writes its
storage late): they end by helm's own --timeout, and when the engine gives up on one
(its caller was cancelled, as when the engine stops) the helper is restarted — what
killing a helm process per action did. So is it when any request's deadline (helm's
timeout and `GRACE`) passes. Another cancelled request is cancelled in the helper. The
helper logs nothing of a request; the last line it wrote to standard error when it
ended is logged.

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


class HelperGone(HelmFailed):
    """The helper could not serve the request (it died, or was restarted): nothing the
    release did, so not its failure (a caller that counts failures tells it apart); the
    caller tries again later."""


class ReleaseBusy(HelperGone):
    """The helper still runs an earlier action of the release (one the engine gave up
    on): the release is left alone until it ends."""


# Actions that go on in the helper when cancelled and then write Helm's storage late:
# cancelling one restarts the helper. (Rollback, uninstall and test ignore a cancel too,
# but only one request of a release runs at a time, so theirs end by helm's timeout or
# the deadline, which restarts the helper for any action.)
_UNSTOPPABLE = frozenset({"install", "upgrade"})
_ACTIONS = frozenset({"install", "upgrade", "rollback", "uninstall", "test"})
"""The helper's commands, each on one release."""
_ID_PREFIX = re.compile(rb'^\{"id":(\d+)')


class _Running:
    """One started helper: its process and the requests waiting for an answer."""

    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.releases: dict[int, str] = {}
        """The release ("namespace/name") of each request not answered yet, including
        those given up on: the helper may still act on it."""
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
        running.releases[ident] = release_key(args)
        request = {"id": ident, "argv": args, "kubeconfig": kubeconfig}
        if chart_digest:
            request["chartDigest"] = chart_digest
        said: dict[str, Any] | None = None
        late = False
        try:
            self._send(running, request)
            async with asyncio.timeout(timeout + GRACE):
                said = await answer
        except TimeoutError as exc:
            late = True
            raise HelmFailed(f"helm {args[0]} did not finish within {timeout + GRACE:g}s") from exc
        finally:
            running.waiting.pop(ident, None)
            # Not answered: the deadline, or our caller was cancelled (which cancels
            # `answer` too, so its state does not tell).
            if said is None and not running.gone:
                if late or args[0] in _UNSTOPPABLE:
                    self._restart(running, f"gave up on helm {args[0]}")
                else:
                    with contextlib.suppress(HelperGone):
                        self._send(running, {"cancel": ident})
        assert said is not None  # answered, else raised above
        if said.get("busy"):
            raise ReleaseBusy(str(said.get("error", "the release is busy in the helm helper")))
        error = said.get("error")
        if error is not None:
            raise HelmFailed(message(f"Error: {error}") or f"helm {args[0]} failed")
        return str(said.get("output", ""))

    def busy(self, namespace: str, name: str) -> bool:
        """Whether the helper may still be acting on release `namespace/name`: a request
        for it is not answered yet (one given up on included)."""
        running = self._running
        key = f"{namespace}/{name}"
        return running is not None and not running.gone and key in running.releases.values()

    def _restart(self, running: _Running, why: str) -> None:
        """End the helper now (its reader fails what waits on it with `HelperGone`);
        the next request starts another."""
        if not running.gone:
            log.warning("restarting the helm helper: %s", why)
            running.gone = True
            proc.kill(running.process.pid)

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
            raise HelperGone(f"the helm helper ended ({_ended(running)})")
        # Written at once (the pipe's buffer takes it; a request is a few KiB): no await
        # between the answer's registration and the request, so no answer is missed.
        stdin.write(json.dumps(request, separators=(",", ":")).encode() + b"\n")

    async def _read(self, running: _Running) -> None:
        """Answers, by id, until the helper ends; then whatever still waits fails."""
        process = running.process
        assert process.stdout is not None  # started with pipes
        tail = asyncio.create_task(_drain(running))
        try:
            while True:
                line, whole = await _line(process.stdout)
                if not line:
                    break
                ident = _attributed(line)
                waiting = running.waiting.get(ident) if ident is not None else None
                if not whole or ident is None:
                    if ident is None:
                        # Nothing to blame it on: the helper is not to be trusted.
                        log.warning("the helm helper wrote an unreadable answer")
                        break
                    running.releases.pop(ident, None)
                    if waiting is not None and not waiting.done():
                        waiting.set_exception(
                            HelmFailed(f"helm's answer was longer than {_LINE_LIMIT} bytes")
                        )
                    continue
                running.releases.pop(ident, None)
                if waiting is not None and not waiting.done():
                    waiting.set_result(json.loads(line))
        finally:
            running.gone = True
            proc.kill(process.pid)
            await process.wait()
            await tail
            ended = _ended(running)
            running.releases.clear()
            for waiting in running.waiting.values():
                if not waiting.done():
                    waiting.set_exception(HelperGone(f"the helm helper ended ({ended})"))
            if running.process.returncode not in (0, -9) or running.stderr:
                last = running.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
                log.warning("the helm helper ended (%s): %s", ended, " ".join(last))


async def _line(stream: asyncio.StreamReader) -> tuple[bytes, bool]:
    """The next line (b"" at the end) and whether it is whole: of a line longer than
    the stream's limit, its start only, the rest read past."""
    try:
        return await stream.readuntil(b"\n"), True
    except asyncio.IncompleteReadError as err:
        return err.partial, True
    except asyncio.LimitOverrunError as err:
        head = await stream.readexactly(err.consumed)
    while True:  # past the rest of the long line
        try:
            await stream.readuntil(b"\n")
            return head[:64], False
        except asyncio.IncompleteReadError:
            return head[:64], False
        except asyncio.LimitOverrunError as err:
            await stream.readexactly(err.consumed)


def _attributed(line: bytes) -> int | None:
    """The id an answer starts with (the helper writes it first), if it can be read."""
    found = _ID_PREFIX.match(line)
    if found is None:
        return None
    if line.endswith(b"\n"):
        try:
            said = json.loads(line)
        except ValueError:
            return None
        return int(said["id"]) if isinstance(said, dict) and "id" in said else None
    return int(found.group(1))


def release_key(args: Sequence[str]) -> str:
    """ "namespace/name" of the release `helm <args>` acts on, as the helper reads it."""
    if len(args) < 2 or args[0] not in _ACTIONS or args[1].startswith("-"):
        return ""
    namespace = "default"
    for i, arg in enumerate(args[2:], start=2):
        if arg in ("--namespace", "-n") and i + 1 < len(args):
            namespace = args[i + 1]
        elif arg.startswith("--namespace="):
            namespace = arg.removeprefix("--namespace=")
    return f"{namespace}/{args[1]}"


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
