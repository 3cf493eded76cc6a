"""The engine's wheel, built once per run for the tests that need it; a scratch directory
for a tree too large for the disk's pace."""

from __future__ import annotations

import fcntl
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hack.image.layers import scratch as scratch_dir

from tests.integration import controlplanes

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def engine_wheel(pytestconfig: pytest.Config) -> Path:
    """`python -m build --wheel` of this tree: the wheel test installs it, the image's two
    tests put it in the layer (`make image` builds the same bytes with `pip wheel`:
    hatchling's wheels are reproducible). Each built it apart, three builds of ~3 CPU-s;
    now the first pytest process of the run to ask builds it, under a lock in the run's
    directory, and the others find it there."""
    run = controlplanes.run_dir(pytestconfig)
    built = run / "engine-wheel"
    with open(run / "engine-wheel.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not built.is_dir():
            staging = Path(tempfile.mkdtemp(prefix="engine-wheel-", dir=run))
            done = subprocess.run(
                [sys.executable, "-m", "build", "--wheel", "--outdir", str(staging), str(REPO)],
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert done.returncode == 0, done.stderr[-3000:]
            staging.rename(built)
    (wheel,) = built.glob("kidp_gitops-*.whl")
    return wheel


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory removed after the test, in memory when there is room (as `make image`
    builds its tree: hack.image.layers.scratch): the image's unpacked tree, ~21,000 files,
    cost 15 s of kernel CPU on this machine's disk at times, 3 s in memory."""
    with tempfile.TemporaryDirectory(prefix="kidp-test-", dir=scratch_dir()) as directory:
        yield Path(directory)
