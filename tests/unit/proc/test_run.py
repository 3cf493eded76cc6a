"""The one way programs run: output and exit code, the tail of stderr scrubbed, and a
deadline or a cancellation that kills everything the program started, not only it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from kidp_gitops.proc import sandbox
from kidp_gitops.proc.run import STDERR_TAIL, TimedOut, run, run_sync, substituted

ENV = {"PATH": os.environ["PATH"]}
# A program that starts a grandchild (as git starts ssh) and waits for it.
SPAWNS = 'sleep 30 & echo $! > "$1"; wait'


def alive(pid: int) -> bool:
    """Running (a killed orphan may stay a zombie until init reaps it: that is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


async def gone(pid: int) -> bool:
    for _ in range(50):  # the kernel reaps the orphan shortly after the kill
        if not alive(pid):
            return True
        await asyncio.sleep(0.02)
    return False


async def test_output_code_and_scrubbed_stderr() -> None:
    done = await run(
        ["sh", "-c", "echo out; echo 'token=hunter2 failed' >&2; exit 3"],
        env=ENV,
        timeout=10,
        scrub=lambda text: text.replace("hunter2", "***"),
    )
    assert (done.code, done.text(), done.stderr) == (3, "out\n", "token=*** failed\n")
    assert not done.ok


async def test_stderr_keeps_its_tail() -> None:
    done = await run(
        ["sh", "-c", f"head -c {STDERR_TAIL * 2} /dev/zero | tr '\\0' a >&2; echo end >&2"],
        env=ENV,
        timeout=10,
    )
    assert len(done.stderr) == STDERR_TAIL
    assert done.stderr.endswith("end\n")


async def test_a_deadline_kills_the_whole_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    with pytest.raises(TimedOut):
        await run(["sh", "-c", SPAWNS, "sh", str(pidfile)], env=ENV, timeout=1)
    assert await gone(int(pidfile.read_text()))


async def test_a_cancelled_caller_kills_the_whole_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    task = asyncio.create_task(run(["sh", "-c", SPAWNS, "sh", str(pidfile)], env=ENV, timeout=30))
    for _ in range(500):  # until the grandchild runs
        if pidfile.exists() and pidfile.read_text().strip():
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await gone(int(pidfile.read_text()))


@pytest.mark.parametrize("turns", range(1, 9))
async def test_a_caller_cancelled_while_the_program_starts_kills_the_group_at_once(
    tmp_path: Path, turns: int
) -> None:
    # Cancelled after a few turns of the loop: while asyncio still sets up the pipes, the
    # program may already have started its grandchild. asyncio's own clean-up left it
    # running and waited for the pipes it holds (the caller was held 30 s).
    pidfile = tmp_path / "pid"
    task = asyncio.create_task(run(["sh", "-c", SPAWNS, "sh", str(pidfile)], env=ENV, timeout=30))
    for _ in range(turns):
        await asyncio.sleep(0)
    task.cancel()
    async with asyncio.timeout(10):  # a hang, not a speed: the program would run 30 s
        with pytest.raises(asyncio.CancelledError):
            await task
    if pidfile.exists() and pidfile.read_text().strip():
        assert await gone(int(pidfile.read_text()))


def test_from_a_thread_the_same_rules(tmp_path: Path) -> None:
    assert run_sync(["cat"], env=ENV, timeout=10, stdin=b"in").stdout == b"in"
    pidfile = tmp_path / "pid"
    with pytest.raises(TimedOut):
        run_sync(["sh", "-c", SPAWNS, "sh", str(pidfile)], env=ENV, timeout=1)
    assert asyncio.run(gone(int(pidfile.read_text())))


@pytest.fixture
def small_output() -> Iterator[None]:
    previous = sandbox.configure(sandbox.Limits(output=64 << 10))
    yield
    sandbox.configure(previous)


@pytest.mark.usefixtures("small_output")
async def test_a_guarded_run_stops_at_the_output_limit() -> None:
    done = await run(["sh", "-c", "exec cat /dev/zero"], env=ENV, timeout=20, guard=True)
    assert done.exceeded == "output"
    assert done.stdout == b""
    assert not done.ok
    small = await run(["echo", "fits"], env=ENV, timeout=10, guard=True)
    assert (small.exceeded, small.text()) == (None, "fits\n")


async def test_a_substitute_runs_instead_and_is_gone_after_the_block() -> None:
    seen: list[list[str]] = []

    def watch(argv: Sequence[str]) -> Sequence[str]:
        seen.append(list(argv))
        return argv

    def instead(argv: Sequence[str]) -> Sequence[str]:
        return ["echo", "substituted", *argv[1:]]

    with substituted(watch), substituted(instead):
        done = await run(["printf", "asked"], env=ENV, timeout=10)
        threaded = await asyncio.to_thread(run_sync, ["printf", "asked"], env=ENV, timeout=10)
    assert (done.text(), threaded.text()) == ("substituted asked\n", "substituted asked\n")
    assert seen == [["printf", "asked"], ["printf", "asked"]]  # in the order they came
    assert (await run(["printf", "asked"], env=ENV, timeout=10)).text() == "asked"
    assert len(seen) == 2
