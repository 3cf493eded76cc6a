"""The engine's side of the Helm helper (`runner.Helper`) against the real
kidp-helm-server, without a cluster: what it refuses comes back as `HelmFailed` in one
line, it serves requests side by side, a deadline or a cancellation is passed on, a
helper that dies fails what waits on it (never hangs) and the next request starts
another, and closing it ends the process."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from kidp_gitops.helm import bounds, runner, suspicion
from kidp_gitops.proc import run as proc


def kubeconfig(server: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "k", "cluster": {"server": server}}],
        "users": [{"name": "k", "user": {"token": "not-a-secret"}}],
        "contexts": [{"name": "k", "context": {"cluster": "k", "user": "k"}}],
        "current-context": "k",
    }


# A cluster nothing listens on: requests that reach Kubernetes fail fast.
KUBECONFIG = kubeconfig("https://127.0.0.1:1")


@pytest.fixture
async def silent() -> AsyncIterator[dict[str, Any]]:
    """A kubeconfig of an API server that accepts connections and never answers: an
    action on it waits until it is cancelled."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield kubeconfig(f"http://127.0.0.1:{port}")
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_refusals_come_back_as_helms_one_line_errors(tmp_path: Path) -> None:
    helper = runner.Helper(tmp_path)
    try:
        with pytest.raises(runner.HelmFailed, match="unknown flag: --frobnicate"):
            await helper.run(["install", "web", "--frobnicate"], kubeconfig=KUBECONFIG, timeout=5)
        with pytest.raises(runner.HelmFailed, match="invalid cascade value \\(sideways\\)"):
            await helper.run(
                ["uninstall", "web", "--cascade", "sideways"], kubeconfig=KUBECONFIG, timeout=5
            )
        with pytest.raises(runner.HelmFailed, match=r"^INSTALLATION FAILED: "):
            await helper.run(
                ["install", "web", str(tmp_path / "no-chart")], kubeconfig=KUBECONFIG, timeout=5
            )
        # Several at once, each answered by its id.
        said = await asyncio.gather(
            *(helper.run([f"frob{i}", "web"], kubeconfig=KUBECONFIG, timeout=5) for i in range(5)),
            return_exceptions=True,
        )
        assert [str(e) for e in said] == [f'unknown command "frob{i}"' for i in range(5)]
        # What was answered is no longer held as read (that set would grow for ever).
        assert helper._running is not None
        assert not helper._running.read
    finally:
        await helper.close()


async def test_a_dead_helper_fails_what_waits_and_is_started_again(
    tmp_path: Path, silent: dict[str, Any]
) -> None:
    helper = runner.Helper(tmp_path)
    try:
        with pytest.raises(runner.HelmFailed, match="unknown command"):
            await helper.run(["frob", "web"], kubeconfig=KUBECONFIG, timeout=5)
        first = helper.pid
        assert first is not None
        waiting = asyncio.create_task(
            helper.run(["rollback", "web", "1"], kubeconfig=silent, timeout=300)
        )
        await asyncio.sleep(0.5)
        assert not waiting.done()
        os.kill(first, signal.SIGKILL)
        with pytest.raises(runner.HelmFailed, match="the helm helper ended"):
            await asyncio.wait_for(waiting, 30)
        with pytest.raises(runner.HelmFailed, match="unknown command"):
            await helper.run(["frob", "web"], kubeconfig=KUBECONFIG, timeout=5)
        assert helper.pid not in (None, first)
    finally:
        await helper.close()
    assert helper.pid is None


async def test_a_cancelled_caller_leaves_the_helper_serving(
    tmp_path: Path, silent: dict[str, Any]
) -> None:
    helper = runner.Helper(tmp_path)
    try:
        slow = asyncio.create_task(
            helper.run(["rollback", "web", "1"], kubeconfig=silent, timeout=300)
        )
        await asyncio.sleep(0.5)
        assert not slow.done()
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        pid = helper.pid
        with pytest.raises(runner.HelmFailed, match="unknown command"):
            await helper.run(["frob", "web"], kubeconfig=KUBECONFIG, timeout=5)
        assert helper.pid == pid
    finally:
        await helper.close()


