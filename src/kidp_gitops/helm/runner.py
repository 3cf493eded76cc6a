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
standard input; the helper says when it read one (`{"read": id}`) and its answer comes
back on standard output by the request's id. Requests run concurrently.

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

One chart must not take every tenant's actions down with it. A chart's templates run in
the helper, and Go cannot stop one of them: the helper ends itself when its memory
passes its bound or a render passes its time (`bounds`: capped by the operator, not the
tenant), and it may crash. A render past its time is named by the helper: only its
release becomes a suspect. Otherwise nothing tells which request did it, so blame is
found by isolation: every release in flight (a request the helper said it read: one sent
as it died did nothing there) becomes a suspect, and a suspect's next action runs in a
helper of its own (`_alone_run`: the same program for one request, with the shared
helper's memory bound, a CPU-time limit, and its render's bound in CPU time; at most
`ALONE_AT_ONCE` at once), which only the guilty one ends the same way. The guilty release
fails with the reason (`HelmFailed`, counted and remediated as any failed install or
upgrade), and stays a suspect: its retries never reach the shared helper again; every
release of its namespace runs alone for a while too. An innocent one's install or
upgrade answers; it goes back to the shared helper, retried once (`HelperGone`) — unless
it was struck too often (`suspicion` holds these rules, and `suspicionstore` keeps them
across restarts and leader changes). A release whose deadline passed in the shared
helper is a suspect too, its action ended with `HelperGone` (another tenant's render may
have starved it); a deadline counts as the release's failure only alone. A helper ended
from outside (a signal the engine did not send) blames no one, alone or shared; a SIGKILL
while the cgroup's count of OOM kills rose is the OOM killer's, blamed as the helper's
own memory bound (`bounds.oom_kills`).

Tests watch the actions asked for, as `proc.substituted` lets them watch programs:

    with watching(lambda argv: seen.append(argv)):   # every request's helm command line
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from kidp_gitops.helm import bounds, server
from kidp_gitops.helm.suspicion import Suspicion
from kidp_gitops.helm.suspicionstore import SuspicionStore, Unreadable
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
_RENDERING = _UNSTOPPABLE
"""The actions that render a chart's templates."""
_ACTIONS = frozenset({"install", "upgrade", "rollback", "uninstall", "test"})
"""The helper's commands, each on one release."""
ALONE_AT_ONCE = bounds.ALONE_AT_ONCE
SLOT_WAIT = 30.0
"""How long a suspect's action waits for one of the `ALONE_AT_ONCE` helpers before it is
given up (`HelperGone`: retried later), holding a worker meanwhile."""
_ID_PREFIX = re.compile(rb'^\{"id":(\d+)')
_READ = re.compile(rb'^\{"read":(\d+)\}\n$')
_HEADLINES = 8
"""Lines of Go's last words kept (`bounds.HEADLINES`), besides the tail of its stderr."""


class _Running:
    """One started helper: its process and the requests waiting for an answer."""

    def __init__(self, process: asyncio.subprocess.Process, *, alone: bool):
        self.process = process
        self.alone = alone
        """Serving one request of a suspect release, not every release."""
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.releases: dict[int, str] = {}
        """The `identity` (owner and cluster) of each request not answered yet, including
        those given up on: the helper may still act on it."""
        self.read: set[int] = set()
        """The requests the helper said it read: only these can have had a part in its end."""
        self.stderr = b""
        self.headlines: list[bytes] = []
        """The first lines of its standard error that say why Go ended it, if it did."""
        self.reader: asyncio.Task[None] | None = None
        self.gone = False
        self.ended_by_us = False
        """The engine ended it (a restart, `close`): no request's doing."""
        self.late: set[str] = set()
        """Releases whose deadline made the engine end it."""
        self.oom_kills = bounds.oom_kills()
        """The cgroup's count of OOM kills when it started: more at its end, with a
        SIGKILL, is the OOM killer's (its memory bound passed from outside)."""

    def oom_killed(self) -> bool:
        """Whether the OOM killer ended it: killed (not by the engine) while the
        cgroup's count of OOM kills rose."""
        if self.ended_by_us or self.process.returncode != -9 or self.oom_kills is None:
            return False
        now = bounds.oom_kills()
        return now is not None and now > self.oom_kills


