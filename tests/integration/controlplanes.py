"""How many control planes one run of the integration suite starts, and why each.

Each start costs seconds and half a GiB; one shared control plane, a namespace per test,
is the rule. The exceptions, each for a reason, are the budget below; the test in
test_zz_control_planes.py fails when a run starts more.

A run may be spread over several pytest processes (`make test` runs three, pytest-xdist
workers): every start is written to a ledger file of the run that all of them share,
and the counting test, last in its process, first waits until the other processes have
finished (each leaves a mark in the run's directory when its session ends).
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path

import pytest

SHARED = "tests/integration/conftest.py"
BARE = "tests/integration/conftest.py/bare"


def budget(processes: int) -> Counter[str]:
    """The starts allowed in a run of `processes` pytest processes."""
    return Counter(
        {
            # The one every test shares (conftest.py: `cluster`): one per process. The
            # session's engine runs in the process's event loop (tests reach into it:
            # its manager, cache, ports, data directory, and `nothing_blocks_the_loop`
            # watches that loop) and acts on every namespace; two processes' engines on
            # one control plane would both reconcile, alert and write status for every
            # test's objects.
            SHARED: processes,
            # `bare_cluster`: engines a test starts itself (with lockdown flags, low build
            # limits, or stopped and restarted), where the session's engine would act too;
            # test_restart counts the API server's own requests; and (cli/conftest.py
            # `own_cluster`, which puts it back for the tests after) commands that change
            # the whole cluster — uninstall removes the CRDs; bootstrap writes flux-system,
            # whose Kustomization takes over kidp's CRDs, and syncs it. Its tests are two
            # xdist groups (conftest.py BARE_GROUPS: as one they were a chain longer than
            # the suite's goal), each run whole by one process: one start per process
            # that runs a group.
            BARE: min(processes, 2),
            # The control plane's own lifecycle: a failed start, and down stopping every
            # process.
            "tests/integration/test_devcluster.py": 2,
            # `kidp up` end to end: its own control plane is what it is about; with
            # `--clusters 2` (a remote cluster for spec.kubeConfig), two.
            "tests/integration/cli/test_up.py": 2,
            # `spec.kubeConfig`: the remote cluster a Kustomization and a HelmRelease
            # act on must be another API server than the engine's; `bare_cluster` is
            # not free for it: its tests stop and start engines of their own and
            # test_restart counts its API server's requests. One for the package (a
            # kubeconfig Secret, and workload identity: it trusts the shared one's
            # issuer), its tests one xdist group.
            "tests/integration/remote/conftest.py": 1,
            # The image run as a pod reconciles the example in flux-system, where the
            # session's engine and the bootstrap tests would act too.
            "tests/integration/install/test_image_pod.py": 1,
        }
    )


def run_dir(config: pytest.Config) -> Path:
    """The directory every process of this run shares: the run's base temporary
    directory (an xdist worker's own is inside it)."""
    base = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    return Path(base).parent if hasattr(config, "workerinput") else Path(base)


def processes(config: pytest.Config) -> list[str]:
    """The names of this run's pytest processes (xdist workers), or ["main"]."""
    if not hasattr(config, "workerinput"):
        return ["main"]
    count = int(config.workerinput["workercount"])
    return [f"gw{n}" for n in range(count)]


def this_process(config: pytest.Config) -> str:
    workerinput = getattr(config, "workerinput", None)
    return str(workerinput["workerid"]) if workerinput else "main"


def record(config: pytest.Config, caller: str) -> None:
    """One start, by the file (and fixture) that asked for it; with the process and the
    test, for the counting test's message. A line appended with O_APPEND is written
    whole, whichever process writes at the same time."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rpartition(" ")[0]
    line = f"{caller}\t{this_process(config)}\t{test}\n"
    fd = os.open(run_dir(config) / "control-plane-starts", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def started(config: pytest.Config) -> list[tuple[str, str, str]]:
    """Every start of this run so far: (caller, process, test)."""
    try:
        lines = (run_dir(config) / "control-plane-starts").read_text().splitlines()
    except FileNotFoundError:
        return []
    return [(fields[0], fields[1], fields[2]) for fields in (line.split("\t") for line in lines)]


def mark_finished(config: pytest.Config) -> None:
    """This process has run its last test (its session fixtures are stopped)."""
    (run_dir(config) / f"finished-{this_process(config)}").touch()


async def others_finished(config: pytest.Config, timeout: float) -> None:
    """Until every other process of the run has finished."""
    others = [p for p in processes(config) if p != this_process(config)]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        missing = [p for p in others if not (run_dir(config) / f"finished-{p}").exists()]
        if not missing:
            return
        if loop.time() > deadline:
            raise AssertionError(f"pytest processes {missing} did not finish in {timeout} s")
        await asyncio.sleep(0.5)