async def test_closing_ends_the_process(tmp_path: Path) -> None:
    helper = runner.Helper(tmp_path)
    with pytest.raises(runner.HelmFailed):
        await helper.run(["frob", "web"], kubeconfig=KUBECONFIG, timeout=5)
    pid = helper.pid
    assert pid is not None
    await helper.close()
    assert helper.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_a_cancelled_install_restarts_the_helper_and_spares_the_others_its_blame(
    tmp_path: Path, silent: dict[str, Any]
) -> None:
    # Helm goes on with an install it was told to cancel, writing its storage late: the
    # helper is restarted instead, as a helm process was killed. What else ran there
    # fails as the helper's doing (HelperGone), not as its own action's failure.
    helper = runner.Helper(tmp_path)
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    try:
        install = asyncio.create_task(
            helper.run(["install", "web", str(chart)], kubeconfig=silent, timeout=300)
        )
        other = asyncio.create_task(
            helper.run(["rollback", "db", "1"], kubeconfig=silent, timeout=300)
        )
        await asyncio.sleep(0.5)
        first = helper.pid
        assert first is not None
        assert not install.done()
        assert not other.done()
        install.cancel()
        with pytest.raises(asyncio.CancelledError):
            await install
        with pytest.raises(runner.HelperGone, match="the helm helper ended"):
            await asyncio.wait_for(other, 30)
        with pytest.raises(ProcessLookupError):
            os.kill(first, 0)
        assert not helper.busy("default", "web")
        with pytest.raises(runner.HelmFailed, match="unknown command"):
            await helper.run(["frob", "web"], kubeconfig=KUBECONFIG, timeout=5)
        assert helper.pid not in (None, first)
    finally:
        await helper.close()


async def test_a_release_still_acted_on_is_refused_a_second_action(
    tmp_path: Path, silent: dict[str, Any]
) -> None:
    helper = runner.Helper(tmp_path)
    try:
        # A rollback ignores a cancel: the helper goes on with it after its caller left.
        first = asyncio.create_task(
            helper.run(["rollback", "web", "1", "--namespace", "a"], kubeconfig=silent, timeout=300)
        )
        await asyncio.sleep(0.5)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert helper.busy("a", "web")
        assert not helper.busy("b", "web")
        with pytest.raises(runner.ReleaseBusy, match=r"an action of a/web@.* is still running"):
            await helper.run(["uninstall", "web", "--namespace", "a"], kubeconfig=silent, timeout=5)
        # Another namespace's release of the same name is not held up.
        with pytest.raises(runner.HelmFailed) as other:
            await helper.run(
                ["uninstall", "web", "--namespace", "b"], kubeconfig=KUBECONFIG, timeout=5
            )
        assert not isinstance(other.value, runner.HelperGone)
    finally:
        await helper.close()


async def test_a_request_past_its_deadline_restarts_the_helper(
    tmp_path: Path, silent: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "GRACE", 0.5)
    helper = runner.Helper(tmp_path)
    try:
        # Late in the shared helper: not the release's failure (others may have starved
        # it), but it runs alone next, where a deadline counts.
        with pytest.raises(runner.HelperGone, match="did not finish within"):
            await helper.run(["rollback", "web", "1"], kubeconfig=silent, timeout=0.5)
        assert helper.suspected("default", "web", silent)
        with pytest.raises(runner.HelmFailed, match="unknown command"):
            await helper.run(["frob", "web"], kubeconfig=KUBECONFIG, timeout=5)
        assert not helper.busy("default", "web")
    finally:
        await helper.close()


def _reader(data: bytes, limit: int) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=limit)
    reader.feed_data(data)
    reader.feed_eof()
    return reader


