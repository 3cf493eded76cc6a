"""A real local Kubernetes control plane: etcd, kube-apiserver (TLS, RBAC on),
kube-controller-manager, kube-scheduler and the kwok controller with fake nodes.

All of it listens on loopback ports chosen at start and lives in one state directory.
Its service-account issuer is its API server's URL, whose discovery anyone may read
(`trust`: another control plane may trust it, as a remote cluster trusts a management
cluster's).


    <state>/state.json     pids, ports, server URL (what `status` and `down` read)
    <state>/kubeconfig     admin credentials (system:masters)
    <state>/pki/           CA, serving and client certificates, service-account keys
    <state>/authentication.yaml   with `trust`: the other control plane's issuer it trusts
    <state>/etcd/          etcd's data
    <state>/logs/*.log     one log per component, kept after `down`
    <state>/logs/audit.log the API server's audit log: who wrote what (components.AUDIT_POLICY),
                           unless made with `audit=False`
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import json
import os
import random
import shutil
import socket
import time
from collections.abc import Awaitable, Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from kidp_gitops.devcluster import binaries, components, kubeconfig, pki, processes, trust
from kidp_gitops.devcluster.errors import ComponentFailed, DevClusterError
from kidp_gitops.kube import ApiError, KubeClient, KubeError, RestMapper, load_config
from kidp_gitops.kube.ssa import Policy, ResourceManager

ADMIN_USER = "kidp-admin"
NODE_NAME = "kwok-node-0"
FIELD_MANAGER = "kidp-devcluster"
# Stop order: the consumers first, etcd last.
STOP_ORDER = ("kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd")


def default_state_dir() -> Path:
    if env := os.environ.get("KIDP_STATE_DIR"):
        return Path(env) / "devcluster"
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "kidp-gitops" / "devcluster"


PORT_TAKEN = "address already in use"
"""What a component's log says when its port was taken between `free_port` and its bind."""
PORT_ATTEMPTS = 3


def free_port(exclude: Collection[int] = ()) -> int:
    """A free loopback port below Linux's ephemeral range (32768+), so an outgoing
    connection cannot take it between this check and the component's bind."""
    while True:
        port = random.randrange(20000, 32000)
        if port in exclude:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


@dataclass
class State:
    """What a running cluster left in state.json."""

    bin_dir: str
    server: str
    ports: dict[str, int]
    pids: dict[str, int] = field(default_factory=dict)
    started_at: float = 0.0
    ready_seconds: float = 0.0


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int
    running: bool
    log: Path


@dataclass(frozen=True)
class ClusterStatus:
    state_dir: Path
    kubeconfig: Path
    server: str
    components: list[ComponentStatus]

    @property
    def running(self) -> bool:
        return bool(self.components) and all(c.running for c in self.components)

    def as_dict(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "state_dir": str(self.state_dir),
            "components": [
                {"name": c.name, "pid": c.pid, "running": c.running, "log": str(c.log)}
                for c in self.components
            ],
        }


