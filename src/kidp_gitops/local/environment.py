"""Bring the local environment up, report it, take it down.

    <state>/devcluster/      the control plane (DevCluster)
    <state>/devcluster-remote/  with `--clusters 2`: a second one, the remote cluster that
                             Kustomizations and HelmReleases reach by `spec.kubeConfig`
                             (its kubeconfig in Secret flux-system/remote-cluster-kubeconfig;
                             or, workload identity, ConfigMap flux-system/remote-cluster-identity:
                             it trusts the first's service-account tokens)
    <state>/git/             bare repositories, credentials (0600) of the git server
    <state>/engine/          the engine's data (mirrors, artifacts)
    <state>/logs/            git-server.log, engine.log
    <state>/local.json       pids and ports of the git server and the engine

Every step is idempotent: `up` on a running environment reuses what runs and re-applies
the bootstrap objects (server-side apply, no change → no write).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import shutil
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kidp_gitops.devcluster import DevCluster, processes
from kidp_gitops.devcluster.binaries import build_script
from kidp_gitops.devcluster.cluster import AlreadyRunning, default_state_dir, free_port
from kidp_gitops.devcluster.errors import DevClusterError
from kidp_gitops.devcluster.pki import Pki
from kidp_gitops.devcluster.trust import PREFIX, Trust
from kidp_gitops.install import apply as install_apply
from kidp_gitops.install import manifests
from kidp_gitops.kube import ApiError, KubeClient, RestMapper, load_config
from kidp_gitops.kube.ssa import Policy, ResourceManager
from kidp_gitops.proc.run import run_sync

REPO = "kidp-infrastructure"
NAMESPACE = manifests.NAMESPACE
RELEASE_NAMESPACE = "kidp-system"
GIT_USER = "kidp"
FIELD_MANAGER = "kidp-up"
DASHBOARD_PORT = 9080
REMOTE_SECRET = "remote-cluster-kubeconfig"
"""The Secret (in flux-system) holding the second cluster's kubeconfig, key `value`."""
REMOTE_IDENTITY = "remote-cluster-identity"
"""The ConfigMap (in flux-system) of workload identity for the second cluster, and the
ServiceAccount of the first whose tokens it accepts (as cluster-admin there)."""
Progress = Callable[[str], None]


def example_dir() -> Path | None:
    script = build_script()
    if script is None:
        return None
    candidate = script.parents[2] / "examples" / REPO
    return candidate if candidate.is_dir() else None


@dataclass
class LocalState:
    git_pid: int = 0
    git_port: int = 0
    engine_pid: int = 0
    metrics_port: int = 0
    artifact_port: int = 0
    receiver_port: int = 0
    dashboard_port: int = 0