async def test_an_answer_too_long_to_read_is_its_requests_alone() -> None:
    long = b'{"id":7,"error":"' + b"x" * 5000 + b'"}\n'
    reader = _reader(long + b'{"id":8,"output":"ok"}\n', limit=1024)
    head, whole = await runner._line(reader)
    assert not whole
    assert runner._attributed(head) == 7
    line, whole = await runner._line(reader)
    assert whole
    assert runner._attributed(line) == 8
    assert await runner._line(reader) == (b"", True)
    # A line that names no request cannot be blamed on one.
    assert runner._attributed(b'{"output":"?"}\n') is None
    assert runner._attributed(b'{"id":9,"outp\n') is None


# A stand-in for the helper's ends by its bounds (the real ones are proven on the real
# control plane, tests/integration/helm/test_helper_isolation.py): it says it read each
# request, as the helper does, and holds it unanswered until one for release "hog"
# comes, then exits as the helper does past its memory bound; for release "spin" it
# names the request and exits as past a render's bound. Alone (the CPU limit in its
# environment) it answers at once (after a while for "slow…", noting when in
# $HOME/alone), unless the request is the hog's or the spinner's (or asked by
# HelmRelease evil/hog, whatever release it names), or "killed"'s: then it is SIGKILLed
# as by the OOM killer; "clock" is answered with the clock its render's
# bound is read on.
_BOUNDED = r"""
import json, os, signal, sys, time
alone = "KIDP_HELM_SERVER_CPU_SECONDS" in os.environ
for line in sys.stdin:
    req = json.loads(line)
    print(json.dumps({"read": req["id"]}, separators=(",", ":")), flush=True)
    name = req.get("argv", ["", ""])[1]
    if name.startswith("hog") or req.get("owner", "").startswith("evil/hog@"):
        sys.exit(3)
    if name == "spin":
        print(f"kidp-helm-server: request {req['id']} rendered its chart's templates for longer"
              " than 10s", file=sys.stderr, flush=True)
        sys.exit(4)
    if alone and name.startswith("stuck"):
        time.sleep(3600)  # helm waits on resources that never become ready: no CPU
    if alone and name == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    if name == "oomed":  # the cgroup's OOM killer, as its memory.events count says
        with open(os.path.join(os.environ["HOME"], "cgroup", "memory.events"), "r+") as events:
            count = int(events.read().split()[-1]) + 1
            events.seek(0)
            events.write(f"oom 0\noom_kill {count}\n")
        os.kill(os.getpid(), signal.SIGKILL)
    if alone and name == "clock":
        clock = os.environ.get("KIDP_HELM_SERVER_RENDER_CLOCK", "wall")
        print(json.dumps({"id": req["id"], "output": clock}, separators=(",", ":")), flush=True)
        continue
    if alone:
        if name.startswith("slow"):
            with open(os.path.join(os.environ["HOME"], "alone"), "a") as log:
                log.write(f"+ {time.monotonic()}\n")
            time.sleep(0.5)
            with open(os.path.join(os.environ["HOME"], "alone"), "a") as log:
                log.write(f"- {time.monotonic()}\n")
        print(json.dumps({"id": req["id"], "output": "alone"}, separators=(",", ":")), flush=True)
"""


def _bounded(argv: Sequence[str]) -> Sequence[str]:
    return [sys.executable, "-u", "-c", _BOUNDED] if argv[0].endswith("kidp-helm-server") else argv