class DevCluster:
    """The local control plane in one state directory."""

    def __init__(
        self,
        state_dir: Path | None = None,
        *,
        trusts: trust.Trust | None = None,
        audit: bool = True,
    ):
        """`trusts`: another control plane's issuer whose service-account tokens this
        one's API server accepts (set at `up`). `audit`: whether its API server keeps the
        audit log (it costs a third of its CPU per request: bench/RESULTS.md)."""
        self.dir = (state_dir or default_state_dir()).resolve()
        self.trusts = trusts
        self.audit = audit
        self.kubeconfig = self.dir / "kubeconfig"
        self.logs = self.dir / "logs"
        self.audit_log = self.logs / "audit.log"
        self._state_file = self.dir / "state.json"

    # ---- reading -------------------------------------------------------------------

    def state(self) -> State | None:
        try:
            return State(**json.loads(self._state_file.read_text()))
        except FileNotFoundError:
            return None

    def status(self) -> ClusterStatus:
        st = self.state()
        comps = []
        if st is not None:
            for name, pid in st.pids.items():
                running = processes.alive(pid, Path(st.bin_dir) / name)
                comps.append(ComponentStatus(name, pid, running, self.logs / f"{name}.log"))
        return ClusterStatus(self.dir, self.kubeconfig, st.server if st else "", comps)

    def issuer(self) -> trust.Issuer:
        """The service-account issuer of the running cluster, for another to trust."""
        st = self.state()
        if st is None:
            raise DevClusterError("no local control plane runs here")
        return trust.Issuer(st.server, pki.Pki(self.dir / "pki").ca_cert.read_text())

    # ---- up ------------------------------------------------------------------------

    async def up(self, timeout: float = 180.0) -> ClusterStatus:
        """Start the control plane and wait until the API server is ready, the fake node
        is Ready and the controllers work. A running cluster is reported, not restarted."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with self._lock():
            current = self.status()
            if current.running:
                raise AlreadyRunning(current)
            if current.components:  # leftovers of a crashed cluster
                self._stop_all()
            bins = binaries.ensure_binaries()
            begin = time.monotonic()
            for attempt in range(1, PORT_ATTEMPTS + 1):
                self._clean(keep_logs=True)
                st = self._prepare(bins)
                try:
                    await self._start(bins, st, begin + timeout)
                    break
                except ComponentFailed as err:
                    self._stop_all()
                    # A port free when chosen was taken before the component bound it:
                    # another control plane starting at the same moment chose it too
                    # (the test suite starts three at once). Fresh ports, again.
                    if PORT_TAKEN not in str(err) or attempt == PORT_ATTEMPTS:
                        raise
                except BaseException:
                    self._stop_all()
                    raise
            st.ready_seconds = round(time.monotonic() - begin, 2)
            self._save(st)
            return self.status()

    def _prepare(self, bins: binaries.Binaries) -> State:
        self.logs.mkdir(parents=True, exist_ok=True)
        names = (
            "etcd",
            "etcd-peer",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok",
        )
        ports: dict[str, int] = {}
        for n in names:
            ports[n] = free_port(exclude=set(ports.values()))
        server = f"https://127.0.0.1:{ports['kube-apiserver']}"
        certs = pki.create(self.dir / "pki", {ADMIN_USER: ["system:masters"]})
        policy = self.dir / components.AUDIT_POLICY_FILE
        if self.audit:  # its presence turns the log on, at a restart of the API server too
            policy.write_text(json.dumps(components.AUDIT_POLICY))
        else:
            policy.unlink(missing_ok=True)
        kubeconfig.write(self.kubeconfig, server, certs, ADMIN_USER)
        if self.trusts is not None:
            trust.write_config(self.dir / trust.FILE, self.trusts, server)
        st = State(bin_dir=str(bins.bin_dir), server=server, ports=ports, started_at=time.time())
        self._save(st)
        return st

    async def _start(self, bins: binaries.Binaries, st: State, deadline: float) -> None:
        args = components.command_lines(bins, self.dir, st.server, st.ports)
        self._launch(bins, st, "etcd", args["etcd"])
        etcd_url = f"http://127.0.0.1:{st.ports['etcd']}/health"
        await self._wait(st, "etcd", deadline, lambda: _http_ok(etcd_url, False))
        self._launch(bins, st, "kube-apiserver", args["kube-apiserver"])
        async with KubeClient(await load_config(self.kubeconfig)) as kube:
            await self._wait(st, "kube-apiserver", deadline, lambda: _readyz(kube))
            for name in ("kube-controller-manager", "kube-scheduler", "kwok"):
                self._launch(bins, st, name, args[name])
            await _create_node(kube)
            await trust.publish_discovery(kube, FIELD_MANAGER)
            for name in ("kube-controller-manager", "kube-scheduler"):
                url = f"https://127.0.0.1:{st.ports[name]}/healthz"
                await self._wait(st, name, deadline, functools.partial(_http_ok, url, True))
            await self._wait(st, "kwok", deadline, lambda: _node_ready(kube))
            # The service-account controller makes `default` in every namespace; pods
            # cannot be created before it, so a cluster without it is not ready.
            await self._wait(
                st,
                "kube-controller-manager",
                deadline,
                lambda: _exists(kube, "/api/v1/namespaces/default/serviceaccounts/default"),
            )

    def _launch(self, bins: binaries.Binaries, st: State, name: str, args: list[str]) -> None:
        st.pids[name] = processes.start(
            [str(bins.path(name)), *args],
            self.logs / f"{name}.log",
            self.dir,
            components.environment(name),
        )
        self._save(st)

    async def _wait(
        self, st: State, name: str, deadline: float, probe: Callable[[], Awaitable[bool]]
    ) -> None:
        """Poll `probe` until it is true; fail fast with the log of any component that
        exited meanwhile, or of `name` when the deadline passes."""
        while True:
            for comp, pid in st.pids.items():
                if not processes.alive(pid, Path(st.bin_dir) / comp):
                    raise ComponentFailed(
                        comp, "exited during start", processes.tail(self.logs / f"{comp}.log")
                    )
            if await probe():
                return
            if time.monotonic() > deadline:
                raise ComponentFailed(
                    name, "did not become ready in time", processes.tail(self.logs / f"{name}.log")
                )
            await asyncio.sleep(0.2)

    async def restart_apiserver(self, downtime: float = 0.0, timeout: float = 60.0) -> None:
        """Stop kube-apiserver, stay down for `downtime` seconds, start it again on the same
        port and wait until it is ready: the fault clients must survive."""
        with self._lock():
            st = self.state()
            if st is None:
                raise DevClusterError("no local control plane runs here")
            bins = binaries.Binaries(Path(st.bin_dir))
            name = "kube-apiserver"
            processes.stop(st.pids[name], bins.path(name))
            await asyncio.sleep(downtime)
            self._launch(
                bins, st, name, components.command_lines(bins, self.dir, st.server, st.ports)[name]
            )
            async with KubeClient(await load_config(self.kubeconfig)) as kube:
                await self._wait(st, name, time.monotonic() + timeout, lambda: _readyz(kube))

    # ---- down ----------------------------------------------------------------------

    def down(self) -> bool:
        """Stop every process this cluster started and remove its data (logs stay).
        Returns whether anything was running."""
        with self._lock():
            was_running = any(c.running for c in self.status().components)
            self._stop_all()
            self._clean(keep_logs=True)
            return was_running

    def _stop_all(self) -> None:
        st = self.state()
        if st is None:
            return
        for name in STOP_ORDER:
            if name in st.pids:
                processes.stop(st.pids[name], Path(st.bin_dir) / name)
        self._state_file.unlink(missing_ok=True)

    def _clean(self, keep_logs: bool) -> None:
        for child in self.dir.iterdir() if self.dir.exists() else ():
            if keep_logs and child.name in ("logs", ".lock"):
                continue
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()

    # ---- plumbing ------------------------------------------------------------------

    def _save(self, st: State) -> None:
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(st), indent=2))
        tmp.replace(self._state_file)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """One `up` or `down` at a time per state directory."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield


