"""Fixtures over one real local control plane per test run.

The control plane is started once (`cluster`), in a state directory of its own so a
developer's `kidp up` cluster is never touched, and stopped at the end of the run. Each
test that needs isolation gets a fresh namespace (`namespace`), deleted afterwards.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kidp_gitops.cli.main import app
from kidp_gitops.dashboard import DashboardApp
from kidp_gitops.devcluster import AlreadyRunning, DevCluster
from kidp_gitops.engine.run import Engine, EngineOptions
from kidp_gitops.kube import KubeClient, load_config, service_account_user
from kidp_gitops.runtime import outbound
from tests.gitserver.fixtures import (
    git_repos,
    http_git,
    https_git,
    mtls_git,
    ssh_git,
    unique_repo,
)
from tests.integration import blocking, controlplanes, namespaces
from tests.integration.engines import SUITE_LIMITS, Engines

__all__ = ["git_repos", "http_git", "https_git", "mtls_git", "ssh_git", "unique_repo"]


# First among the hooks that change the items: xdist's own (which reads the group marks
# added here) runs after it.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)
        # One process runs every test of a `bare_cluster` group, so at most one process
        # per group starts it (with `make test`'s `--dist loadgroup`, as
        # tests/integration/groups.py schedules it).
        if "bare_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group(bare_group(item)))
        # Likewise the remote control plane of tests/integration/remote/.
        if "remote_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("remote-cluster"))
    # A control plane costs CPU while it runs, idle too, and a session fixture runs until
    # the session ends: so, in one process, first the tests that need none, then those of
    # the shared one, then those of `bare_cluster` (started by the first of them) — first
    # among them the CLI tests that change the whole cluster (cli/conftest.py
    # `own_cluster`), on the fresh control plane they were written for — and test_zz
    # last of all. Spread over processes (xdist hands out the items in this order), the
    # `bare_cluster` groups, the longest pieces of work, go first, one to each process
    # (the first group, with `own_cluster`'s tests, to the first: its control plane is
    # fresh), then the long tests of their own, longest first, while the other processes
    # start on the shared control plane's tests.
    if hasattr(config, "workerinput"):
        items.sort(key=_spread_phase)
        from tests.integration import groups  # xdist's, so only where it runs

        groups.write(controlplanes.run_dir(config), items)
    else:
        items.sort(key=_phase)


def _phase(item: pytest.Item) -> int:
    if "tests/integration/" not in str(item.path):
        return 0
    if item.path.name.startswith("test_zz"):
        return 4
    fixtures = getattr(item, "fixturenames", ())
    if "own_cluster" in fixtures:
        return 2
    return 3 if "bare_cluster" in fixtures else 1


# `bare_cluster`'s tests in two groups, each run whole by one process: as one they were a
# chain of work longer than the whole suite's goal (4 minutes). A process starts the bare
# control plane of its own for the groups it runs, so a run starts at most two
# (controlplanes.py). Each group's tests stop and start engines of their own and need no
# other engine acting, which holds in a process of its own: a process runs one test at
# a time. The host processes of an install (install/) are one group; the engines in the
# test's process and the commands that change the whole cluster (`own_cluster`) the other.
BARE_GROUPS = ("bare-cluster", "bare-cluster-processes")


def bare_group(item: pytest.Item) -> str:
    return BARE_GROUPS[1] if item.path.parent.name == "install" else BARE_GROUPS[0]


# Long tests of their own (seconds on a quiet machine), handed out first after the bare
# groups, longest first: started last, one of them would be the run's tail.
LONG = {
    "test_image_reproducible.py": 60,  # the layer built again, compared to the byte
    "test_image_pod.py": 35,  # the image's layer (cached by its inputs) run as a pod
    "test_wheel.py": 15,  # the run's wheel installed in a fresh venv
    "test_up.py": 35,  # `kidp up --clusters 2` end to end
    "test_workload_identity.py": 20,  # the remote group (remote/): its control plane
    "test_kubeconfig_secret.py": 20,
    "test_devcluster.py": 10,  # starts and stops control planes of its own
    # Tests of the shared control plane that wait for long (a render's bound, a retry's
    # interval, a restart): one of them last in a process left the others idle.
    "test_helper_isolation.py": 30,  # an endless render four times, a memory bomb
    "test_strategy.py": 25,
    "test_release_sync.py": 25,
    "test_informer.py": 15,  # the API server restarted
    "test_controlplane.py": 10,  # a namespace deleted: kube-controller-manager waits 5 s
}


def _spread_phase(item: pytest.Item) -> tuple[float, float]:
    phase = _phase(item)
    if phase in (2, 3):
        # The first group first, `own_cluster`'s tests first in it.
        return (-2 if bare_group(item) == BARE_GROUPS[0] else -1, phase)
    if phase == 1 and item.path.name in LONG:
        return (0, -LONG[item.path.name])
    return (phase, 0)


def pytest_sessionfinish(session: pytest.Session) -> None:
    controlplanes.mark_finished(session.config)


@pytest.fixture(scope="session", autouse=True)
def count_control_planes(pytestconfig: pytest.Config) -> Iterator[None]:
    """Every DevCluster start of this run, counted by the file that asked for it
    (tests/integration/controlplanes.py holds the budget). Wraps the real `up`."""
    real = DevCluster.up
    root = str(repo_root()) + "/"

    def counted(self: DevCluster, *args: Any, **kwargs: Any) -> Any:
        # The test or fixture that asked, directly or through kidp's code (`kidp up`):
        # read now, since up() runs later, maybe in another thread's loop.
        frame = sys._getframe(1)
        while frame.f_back is not None and not frame.f_code.co_filename.startswith(root + "tests/"):
            frame = frame.f_back
        caller = frame.f_code.co_filename.removeprefix(root)
        if "bare-cluster" in str(self.dir):
            caller += "/bare"

        async def run() -> Any:
            try:
                result = await real(self, *args, **kwargs)
            except AlreadyRunning:
                raise  # found running: nothing started
            except BaseException:
                controlplanes.record(pytestconfig, caller)  # a failed start is a start
                raise
            controlplanes.record(pytestconfig, caller)
            return result

        return run()

    DevCluster.up = counted  # type: ignore[method-assign]
    try:
        yield
    finally:
        DevCluster.up = real  # type: ignore[method-assign]


@pytest.fixture(scope="session", autouse=True)
def watch_the_event_loop() -> Iterator[None]:
    """Tree work (archives, copies, deletes, walks) done by kidp on the event loop."""
    restore = blocking.install()
    yield
    restore()


@pytest.fixture(autouse=True)
def nothing_blocks_the_loop(watch_the_event_loop: None) -> Iterator[None]:
    """Fails a test during which kidp's code ran tree work on the event loop that every
    controller shares (the engine runs in the tests' loop)."""
    blocking.take()
    yield
    found = blocking.take()
    assert not found, "blocking calls on the event loop:\n" + "\n".join(found)


@pytest.fixture(scope="session")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DevCluster]:
    # Without the audit log: the tests that ask it who wrote an object (install/, through
    # tests/integration/audit.py) run on `bare_cluster`, and keeping it cost the API
    # server about a third of its CPU per request (bench/RESULTS.md, `no-audit`).
    dev = DevCluster(tmp_path_factory.mktemp("devcluster"), audit=False)
    await dev.up()
    try:
        yield dev
    finally:
        dev.down()