async def test_a_tenant_naming_another_tenants_release_makes_it_neither_busy_nor_suspect(
    tmp_path: Path,
) -> None:
    # Tenant A's HelmReleases (namespace evil) act on A's own cluster with
    # targetNamespace team-b and releaseName web: the name of tenant B's local release.
    remote = kubeconfig("https://tenant-a.example:6443")
    web = ["upgrade", "web", "c", "--namespace", "team-b"]
    helper = runner.Helper(tmp_path)
    try:
        with proc.substituted(_bounded):
            held = asyncio.create_task(
                helper.run(web, owner="evil/quiet", kubeconfig=remote, timeout=60)
            )
            await asyncio.sleep(0.2)
            assert helper.busy("evil", "quiet")
            assert not helper.busy("team-b", "web")  # B's own actions are not refused
            # A's chart passes the memory bound in the shared helper, then alone.
            with pytest.raises(runner.HelperGone, match="exit code 3"):
                await helper.run(web, owner="evil/hog", kubeconfig=remote, timeout=60)
            with pytest.raises(runner.HelperGone):
                await held
            assert helper.suspected("evil", "quiet", remote)
            assert not helper.suspected("team-b", "web", KUBECONFIG)
            with pytest.raises(runner.HelmFailed, match="memory bound") as failed:
                await helper.run(web, owner="evil/hog", kubeconfig=remote, timeout=60)
            assert not isinstance(failed.value, runner.HelperGone)
            # Found guilty: A's own namespace is confined, not the one it named.
            assert helper.suspected("evil", "next", KUBECONFIG)
            assert not helper.suspected("team-b", "web", KUBECONFIG)
            assert not helper.suspected("team-b", "api", KUBECONFIG)
    finally:
        await helper.close()


async def test_an_end_by_the_cgroups_oom_killer_is_blamed_as_the_memory_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    (cgroup / "memory.events").write_text("oom 0\noom_kill 0\n")
    (cgroup / "memory.max").write_text(f"{1 << 30}\n")
    monkeypatch.setattr(bounds, "CGROUP", cgroup)
    helper = runner.Helper(tmp_path)
    try:
        with proc.substituted(_bounded):
            held = asyncio.create_task(
                helper.run(["upgrade", "web", "c"], kubeconfig=KUBECONFIG, timeout=60)
            )
            await asyncio.sleep(0.2)
            with pytest.raises(runner.HelperGone, match="exit code -9"):
                await helper.run(["install", "oomed", "c"], kubeconfig=KUBECONFIG, timeout=60)
            with pytest.raises(runner.HelperGone):
                await held
            assert helper.ended == 1
            assert helper.suspected("default", "oomed", KUBECONFIG)
            with pytest.raises(runner.HelmFailed, match="exhausted the memory bound") as failed:
                await helper.run(["install", "oomed", "c"], kubeconfig=KUBECONFIG, timeout=60)
            assert not isinstance(failed.value, runner.HelperGone)
            # The bound said is the one sized from the cgroup's 1 GiB limit.
            assert f"({(1024 - 512) // 3} MiB)" in str(failed.value)
    finally:
        await helper.close()


async def test_a_suspect_waits_for_a_one_release_helper_a_bounded_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "SLOT_WAIT", 0.5)
    helper = runner.Helper(tmp_path)
    names = [f"stuck{i}" for i in range(runner.ALONE_AT_ONCE)]
    helper.suspicion.suspect(runner.identity(f"default/{n}", KUBECONFIG) for n in [*names, "web"])
    try:
        with proc.substituted(_bounded):
            stuck = [
                asyncio.create_task(
                    helper.run(["upgrade", n, "c"], kubeconfig=KUBECONFIG, timeout=86400)
                )
                for n in names
            ]
            await asyncio.sleep(0.3)
            with pytest.raises(runner.HelperGone, match="no helper for a suspect release"):
                await helper.run(["upgrade", "web", "c"], kubeconfig=KUBECONFIG, timeout=60)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
            # Their slots are free again: the next suspect is served.
            assert await helper.run(["upgrade", "web", "c"], kubeconfig=KUBECONFIG, timeout=60) == (
                "alone"
            )
    finally:
        await helper.close()


async def test_deadlines_passed_in_the_shared_helper_confine_their_namespace(
    tmp_path: Path, silent: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "GRACE", 0.2)
    helper = runner.Helper(tmp_path)
    try:
        # A tenant's releases, each new, each past its deadline in the shared helper.
        for i in range(suspicion.NAMESPACE_ENDS):
            assert not helper.suspected("t", f"late{i}", silent)
            with pytest.raises(runner.HelperGone, match="did not finish within"):
                await helper.run(
                    ["rollback", f"late{i}", "1", "-n", "t"], kubeconfig=silent, timeout=0.2
                )
        assert helper.suspected("t", "a-new-name", silent)
        assert not helper.suspected("u", "web", silent)
    finally:
        await helper.close()