class AlreadyRunning(DevClusterError):
    def __init__(self, status: ClusterStatus):
        super().__init__(
            f"a local control plane already runs at {status.server} "
            f"(kubeconfig {status.kubeconfig})"
        )
        self.status = status


async def _http_ok(url: str, insecure_tls: bool) -> bool:
    """GET `url`; components' own serving certificates are self-signed, hence the option.

    A session per probe, not the engine's outbound HTTP: this is the local control
    plane starting up (before any engine exists), on loopback, every few seconds."""
    verify = not insecure_tls
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as s,
            s.get(url, ssl=verify) as r,
        ):
            return r.status == 200
    except (aiohttp.ClientError, OSError, TimeoutError):
        return False


async def _readyz(kube: KubeClient) -> bool:
    return await _exists(kube, "/readyz")


async def _exists(kube: KubeClient, path: str) -> bool:
    try:
        await kube.get(path)
        return True
    except KubeError:
        return False


async def _create_node(kube: KubeClient) -> None:
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
            },
        },
    }
    manager = ResourceManager(kube, RestMapper(kube), Policy(FIELD_MANAGER))
    await manager.put(node, f"/api/v1/nodes/{NODE_NAME}")


async def _node_ready(kube: KubeClient) -> bool:
    try:
        node = await kube.get(f"/api/v1/nodes/{NODE_NAME}")
    except ApiError:
        return False
    conditions = node.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