@pytest.fixture(scope="session")
async def kube(cluster: DevCluster) -> AsyncIterator[KubeClient]:
    async with KubeClient(await load_config(cluster.kubeconfig)) as client:
        yield client


@pytest.fixture(scope="session")
def installed(cluster: DevCluster) -> DevCluster:
    """The cluster with kidp's CRDs and RBAC installed (`kidp install`), once per run."""
    result = CliRunner().invoke(
        app, ["install", "--without-controllers", f"--kubeconfig={cluster.kubeconfig}"]
    )
    assert result.exit_code == 0, result.output
    return cluster


@pytest.fixture(scope="session", autouse=True)
async def outbound_closed() -> AsyncIterator[None]:
    """Tests that call a registry or provider client directly send through the
    process's default outbound HTTP owner: it is closed with the test loop."""
    yield
    await outbound.current().close()


@pytest.fixture(scope="session")
async def engine(
    installed: DevCluster, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Engine]:
    """The engine running in the test loop against the cluster, for the whole run."""
    eng = Engine(
        EngineOptions(
            data_dir=tmp_path_factory.mktemp("engine"),
            kubeconfig=str(installed.kubeconfig),
            metrics_port=0,
            artifact_port=0,
            build_limits=SUITE_LIMITS,
        ),
        apps=[DashboardApp()],
    )
    task = asyncio.create_task(eng.run())
    await eng.wait_ready(60)
    yield eng
    eng.stop()
    await asyncio.wait_for(task, 60)