class LocalEnvironment:
    def __init__(self, state_dir: Path | None = None):
        self.root = (state_dir or default_state_dir().parent).resolve()
        self.cluster = DevCluster(self.root / "devcluster")
        self.remote = DevCluster(self.root / "devcluster-remote")
        """The second control plane of `up(clusters=2)`."""
        self.logs = self.root / "logs"
        self._state_file = self.root / "local.json"

    # ---- facts ---------------------------------------------------------------------

    def state(self) -> LocalState:
        try:
            return LocalState(**json.loads(self._state_file.read_text()))
        except FileNotFoundError:
            return LocalState()

    def _save(self, st: LocalState) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._state_file.write_text(json.dumps(st.__dict__, indent=2))

    @property
    def git_url(self) -> str:
        port = self.state().git_port
        return f"http://127.0.0.1:{port}/{REPO}.git" if port else ""

    def git_credentials(self) -> tuple[str, str]:
        path = self.root / "git" / "password"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(18))
        return GIT_USER, path.read_text().strip()

    def status(self) -> dict[str, Any]:
        st = self.state()
        cluster = self.cluster.status()
        remote = self.remote.status() if self.remote.state() is not None else None
        python = Path(sys.executable)
        extra: dict[str, Any] = {}
        if remote is not None:
            extra["remote_kubeconfig"] = str(self.remote.kubeconfig)
            extra["remote_secret"] = f"{NAMESPACE}/{REMOTE_SECRET}"
        return {
            **extra,
            "running": cluster.running and self._alive(st.git_pid) and self._alive(st.engine_pid),
            "kubeconfig": str(self.cluster.kubeconfig),
            "server": cluster.server,
            "git_url": self.git_url,
            "metrics_url": f"http://127.0.0.1:{st.metrics_port}/metrics" if st.metrics_port else "",
            "artifacts_url": f"http://127.0.0.1:{st.artifact_port}" if st.artifact_port else "",
            "receiver_url": f"http://127.0.0.1:{st.receiver_port}" if st.receiver_port else "",
            "dashboard_url": f"http://127.0.0.1:{st.dashboard_port}/" if st.dashboard_port else "",
            "logs": str(self.logs),
            "components": [
                *cluster.as_dict()["components"],
                *(
                    {**c, "name": f"remote {c['name']}"}
                    for c in (remote.as_dict()["components"] if remote is not None else [])
                ),
                {
                    "name": "git-server",
                    "pid": st.git_pid,
                    "running": processes.alive(st.git_pid, python) if st.git_pid else False,
                    "log": str(self.logs / "git-server.log"),
                },
                {
                    "name": "engine",
                    "pid": st.engine_pid,
                    "running": processes.alive(st.engine_pid, python) if st.engine_pid else False,
                    "log": str(self.logs / "engine.log"),
                },
            ],
        }

    @staticmethod
    def _alive(pid: int) -> bool:
        return bool(pid) and processes.alive(pid, Path(sys.executable))

    # ---- up ------------------------------------------------------------------------

    async def up(
        self,
        example: Path,
        progress: Progress,
        timeout: float = 300,
        clusters: int = 1,
        *,
        engine: Callable[[KubeClient], Awaitable[None]] | None = None,
    ) -> None:
        """Everything up and Ready, in order. `clusters=2` adds a second control plane,
        the remote cluster of `spec.kubeConfig`, whose kubeconfig the first holds in a
        Secret. `engine` starts the engine instead of a process of this interpreter (a
        test runs the image's), after the cluster side is installed."""
        if clusters not in (1, 2):
            raise DevClusterError(f"--clusters is 1 or 2, not {clusters}")
        self.logs.mkdir(parents=True, exist_ok=True)
        progress("starting the local control plane")
        try:
            await self.cluster.up()
        except AlreadyRunning:
            progress("the local control plane already runs")
        if clusters == 2:
            progress("starting the second (remote) control plane")
            # It trusts the first's service-account tokens: `kubeConfig.configMapRef`
            # (workload identity, provider generic) reaches it too.
            self.remote.trusts = Trust(self.cluster.issuer())
            try:
                await self.remote.up()
            except AlreadyRunning:
                progress("the second control plane already runs")
        progress("installing the CRDs and RBAC")
        async with KubeClient(await load_config(self.cluster.kubeconfig)) as kube:
            await install_apply.install(kube, manifests.manifests(controllers=False))
            if clusters == 2:
                await self._remote_secret(kube)
            progress("serving the example repository over git smart HTTP")
            self._seed_repository(example)
            self._start_git_server()
            progress("starting the engine")
            if engine is None:
                self._start_engine()
            else:
                await engine(kube)
            progress("bootstrapping GitRepository kidp-infrastructure and its Kustomizations")
            await self._bootstrap(kube, example)
            progress("waiting for every GitOps object to be Ready")
            await self._wait_ready(kube, timeout)

    def _seed_repository(self, example: Path) -> None:
        bare = self.root / "git" / f"{REPO}.git"
        if bare.exists():
            return
        work = self.root / "git" / "seed"
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "kidp",
            "GIT_AUTHOR_EMAIL": "kidp@localhost",
            "GIT_COMMITTER_NAME": "kidp",
            "GIT_COMMITTER_EMAIL": "kidp@localhost",
        }

        def git(*args: str, cwd: Path) -> None:
            done = run_sync(["git", *args], cwd=cwd, env=env, timeout=60)
            if done.code != 0:
                raise DevClusterError(f"git {args[0]} failed: {done.stderr.strip()}")

        bare.parent.mkdir(parents=True, exist_ok=True)
        git("init", "--bare", "--initial-branch=main", str(bare), cwd=bare.parent)
        git("config", "http.receivepack", "true", cwd=bare)
        shutil.copytree(example, work)
        git("init", "--initial-branch=main", cwd=work)
        git("add", "-A", cwd=work)
        git("commit", "-m", "The PRD's repository layout", cwd=work)
        git("push", str(bare), "main", cwd=work)
        shutil.rmtree(work)

    def _start_git_server(self) -> None:
        st = self.state()
        if self._alive(st.git_pid):
            return
        st.git_port = free_port()
        user, _ = self.git_credentials()
        st.git_pid = processes.start(
            [
                sys.executable,
                "-m",
                "kidp_gitops",
                "dev",
                "git-server",
                f"--root={self.root / 'git'}",
                f"--port={st.git_port}",
                f"--username={user}",
                f"--password-file={self.root / 'git' / 'password'}",
            ],
            self.logs / "git-server.log",
            self.root,
        )
        self._save(st)
        _wait_port(st.git_port, "git-server", self.logs / "git-server.log")

    def _start_engine(self) -> None:
        st = self.state()
        if self._alive(st.engine_pid):
            return
        st.metrics_port, st.artifact_port = free_port(), free_port()
        st.receiver_port = free_port()
        st.dashboard_port = _port_or_free(DASHBOARD_PORT)
        st.engine_pid = processes.start(
            [
                sys.executable,
                "-m",
                "kidp_gitops",
                "controller",
                "run",
                f"--kubeconfig={self.cluster.kubeconfig}",
                f"--data-dir={self.root / 'engine'}",
                f"--metrics-addr=127.0.0.1:{st.metrics_port}",
                f"--artifact-addr=127.0.0.1:{st.artifact_port}",
                f"--receiver-addr=127.0.0.1:{st.receiver_port}",
                f"--dashboard-addr=127.0.0.1:{st.dashboard_port}",
            ],
            self.logs / "engine.log",
            self.root,
        )
        self._save(st)
        _wait_port(st.metrics_port, "engine", self.logs / "engine.log", timeout=60)

    async def _bootstrap(self, kube: KubeClient, example: Path) -> None:
        user, password = self.git_credentials()
        # The PRD's HelmRelease (in kidp-system) reads its chart from a GitRepository of
        # its own namespace: the same repository is declared there too.
        objects: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": RELEASE_NAMESPACE}}
        ]
        for namespace in (NAMESPACE, RELEASE_NAMESPACE):
            secret = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": f"{REPO}-auth", "namespace": namespace},
                "data": {
                    "username": base64.b64encode(user.encode()).decode(),
                    "password": base64.b64encode(password.encode()).decode(),
                },
            }
            repo = {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "GitRepository",
                "metadata": {"name": REPO, "namespace": namespace},
                "spec": {
                    "interval": "1m",
                    "url": self.git_url,
                    "ref": {"branch": "main"},
                    "secretRef": {"name": f"{REPO}-auth"},
                },
            }
            objects += [secret, repo]
        sync = list(
            yaml.safe_load_all((example / "clusters/local/kustomizations.yaml").read_text())
        )
        mapper = RestMapper(kube)
        await mapper.refresh()
        await ResourceManager(kube, mapper, Policy(FIELD_MANAGER)).apply([*objects, *sync])

    async def _remote_secret(self, kube: KubeClient) -> None:
        """The second cluster's kubeconfig (admin, self-contained: its certificates as
        data) in Secret flux-system/remote-cluster-kubeconfig of the first; and its
        workload identity: ConfigMap and ServiceAccount flux-system/remote-cluster-identity
        of the first, whose tokens the second takes for a cluster-admin."""
        remote = self.remote.state()
        if remote is None:
            raise DevClusterError("the second control plane does not run")
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": REMOTE_SECRET, "namespace": NAMESPACE},
            "data": {"value": base64.b64encode(self.remote.kubeconfig.read_bytes()).decode()},
        }
        account = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": REMOTE_IDENTITY, "namespace": NAMESPACE},
        }
        identity = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": REMOTE_IDENTITY, "namespace": NAMESPACE},
            "data": {
                "provider": "generic",
                "address": remote.server,
                "ca.crt": Pki(self.remote.dir / "pki").ca_cert.read_text(),
                "serviceAccountName": REMOTE_IDENTITY,
            },
        }
        mapper = RestMapper(kube)
        await mapper.refresh()
        manager = ResourceManager(kube, mapper, Policy(FIELD_MANAGER))
        await manager.apply([secret, account, identity])
        async with KubeClient(await load_config(self.remote.kubeconfig)) as other:
            mapper = RestMapper(other)
            await mapper.refresh()
            user = f"{PREFIX}system:serviceaccount:{NAMESPACE}:{REMOTE_IDENTITY}"
            binding = {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": REMOTE_IDENTITY},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "cluster-admin",
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}
                ],
            }
            await ResourceManager(other, mapper, Policy(FIELD_MANAGER)).apply([binding])

    async def _wait_ready(self, kube: KubeClient, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            pending = await self.not_ready(kube)
            if not pending:
                return
            if time.monotonic() > deadline:
                raise DevClusterError(
                    "not Ready in time: "
                    + "; ".join(pending)
                    + f" (logs: {self.logs / 'engine.log'})"
                )
            await asyncio.sleep(1)

    async def not_ready(self, kube: KubeClient) -> list[str]:
        pending = []
        for path, kind in (
            (
                f"/apis/source.toolkit.fluxcd.io/v1/namespaces/{NAMESPACE}/gitrepositories",
                "GitRepository",
            ),
            (
                f"/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{NAMESPACE}/kustomizations",
                "Kustomization",
            ),
            ("/apis/helm.toolkit.fluxcd.io/v2/helmreleases", "HelmRelease"),
        ):
            try:
                listed = await kube.get(path)
            except ApiError:
                return [f"{kind}s not readable yet"]
            for item in listed.get("items") or []:
                ready = next(
                    (
                        c
                        for c in (item.get("status") or {}).get("conditions") or []
                        if c["type"] == "Ready"
                    ),
                    None,
                )
                if not ready or ready["status"] != "True":
                    message = ready["message"] if ready else "not reconciled yet"
                    pending.append(f"{kind}/{item['metadata']['name']}: {message}")
        return pending

    # ---- down ----------------------------------------------------------------------

    def down(self) -> bool:
        st = self.state()
        python = Path(sys.executable)
        stopped = False
        for pid in (st.engine_pid, st.git_pid):
            if pid and processes.alive(pid, python):
                processes.stop(pid, python)
                stopped = True
        self._state_file.unlink(missing_ok=True)
        remote = self.remote.down()
        return self.cluster.down() or remote or stopped


def _port_or_free(port: int) -> int:
    """`port` when nothing listens there (a stable address to bookmark), else a free one."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


def _wait_port(port: int, name: str, log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise DevClusterError(
        f"{name} did not start listening on {port}; see {log}:\n" + processes.tail(log)
    )
