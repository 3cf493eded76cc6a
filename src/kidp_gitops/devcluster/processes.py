"""Starting, watching and stopping the control-plane processes by pid.

Processes run in their own session so they outlive `kidp dev cluster up`; they are found
again through the pids in the state file, checked against /proc so a reused pid is never
mistaken for (or killed as) one of ours.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path


def start(args: list[str], log: Path, cwd: Path, env: Mapping[str, str] | None = None) -> int:
    """Start `args` with our environment and `env` over it."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env={**os.environ, **env} if env else None,
            start_new_session=True,
        )
    # Popen returns as soon as exec begins; for a moment /proc still shows the old
    # command line. Wait for the new one so `alive` never mistakes a starting process
    # for a dead one.
    deadline = time.monotonic() + 2.0
    while proc.poll() is None and time.monotonic() < deadline:
        if alive(proc.pid, Path(args[0])):
            break
        time.sleep(0.001)
    return proc.pid


def _reap(pid: int) -> None:
    # Only our own children can be reaped; others are not zombies of ours.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def alive(pid: int, binary: Path) -> bool:
    """Whether `pid` is a live (not zombie) process running `binary` (as the program, or
    as the script an interpreter runs)."""
    _reap(pid)
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2]
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z" and os.fsencode(binary) in argv


def stop(pid: int, binary: Path, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; returns when the process is gone."""
    if not alive(pid, binary):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive(pid, binary):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + grace
        time.sleep(0.05)


def tail(log: Path, lines: int = 25) -> str:
    try:
        with open(log, errors="replace") as f:
            return "".join(deque(f, maxlen=lines)).rstrip() or "(empty log)"
    except FileNotFoundError:
        return "(no log written)"