@pytest.fixture
async def namespace(kube: KubeClient) -> AsyncIterator[str]:
    async with namespaces.temporary(kube) as name:
        yield name


@pytest.fixture
def as_service_account(kube: KubeClient) -> Callable[[str, str], KubeClient]:
    """`as_service_account(ns, name)` → a client acting as that service account."""

    def make(namespace: str, name: str) -> KubeClient:
        return kube.impersonate(service_account_user(namespace, name))

    return make


# ---- a second control plane for the tests that run engines of their own ---------------
#
# The session's engine watches every namespace of the shared control plane: it would act
# on the objects of a test that stops its engine to simulate a restart, or that needs an
# engine with other flags (tenancy lockdown); test_restart counts the API server's own
# requests, which the session's engine and the namespaces other tests delete would add
# to. The CLI tests of commands that change the whole cluster (bootstrap, uninstall:
# cli/conftest.py `own_cluster`) use it too, and put it back as it was. Those tests use
# `bare_cluster` — kidp's CRDs and RBAC, and no engine but the ones they start.
@pytest.fixture(scope="session")
async def bare_cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DevCluster]:
    dev = DevCluster(tmp_path_factory.mktemp("bare-cluster"))
    await dev.up()
    try:
        await install_crds(dev)
        yield dev
    finally:
        dev.down()


@pytest.fixture(autouse=True)
def bare_cluster_stops_after_its_group(request: pytest.FixtureRequest) -> Iterator[None]:
    """`bare_cluster` stops after the last test of this process that needs it, not at the
    end of the session: its groups go first in a run (`_spread_phase`), and an idle
    control plane still costs ~1.6 CPU-s a minute (its leases, watches and controllers)
    for the minutes the process goes on with the shared control plane's tests. Autouse,
    so torn down after the test's other fixtures (its engines, its namespaces)."""
    yield
    if "bare_cluster" in request.fixturenames and not bare_cluster_used_later(request):
        request.getfixturevalue("bare_cluster").down()


def bare_cluster_used_later(request: pytest.FixtureRequest) -> bool:
    """Whether this process runs a test that needs `bare_cluster` after this one. Spread
    over processes, each of the two groups runs whole in one, and the two in different
    ones: they are the first two pieces of work xdist hands out, one to each process
    (tests/integration/groups.py), so only this test's group counts."""
    items = request.session.items
    later = items[items.index(request.node) + 1 :]
    workers = getattr(request.config, "workerinput", {}).get("workercount", 1)
    group = bare_group(request.node) if int(workers) > 1 else None
    return any(
        "bare_cluster" in getattr(item, "fixturenames", ()) and group in (None, bare_group(item))
        for item in later
    )


async def install_crds(dev: DevCluster) -> None:
    """`kidp install --without-controllers` (its own event loop, so in a worker thread)."""
    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["install", "--without-controllers", f"--kubeconfig={dev.kubeconfig}"],
    )
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="session")
async def bare_kube(bare_cluster: DevCluster) -> AsyncIterator[KubeClient]:
    async with KubeClient(await load_config(bare_cluster.kubeconfig)) as client:
        yield client


@pytest.fixture
async def bare_namespace(bare_kube: KubeClient) -> AsyncIterator[str]:
    async with namespaces.temporary(bare_kube) as name:
        yield name


@pytest.fixture
async def bare_other_namespace(bare_kube: KubeClient) -> AsyncIterator[str]:
    """A second tenant's namespace on `bare_cluster`."""
    async with namespaces.temporary(bare_kube) as name:
        yield name


@pytest.fixture
async def engines(bare_cluster: DevCluster, tmp_path: Path) -> AsyncIterator[Engines]:
    """Start and stop engines on `bare_cluster`; whatever still runs stops at the end."""
    running = Engines(bare_cluster, tmp_path / "engine")
    try:
        yield running
    finally:
        await running.stop()


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]