class Helper:
    """The helm actions of one engine (its `home`), served by one helper process, and a
    suspect release's by a helper of its own."""

    def __init__(
        self,
        home: Path,
        *,
        render_max: float | None = None,
        clock: Callable[[], float] = time.time,
        store: SuspicionStore | None = None,
    ):
        self.home = home
        self.render_max = render_max
        """A cap on any render's bound other than the operator's (`bounds.render`)."""
        self._running: _Running | None = None
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self.suspicion = Suspicion(clock)
        """Which releases run alone (wall-clock `clock`: it is kept across processes)."""
        self._store = store
        """Where `suspicion` is kept (None: in memory only)."""
        self._kept = 0
        """`suspicion.changes` when it was last handed to the store."""
        self._alone_slots = asyncio.Semaphore(ALONE_AT_ONCE)
        self._alone: dict[int, tuple[str, _Running]] = {}
        self.ended = 0
        """How many times the shared helper ended under its requests by their doing
        (memory, a render past its bound, a crash, a deadline): each time, the releases
        in flight became suspects."""

    def suspected(
        self, namespace: str, name: str, kubeconfig: dict[str, Any] | None = None
    ) -> bool:
        """Whether the next action of HelmRelease `namespace/name` on the cluster of
        `kubeconfig` (None: on some cluster) runs in a helper of its own."""
        owner = f"{namespace}/{name}"
        if kubeconfig is not None:
            return self.suspicion.runs_alone(identity(owner, kubeconfig))
        keys = [f"{owner}@", *self.suspicion.suspects(f"{owner}@")]
        return any(self.suspicion.runs_alone(k) for k in keys)

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
        owner: str | None = None,
        chart_digest: str | None = None,
        max_response: int | None = None,
    ) -> str:
        """Run `helm <args>` for `owner` ("namespace/name" of the HelmRelease asking;
        None: the release's own namespace/name, for callers acting for no HelmRelease)
        (`kubeconfig`: the cluster and credentials it acts with; `max_response`: the
        largest response read from it, for a remote cluster)."""
        for watcher in _watchers:
            watcher(args)
        key = release_key(args)
        if key:
            key = identity(owner or key, kubeconfig)
        request: dict[str, Any] = {"argv": args, "kubeconfig": kubeconfig, "owner": key}
        if chart_digest:
            request["chartDigest"] = chart_digest
        if args and args[0] in _RENDERING:
            request["renderTimeout"] = bounds.render(timeout, self.render_max)
        if max_response:
            request["maxResponse"] = max_response
        if self._store is not None:
            try:
                await self._store.loaded(self.suspicion)
            except Unreadable as err:
                raise HelperGone(f"the helm helper's suspects: {err}") from err
        if key and self.suspicion.runs_alone(key):
            # Bounded: two suspects waiting on their resources for a long spec.timeout
            # hold both slots, and the others must not hold a worker each meanwhile.
            try:
                async with asyncio.timeout(SLOT_WAIT):
                    await self._alone_slots.acquire()
            except TimeoutError as exc:
                raise HelperGone(
                    f"no helper for a suspect release free within {SLOT_WAIT:g}s"
                    f" ({ALONE_AT_ONCE} serve one release each)"
                ) from exc
            try:
                said = await self._alone_run(key, request, timeout)
            finally:
                self._alone_slots.release()
        else:
            said = await self._shared_run(key, request, timeout)
        if said.get("busy"):
            raise ReleaseBusy(str(said.get("error", "the release is busy in the helm helper")))
        error = said.get("error")
        if error is not None:
            raise HelmFailed(message(f"Error: {error}") or f"helm {args[0]} failed")
        return str(said.get("output", ""))

    async def _shared_run(
        self, key: str, request: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """The request's answer from the shared helper."""
        running = await self._started()
        ident = next(self._ids)
        command = request["argv"][0]
        running.releases[ident] = key
        said: dict[str, Any] | None = None
        late = False
        try:
            said = await self._ask(running, ident, request, timeout)
            return said
        except TimeoutError as exc:
            # Late in the shared helper says nothing of the release (others' renders
            # may have starved it): a suspect, not a failure; alone, it counts.
            late = True
            raise HelperGone(
                f"helm {command} did not finish within {timeout + GRACE:g}s"
                " in the shared helm helper"
            ) from exc
        finally:
            # Not answered: the deadline, or our caller was cancelled (which cancels
            # the answer too, so its state does not tell).
            if said is None and not running.gone:
                if late:
                    running.late.add(key)
                    self._suspect({key})  # now: its caller retries at once
                    self._charge({key})
                    self._restart(running, f"helm {command} passed its deadline")
                elif command in _UNSTOPPABLE:
                    self._restart(running, f"gave up on helm {command}")
                else:
                    with contextlib.suppress(HelperGone):
                        self._send(running, {"cancel": ident})

    async def _alone_run(self, key: str, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        """The request's answer from a helper of its own, which ends with it. A helper
        that ends before it answers by one of its bounds fails the request with the
        reason: the release did it, and its namespace runs alone for `BACKOFF`. Any
        other end blames no one (`HelperGone`). An answered install or upgrade clears
        the suspicion, unless the release was struck too often (`STRIKES`)."""
        env = {
            **_environment(self.home, bounds.memory(alone=True)),
            "KIDP_HELM_SERVER_CPU_SECONDS": str(bounds.cpu_seconds()),
            **bounds.ALONE_RENDER_CLOCK,
        }
        running = await self._start(env, alone=True)
        ident = next(self._ids)
        self._alone[ident] = (key, running)
        running.releases[ident] = key
        command = request["argv"][0]
        said: dict[str, Any] | None = None
        try:
            said = await self._ask(running, ident, request, timeout)
        except TimeoutError as exc:
            raise HelmFailed(f"helm {command} did not finish within {timeout + GRACE:g}s") from exc
        except HelperGone as exc:
            if running.reader is not None:
                await running.reader  # the process's end is known once it returns
            code, words = running.process.returncode, _last_words(running)
            if running.oom_killed():
                code = bounds.EXIT_MEMORY  # the cgroup's limit: as past its own bound
            if (
                running.ended_by_us
                or ident not in running.read  # it ended before the request was read
                or not bounds.convicts(code, words)
            ):
                raise  # the engine stops, or a kill from outside: not the release's doing
            self._confine(key)
            raise HelmFailed(bounds.verdict(code, words, request)) from exc
        finally:
            self._alone.pop(ident, None)
            if said is None and not running.gone:  # the deadline, or our caller left
                running.ended_by_us = True
                proc.kill(running.process.pid)
            await self._end(running)
        if command in _RENDERING:
            # Its chart rendered and the action ended within the bounds: innocent, unless
            # struck too often. (An uninstall or rollback says nothing of its templates.)
            self._acquit(key)
        return said

    async def _ask(
        self, running: _Running, ident: int, request: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """Send the request to `running` and wait for its answer, at most helm's timeout
        and `GRACE` (TimeoutError)."""
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        running.waiting[ident] = answer
        try:
            self._send(running, {"id": ident, **request})
            async with asyncio.timeout(timeout + GRACE):
                return await answer
        finally:
            running.waiting.pop(ident, None)

    def busy(self, namespace: str, name: str) -> bool:
        """Whether a helper may still be acting for HelmRelease `namespace/name` (on any
        cluster): a request of it is not answered yet (one given up on included)."""
        prefix = f"{namespace}/{name}@"
        running = self._running
        if (
            running is not None
            and not running.gone
            and any(k.startswith(prefix) for k in running.releases.values())
        ):
            return True
        return any(k.startswith(prefix) and not r.gone for k, r in self._alone.values())

    def _suspect(self, keys: set[str]) -> None:
        """`keys` were in flight at an end of the shared helper: each runs alone next."""
        self.suspicion.suspect(keys)
        self._keep()

    def _charge(self, keys: set[str]) -> None:
        """`keys` alone ended the shared helper (a render named, a deadline passed):
        counted against their namespaces, which too many such ends confine."""
        for key in keys:
            self.suspicion.charge(key)
        self._keep()

    def _acquit(self, key: str) -> None:
        """`key` answered an install or upgrade alone: back to the shared helper, unless
        it was struck too often."""
        self.suspicion.acquit(key)
        self._keep()

    def _confine(self, key: str) -> None:
        """`key` was found guilty: every release of its namespace runs alone a while."""
        self.suspicion.confine(key)
        self._keep()

    def _keep(self) -> None:
        """Have the store keep the suspicion when it changed since last time."""
        if self._store is not None and self.suspicion.changes != self._kept:
            self._kept = self.suspicion.changes
            self._store.changed(self.suspicion)

    def _restart(self, running: _Running, why: str) -> None:
        """End the helper now (its reader fails what waits on it with `HelperGone`);
        the next request starts another."""
        if not running.gone:
            log.warning("restarting the helm helper: %s", why)
            running.gone = True
            running.ended_by_us = True
            proc.kill(running.process.pid)

    async def close(self) -> None:
        """End the helpers: the shared one's input closed, it cancels what runs and
        exits (killed with its process group if it does not within a few seconds);
        the ones serving a release alone are killed."""
        async with self._lock:
            running, self._running = self._running, None
        for _, alone in list(self._alone.values()):
            alone.ended_by_us = True
            proc.kill(alone.process.pid)
        if running is not None:
            await self._end(running)
        if self._store is not None:
            await self._store.close()

    async def _end(self, running: _Running) -> None:
        """Close the helper's input (written out first), give it `_STOP_WAIT` to exit,
        then kill its process group; its reader has finished on return."""
        running.ended_by_us = running.ended_by_us or not running.gone
        stdin = running.process.stdin
        if stdin is not None and not stdin.is_closing():
            with contextlib.suppress(ConnectionError):
                await stdin.drain()
            stdin.close()
            with contextlib.suppress(ConnectionError):
                await stdin.wait_closed()
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
            env = _environment(self.home)
            self._running = await self._start(env, alone=False)
            return self._running

    async def _start(self, env: dict[str, str], *, alone: bool) -> _Running:
        program = await asyncio.to_thread(server.find)
        process = await proc.start([str(program)], env=env, line_limit=_LINE_LIMIT)
        running = _Running(process, alone=alone)
        running.reader = asyncio.create_task(self._read(running), name="helm-helper")
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
                read = _READ.match(line)
                if read is not None:
                    running.read.add(int(read.group(1)))
                    continue
                ident = _attributed(line)
                waiting = running.waiting.get(ident) if ident is not None else None
                if not whole or ident is None:
                    if ident is None:
                        # Nothing to blame it on: the helper is not to be trusted.
                        log.warning("the helm helper wrote an unreadable answer")
                        break
                    running.releases.pop(ident, None)
                    running.read.discard(ident)
                    if waiting is not None and not waiting.done():
                        waiting.set_exception(
                            HelmFailed(f"helm's answer was longer than {_LINE_LIMIT} bytes")
                        )
                    continue
                running.releases.pop(ident, None)
                running.read.discard(ident)  # answered: no part in an end; kept bounded
                if waiting is not None and not waiting.done():
                    waiting.set_result(json.loads(line))
        finally:
            running.gone = True
            proc.kill(process.pid)
            await process.wait()
            await tail
            ended = _ended(running)
            if not running.alone:
                self._blame(running)
            running.releases.clear()
            for waiting in running.waiting.values():
                if not waiting.done():
                    waiting.set_exception(HelperGone(f"the helm helper ended ({ended})"))
            if running.process.returncode not in (0, -9) or running.stderr:
                log.warning("the helm helper ended (%s): %s", ended, _why(running))

    def _blame(self, running: _Running) -> None:
        """The shared helper ended: when by a request's doing, the releases in flight
        (or the one past its deadline) become suspects."""
        code = running.process.returncode
        if running.late:
            suspects = set()  # suspected and charged as their deadline passed
        elif not running.ended_by_us and (code in bounds.BLAMED or running.oom_killed()):
            # A request the helper never said it read (sent as it died) did nothing there.
            suspects = {k for i, k in running.releases.items() if i in running.read}
            overran = bounds.overran(running.stderr) if code == bounds.EXIT_RENDER else None
            if overran is not None and running.releases.get(overran):
                # The helper named the request whose render passed its bound: only its
                # release did it.
                suspects = {running.releases[overran]}
                self._charge(suspects)
        else:
            return  # ended by the engine, or from outside: no request's doing
        self.ended += 1
        self._suspect(suspects)
        suspects |= running.late
        log.warning(
            "the helm helper ended (%s) under %d release(s); each runs alone next: %s",
            _ended(running),
            len(suspects),
            ", ".join(sorted(k for k in suspects if k)),
        )


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


def identity(owner: str, kubeconfig: dict[str, Any]) -> str:
    """What suspects, strikes and the helper's busy refusals are keyed by: the HelmRelease
    asking ("namespace/name", whose namespace is confined when it is found guilty) on
    one cluster ("@" and a hash of its API servers). Never the target release's name: a
    tenant may name another tenant's release (targetNamespace, releaseName) and must not
    make it busy, suspect or confined."""
    servers = sorted(
        str((c.get("cluster") or {}).get("server", ""))
        for c in kubeconfig.get("clusters") or []
        if isinstance(c, dict)
    )
    cluster = hashlib.sha256("\n".join(servers).encode()).hexdigest()[:12]
    return f"{owner}@{cluster}"


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
    """The helper's standard error: its tail, and the first lines that say why Go ended
    it (a crash prints them before every goroutine's stack, far past the tail)."""
    stream = running.process.stderr
    assert stream is not None
    start = b""  # of the line not ended yet, cut
    while chunk := await stream.read(65536):
        running.stderr = (running.stderr + chunk)[-_STDERR_TAIL:]
        if len(running.headlines) < _HEADLINES:
            *lines, rest = (start + chunk).split(b"\n")
            start = rest[: bounds.HEADLINE_BYTES]
            for line in lines:
                if bounds.headline(line) and len(running.headlines) < _HEADLINES:
                    running.headlines.append(line[: bounds.HEADLINE_BYTES])
    if start and bounds.headline(start) and len(running.headlines) < _HEADLINES:
        running.headlines.append(start)


def _last_words(running: _Running) -> bytes:
    """What the helper said last: Go's headlines, then the tail of its standard error."""
    return b"".join(h + b"\n" for h in running.headlines) + running.stderr


def _why(running: _Running) -> str:
    """The line logged of a helper's end: Go's reason for a crash (a goroutine's stack
    frame says nothing), else the last line it wrote (its own bound's words)."""
    if running.process.returncode == bounds.EXIT_CRASH:
        said = bounds.crash(running.headlines)
        if said is not None:
            return said
    last = running.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
    return " ".join(last)


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


def _environment(home: Path, memory: int | None = None) -> dict[str, str]:
    """The helper's environment: its helm home and its memory bound (the shared
    helper's unless `memory`), nothing of the engine's."""
    if memory is None:
        memory = bounds.memory(alone=False)
    return {
        "KIDP_HELM_SERVER_MEMORY_LIMIT": str(memory),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "HELM_DRIVER": "secret",
        "KUBECONFIG": os.devnull,
    }
