"""The world one scenario runs in, started fresh and torn down after:

    <root>/devcluster/   the local control plane (DevCluster): etcd, kube-apiserver
                         (RBAC on), controller-manager, scheduler, kwok
    <root>/git/          bare repositories, served by `python -m bench.gitserver`
    <root>/engine/       the engine's --data-dir (kept across an engine restart)
    <root>/logs/         engine.log, git-server.log

The engine is `python -m kidp_gitops controller run …`, a separate process, exactly as
users run it; the CRDs and RBAC are what `kidp install --without-controllers` applies,
unless the scenario gives other objects to install in their place (Flux's CRDs, when it
runs Flux's controllers instead of the engine).
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench import measure
from bench.gitwork import GitRepos
from kidp_gitops.devcluster import DevCluster
from kidp_gitops.devcluster.cluster import free_port
from kidp_gitops.install import apply as install_apply
from kidp_gitops.install import manifests
from kidp_gitops.kube import ApiError, KubeClient, load_config

NAMESPACE = "bench"
SECRET = "git-auth"
CONTROL_PLANE = measure.CONTROL_PLANE


class BenchEnv:
    def __init__(
        self,
        root: Path,
        engine_args: list[str] | None = None,
        keep: bool = False,
        install: list[dict[str, Any]] | None = None,
    ):
        self.root = root
        self.engine_args = engine_args or []
        self.keep = keep
        self.install = install
        self.cluster = DevCluster(root / "devcluster")
        self.logs = root / "logs"
        self.kube: KubeClient | None = None
        self.repos: GitRepos | None = None
        self.git_proc: subprocess.Popen[bytes] | None = None
        self.git_port = 0
        self.engine_proc: subprocess.Popen[bytes] | None = None
        self.engine_starts = 0
        self.processes: dict[str, int] = {}
        """Other processes a scenario started in the engine's place, metered by name."""
        self.metrics_port = 0
        self.artifact_port = 0
        self.receiver_port = 0
        self.dashboard_port = 0
        self.username = "bench"
        self.password = secrets.token_urlsafe(18)
        self.timings: dict[str, float] = {}
        self._http: aiohttp.ClientSession | None = None

    # ---- up and down -------------------------------------------------------------------

    async def __aenter__(self) -> BenchEnv:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        await self.cluster.up()
        self.timings["cluster_up_s"] = round(time.monotonic() - began, 2)
        self.kube = KubeClient(await load_config(self.cluster.kubeconfig), timeout=120)
        began = time.monotonic()
        objects = (
            self.install if self.install is not None else manifests.manifests(controllers=False)
        )
        await install_apply.install(self.kube, objects)
        self.timings["install_s"] = round(time.monotonic() - began, 2)
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
        self._start_git_server()
        self.repos = GitRepos(self.root, f"http://127.0.0.1:{self.git_port}")
        await self.ensure_namespace(NAMESPACE)
        await self.kube.create(
            f"/api/v1/namespaces/{NAMESPACE}/secrets",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": SECRET},
                "data": {
                    "username": base64.b64encode(self.username.encode()).decode(),
                    "password": base64.b64encode(self.password.encode()).decode(),
                },
            },
        )

    async def close(self) -> None:
        self.stop_engine()
        if self.git_proc is not None and self.git_proc.poll() is None:
            self.git_proc.terminate()
            try:
                self.git_proc.wait(10)
            except subprocess.TimeoutExpired:
                self.git_proc.kill()
                self.git_proc.wait()
        if self._http is not None:
            await self._http.close()
        if self.kube is not None:
            await self.kube.close()
        self.cluster.down()
        if not self.keep:
            for child in ("engine", "flux", "git", "work", "git-home", "devcluster/etcd"):
                shutil.rmtree(self.root / child, ignore_errors=True)

    # ---- git server --------------------------------------------------------------------

    def _start_git_server(self) -> None:
        password_file = self.root / "git-password"
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.password)
        (self.root / "git").mkdir(exist_ok=True)
        self.git_port = free_port()
        with open(self.logs / "git-server.log", "ab") as log:
            self.git_proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.gitserver",
                    f"--root={self.root / 'git'}",
                    f"--port={self.git_port}",
                    f"--username={self.username}",
                    f"--password-file={password_file}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=Path(__file__).resolve().parents[1],
            )
        _wait_port(self.git_port, self.git_proc, self.logs / "git-server.log", 20)

    async def git_stats(self, reset: bool = False) -> dict[str, Any]:
        assert self._http is not None
        url = f"http://127.0.0.1:{self.git_port}/_bench/"
        async with self._http.get(url + "stats") as resp:
            stats: dict[str, Any] = await resp.json()
        if reset:
            async with self._http.post(url + "reset") as resp:
                await resp.read()
        return stats

    # ---- engine ------------------------------------------------------------------------

    async def start_engine(self, timeout: float = 90) -> float:
        """Start the engine process; returns seconds until /readyz answered 200 (every
        informer synced)."""
        self.metrics_port = free_port()
        self.artifact_port = free_port(exclude={self.metrics_port})
        self.receiver_port = free_port(exclude={self.metrics_port, self.artifact_port})
        self.dashboard_port = free_port(
            exclude={self.metrics_port, self.artifact_port, self.receiver_port}
        )
        self.engine_starts += 1
        began = time.monotonic()
        self.engine_proc = self._spawn_engine()
        assert self._http is not None
        deadline = began + timeout
        while True:
            if self.engine_proc.poll() is not None:
                raise RuntimeError(f"the engine exited; see {self.logs / 'engine.log'}")
            try:
                async with self._http.get(
                    f"http://127.0.0.1:{self.metrics_port}/readyz",
                    timeout=aiohttp.ClientTimeout(total=2),
                ) as resp:
                    if resp.status == 200:
                        return time.monotonic() - began
            except (aiohttp.ClientError, OSError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the engine was not ready in {timeout}s; see the log")
            await asyncio.sleep(0.05)

    def _spawn_engine(self) -> subprocess.Popen[bytes]:
        with open(self.logs / "engine.log", "ab") as log:
            log.write(f"\n==== bench: engine start {self.engine_starts} ====\n".encode())
            log.flush()
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "kidp_gitops",
                    "controller",
                    "run",
                    f"--kubeconfig={self.cluster.kubeconfig}",
                    f"--data-dir={self.root / 'engine'}",
                    f"--metrics-addr=127.0.0.1:{self.metrics_port}",
                    f"--artifact-addr=127.0.0.1:{self.artifact_port}",
                    f"--receiver-addr=127.0.0.1:{self.receiver_port}",
                    f"--dashboard-addr=127.0.0.1:{self.dashboard_port}",
                    *self.engine_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def stop_engine(self, sig: int = signal.SIGTERM, grace: float = 40) -> float | None:
        """Stop the engine; returns the seconds it took to exit (None if not running)."""
        proc = self.engine_proc
        if proc is None or proc.poll() is not None:
            return None
        began = time.monotonic()
        proc.send_signal(sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return time.monotonic() - began

    @property
    def engine_pid(self) -> int:
        assert self.engine_proc is not None
        return self.engine_proc.pid

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    async def post_webhook(
        self, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, str]:
        """POST to the engine's webhook receiver (`path` is a Receiver's
        status.webhookPath); returns the HTTP status and the answer's text."""
        assert self._http is not None
        url = f"http://127.0.0.1:{self.receiver_port}{path}"
        async with self._http.post(url, data=body, headers=headers) as resp:
            return resp.status, await resp.text()

    async def scrape_engine(self) -> measure.Samples:
        assert self._http is not None
        return await measure.scrape(self.metrics_url, self._http)

    async def scrape_apiserver(self) -> measure.Samples:
        """The API server's own /metrics (as the admin)."""
        assert self.kube is not None
        config = self.kube.config
        headers = {}
        auth = await config.authorization()
        if auth:
            headers["Authorization"] = auth
        assert self._http is not None
        async with self._http.get(
            config.server.rstrip("/") + "/metrics", ssl=config.ssl_context, headers=headers
        ) as resp:
            resp.raise_for_status()
            return measure.parse(await resp.text())

    # ---- what to measure ---------------------------------------------------------------

    def pids(self) -> dict[str, int]:
        st = self.cluster.state()
        out = {name: st.pids[name] for name in CONTROL_PLANE if st and name in st.pids}
        if self.git_proc is not None:
            out["git-server"] = self.git_proc.pid
        if self.engine_proc is not None and self.engine_proc.poll() is None:
            out["engine"] = self.engine_proc.pid
        out.update(self.processes)
        out["bench"] = os.getpid()
        return out

    def meter(self) -> measure.CpuMeter:
        return measure.CpuMeter(self.pids())

    # ---- objects -----------------------------------------------------------------------

    async def ensure_namespace(self, name: str) -> None:
        assert self.kube is not None
        try:
            await self.kube.create("/api/v1/namespaces", {"metadata": {"name": name}})
        except ApiError as err:
            if not err.conflict:
                raise

    async def create_many(
        self, path_and_bodies: list[tuple[str, dict[str, Any]]], parallel: int = 16
    ) -> None:
        assert self.kube is not None
        kube = self.kube
        limit = asyncio.Semaphore(parallel)

        async def one(path: str, body: dict[str, Any]) -> None:
            async with limit:
                await kube.create(path, body)

        await asyncio.gather(*(one(p, b) for p, b in path_and_bodies))

    def git_repository(self, name: str, interval: str = "1m") -> tuple[str, dict[str, Any]]:
        assert self.repos is not None
        return (
            f"/apis/source.toolkit.fluxcd.io/v1/namespaces/{NAMESPACE}/gitrepositories",
            {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "GitRepository",
                "metadata": {"name": name, "namespace": NAMESPACE},
                "spec": {
                    "interval": interval,
                    "url": self.repos.url(name),
                    "ref": {"branch": "main"},
                    "secretRef": {"name": SECRET},
                },
            },
        )

    @staticmethod
    def kustomization(
        name: str, source: str, path: str, interval: str = "1m", **spec: Any
    ) -> tuple[str, dict[str, Any]]:
        return (
            f"/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{NAMESPACE}/kustomizations",
            {
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                "kind": "Kustomization",
                "metadata": {"name": name, "namespace": NAMESPACE},
                "spec": {
                    "interval": interval,
                    "path": path,
                    "prune": True,
                    "sourceRef": {"kind": "GitRepository", "name": source},
                    **spec,
                },
            },
        )

    async def request_reconcile(self, kind_plural: str, group: str, name: str) -> None:
        assert self.kube is not None
        await self.kube.patch(
            f"/apis/{group}/v1/namespaces/{NAMESPACE}/{kind_plural}/{name}",
            {
                "metadata": {
                    "annotations": {"reconcile.fluxcd.io/requestedAt": f"{time.time():.6f}"}
                }
            },
        )


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited; see {log}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s; see {log}")