def test_the_memory_bound_fits_in_the_cgroups_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bounds, "CGROUP", tmp_path)
    unlimited = bounds.memory(alone=False)
    (tmp_path / "memory.max").write_text("max\n")
    assert bounds.memory(alone=False) == unlimited
    (tmp_path / "memory.max").write_text(f"{2 << 30}\n")
    share = bounds.memory(alone=False)
    assert share * (1 + runner.ALONE_AT_ONCE) + bounds.ENGINE_HEADROOM <= 2 << 30
    (tmp_path / "memory.max").write_text(f"{256 << 20}\n")
    assert bounds.memory(alone=True) == bounds.MEMORY_FLOOR


async def test_the_releases_in_flight_when_the_helper_passes_a_bound_run_alone_next(
    tmp_path: Path,
) -> None:
    helper = runner.Helper(tmp_path)
    try:
        with proc.substituted(_bounded):
            held = [
                asyncio.create_task(
                    helper.run(["upgrade", name, "c"], kubeconfig=KUBECONFIG, timeout=60)
                )
                for name in ("web", "db")
            ]
            await asyncio.sleep(0.2)
            assert helper.ended == 0
            with pytest.raises(runner.HelperGone, match="exit code 3"):
                await helper.run(["install", "hog", "c"], kubeconfig=KUBECONFIG, timeout=60)
            for task in held:
                with pytest.raises(runner.HelperGone):
                    await task
            assert helper.ended == 1
            assert helper.suspected("default", "web", KUBECONFIG)
            assert helper.suspected("default", "hog", KUBECONFIG)

            # Each alone: the innocent answers and is no longer suspected...
            assert await helper.run(["upgrade", "web", "c"], kubeconfig=KUBECONFIG, timeout=60) == (
                "alone"
            )
            assert not helper.suspected("default", "web", KUBECONFIG)
            # ... the guilty fails with the reason, counted as its own failure, and
            # stays a suspect: its retries never reach the shared helper.
            for _ in range(2):
                with pytest.raises(runner.HelmFailed) as failed:
                    await helper.run(["install", "hog", "c"], kubeconfig=KUBECONFIG, timeout=60)
                assert not isinstance(failed.value, runner.HelperGone)
                assert "exhausted the memory bound of the helm helper (2048 MiB)" in str(
                    failed.value
                )
            assert helper.suspected("default", "hog", KUBECONFIG)
            assert helper.ended == 1
            assert helper.pid is None  # the shared helper was not started again
    finally:
        await helper.close()


async def test_only_a_render_within_the_bounds_clears_a_suspect(tmp_path: Path) -> None:
    helper = runner.Helper(tmp_path)
    try:
        with proc.substituted(_bounded):
            held = asyncio.create_task(
                helper.run(["upgrade", "web", "c"], kubeconfig=KUBECONFIG, timeout=60)
            )
            await asyncio.sleep(0.2)
            with pytest.raises(runner.HelperGone):
                await helper.run(["install", "hog", "c"], kubeconfig=KUBECONFIG, timeout=60)
            with pytest.raises(runner.HelperGone):
                await held
            # The remedy after a failure (an uninstall) is answered: still suspected.
            assert await helper.run(["uninstall", "web"], kubeconfig=KUBECONFIG, timeout=60) == (
                "alone"
            )
            assert helper.suspected("default", "web", KUBECONFIG)
            await helper.run(["upgrade", "web", "c"], kubeconfig=KUBECONFIG, timeout=60)
            assert not helper.suspected("default", "web", KUBECONFIG)
    finally:
        await helper.close()


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _in_flight_at_an_end(helper: runner.Helper, *names: str) -> None:
    """`names` (namespace/name) are in flight in the shared helper when a new "hog…"
    of namespace "h" ends it."""
    hog = f"hog{helper.ended or ''}"
    held = [
        asyncio.create_task(
            helper.run(
                ["upgrade", key.split("/")[1], "c", "--namespace", key.split("/")[0]],
                kubeconfig=KUBECONFIG,
                timeout=60,
            )
        )
        for key in names
    ]
    await asyncio.sleep(0.2)
    with pytest.raises(runner.HelperGone):
        await helper.run(["install", hog, "c", "-n", "h"], kubeconfig=KUBECONFIG, timeout=60)
    for task in held:
        with pytest.raises(runner.HelperGone):
            await task


