"""Processes are recognised by pid and program, so a reused pid is never ours."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from kidp_gitops.devcluster import processes


def test_a_started_process_is_alive_until_stopped(tmp_path: Path) -> None:
    sleep = Path(shutil.which("sleep") or "/bin/sleep")
    pid = processes.start([str(sleep), "60"], tmp_path / "sleep.log", tmp_path)
    assert processes.alive(pid, sleep)
    assert not processes.alive(pid, Path("/usr/bin/something-else"))
    processes.stop(pid, sleep, grace=5)
    assert not processes.alive(pid, sleep)


def test_a_process_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "stubborn.sh"
    script.write_text("#!/bin/sh\ntrap '' TERM\nwhile :; do sleep 0.1; done\n")
    script.chmod(0o755)
    pid = processes.start([str(script)], tmp_path / "s.log", tmp_path)
    time.sleep(0.2)
    began = time.monotonic()
    processes.stop(pid, script, grace=0.5)
    assert not processes.alive(pid, script)
    assert time.monotonic() - began < 5


def test_tail_returns_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert processes.tail(log, 3) == "line 97\nline 98\nline 99"
    assert processes.tail(tmp_path / "missing.log") == "(no log written)"


def test_a_process_is_alive_as_soon_as_start_returns(tmp_path: Path) -> None:
    # Right after exec begins /proc briefly shows the parent's command line; start()
    # must not return before the new one is visible.
    sleep = Path(shutil.which("sleep") or "/bin/sleep")
    for i in range(50):
        pid = processes.start([str(sleep), "30"], tmp_path / f"{i}.log", tmp_path)
        try:
            assert processes.alive(pid, sleep), f"start {i}"
        finally:
            processes.stop(pid, sleep, grace=5)


def test_a_process_gets_the_environment_asked_for_over_ours(tmp_path: Path) -> None:
    # How devcluster sets a component's Go runtime (GOGC) without touching the caller's.
    script = tmp_path / "env.sh"
    script.write_text('#!/bin/sh\necho "GOGC=$GOGC HOME=$HOME"\n')
    script.chmod(0o755)
    pid = processes.start([str(script)], tmp_path / "env.log", tmp_path, {"GOGC": "321"})
    deadline = time.monotonic() + 5
    while processes.alive(pid, script) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (tmp_path / "env.log").read_text() == f"GOGC=321 HOME={Path.home()}\n"