async def test_a_render_past_its_bound_blames_only_the_request_the_helper_names(
    tmp_path: Path,
) -> None:
    helper = runner.Helper(tmp_path)
    try:
        with proc.substituted(_bounded):
            held = asyncio.create_task(
                helper.run(["upgrade", "web", "c", "-n", "a"], kubeconfig=KUBECONFIG, timeout=60)
            )
            await asyncio.sleep(0.2)
            with pytest.raises(runner.HelperGone, match="exit code 4"):
                await helper.run(
                    ["install", "spin", "c", "-n", "b"], kubeconfig=KUBECONFIG, timeout=60
                )
            with pytest.raises(runner.HelperGone):
                await held
            assert helper.ended == 1
            assert helper.suspected("b", "spin", KUBECONFIG)
            assert not helper.suspected("a", "web", KUBECONFIG)  # in flight, not named: innocent
    finally:
        await helper.close()


async def test_an_end_from_outside_convicts_no_one_alone(tmp_path: Path) -> None:
    helper = runner.Helper(tmp_path)
    try:
        with proc.substituted(_bounded):
            await _in_flight_at_an_end(helper, "t/killed")
            assert helper.suspected("t", "killed", KUBECONFIG)
            # Alone, a SIGKILL (an outside kill, the OOM killer) says nothing of it:
            # not its failure, still a suspect, its namespace not confined.
            with pytest.raises(runner.HelperGone, match="exit code -9"):
                await helper.run(
                    ["upgrade", "killed", "c", "-n", "t"], kubeconfig=KUBECONFIG, timeout=60
                )
            assert helper.suspected("t", "killed", KUBECONFIG)
            assert not helper.suspected("t", "other", KUBECONFIG)
    finally:
        await helper.close()


async def test_a_guilty_release_confines_its_namespace_for_a_while(tmp_path: Path) -> None:
    clock = _Clock()
    helper = runner.Helper(tmp_path, clock=clock)
    try:
        with proc.substituted(_bounded):
            await _in_flight_at_an_end(helper)
            with pytest.raises(runner.HelmFailed) as failed:
                await helper.run(
                    ["install", "hog", "c", "-n", "h"], kubeconfig=KUBECONFIG, timeout=60
                )
            assert not isinstance(failed.value, runner.HelperGone)
            # A new name in the guilty namespace runs alone: no second shared-helper end.
            assert helper.suspected("h", "hog-2", KUBECONFIG)
            with pytest.raises(runner.HelmFailed):
                await helper.run(
                    ["install", "hog", "c", "-n", "h"], kubeconfig=KUBECONFIG, timeout=60
                )
            assert (
                await helper.run(
                    ["install", "new", "c", "-n", "h"], kubeconfig=KUBECONFIG, timeout=60
                )
                == "alone"
            )
            assert helper.ended == 1
            assert not helper.suspected("other", "web", KUBECONFIG)
            clock.now += suspicion.BACKOFF + 1
            assert not helper.suspected("h", "new", KUBECONFIG)
            assert helper.suspected("h", "hog", KUBECONFIG)  # the guilty one until it renders alone
    finally:
        await helper.close()


async def test_a_release_struck_often_runs_alone_whatever_its_solo_run_shows(
    tmp_path: Path,
) -> None:
    clock = _Clock()
    helper = runner.Helper(tmp_path, clock=clock)
    upgrade = ["upgrade", "web", "c", "-n", "a"]
    try:
        with proc.substituted(_bounded):
            await _in_flight_at_an_end(helper, "a/web")
            assert await helper.run(upgrade, kubeconfig=KUBECONFIG, timeout=60) == "alone"
            assert not helper.suspected("a", "web", KUBECONFIG)  # once: innocent
            clock.now += suspicion.STRIKE_WINDOW / 2
            await _in_flight_at_an_end(helper, "a/web")
            assert await helper.run(upgrade, kubeconfig=KUBECONFIG, timeout=60) == "alone"
            assert helper.suspected("a", "web", KUBECONFIG)  # twice within the window: backed off
            clock.now += suspicion.BACKOFF + 1
            assert not helper.suspected("a", "web", KUBECONFIG)
    finally:
        await helper.close()


async def test_at_most_two_helpers_serve_a_release_alone_at_once(tmp_path: Path) -> None:
    helper = runner.Helper(tmp_path)
    names = [f"a/slow{i}" for i in range(4)]
    try:
        with proc.substituted(_bounded):
            await _in_flight_at_an_end(helper, *names)
            await asyncio.gather(
                *(
                    helper.run(
                        ["upgrade", key.split("/")[1], "c", "-n", "a"],
                        kubeconfig=KUBECONFIG,
                        timeout=60,
                    )
                    for key in names
                )
            )
    finally:
        await helper.close()
    at_once = most = 0
    for line in sorted(
        (tmp_path / "alone").read_text().splitlines(), key=lambda line: float(line.split()[1])
    ):
        at_once += 1 if line.startswith("+") else -1
        most = max(most, at_once)
    assert most == runner.ALONE_AT_ONCE


def _wait_exited(pid: int) -> None:
    """Until process `pid` has exited (a zombie, or reaped), without yielding to the
    event loop: the engine has not seen its end yet."""
    for _ in range(1000):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        except (FileNotFoundError, ProcessLookupError):  # reaped, maybe between open and read
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not exit")


async def test_a_request_sent_as_the_helper_died_is_not_blamed(
    tmp_path: Path, silent: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    helper = runner.Helper(tmp_path)
    try:
        held = asyncio.create_task(
            helper.run(["rollback", "held", "1"], kubeconfig=silent, timeout=300)
        )
        await asyncio.sleep(0.5)  # the helper read it, and waits on the silent server
        pid = helper.pid
        assert pid is not None
        assert not held.done()
        # Go's runtime ends the helper (exit 2, as a crash does: a dump of every
        # goroutine's stack after its reason) ...
        os.kill(pid, signal.SIGQUIT)
        _wait_exited(pid)
        # ... and a request is sent before the engine has seen that end.
        late = asyncio.create_task(
            helper.run(["rollback", "late", "1"], kubeconfig=silent, timeout=300)
        )
        with pytest.raises(runner.HelperGone, match="exit code 2"):
            await held
        with pytest.raises(runner.HelperGone):
            await late
        # Only what the helper read can have ended it.
        assert helper.suspected("default", "held", silent)
        assert not helper.suspected("default", "late", silent)
        # The reason Go gave is logged, not the last frame of a goroutine's stack.
        said = [r.getMessage() for r in caplog.records]
        ended = [m for m in said if m.startswith("the helm helper ended (exit code 2):")]
        assert ended == ["the helm helper ended (exit code 2): SIGQUIT: quit"]
    finally:
        await helper.close()


async def test_alone_a_renders_bound_is_cpu_time(tmp_path: Path) -> None:
    helper = runner.Helper(tmp_path)
    try:
        with proc.substituted(_bounded):
            await _in_flight_at_an_end(helper, "a/clock")
            said = await helper.run(
                ["upgrade", "clock", "c", "-n", "a"], kubeconfig=KUBECONFIG, timeout=60
            )
            assert said == "cpu"
    finally:
        await helper.close()
    # The shared helper's reads the clock: an overrun there only sends releases alone.
    assert "KIDP_HELM_SERVER_RENDER_CLOCK" not in runner._environment(tmp_path)
