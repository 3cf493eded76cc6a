"""Controller processes of an install, started on the host as its ServiceAccounts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from kidp_gitops.devcluster import DevCluster
from kidp_gitops.install import manifests
from kidp_gitops.kube import ApiError, KubeClient
from tests.integration import namespaces
from tests.integration.wait import until

NS = manifests.NAMESPACE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def kubeconfig_as(kube: KubeClient, cluster: DevCluster, account: str, path: Path) -> Path:
    """A kubeconfig of the cluster that authenticates as the install's `account`, with a
    token the API server issues for it (what a pod of that ServiceAccount would hold)."""
    issued = await kube.create(
        f"/api/v1/namespaces/{NS}/serviceaccounts/{account}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
         "spec": {"expirationSeconds": 3600}},
    )  # fmt: skip
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    for user in config["users"]:
        user["user"] = {"token": issued["status"]["token"]}
    await asyncio.to_thread(path.write_text, yaml.safe_dump(config))
    return path


@dataclass(frozen=True)
class Running:
    """A controller process: its log, and the identity it elects leaders with and sends
    in its User-Agent (the API server's audit log records it)."""

    log: Path
    process: asyncio.subprocess.Process

    @property
    def identity(self) -> str:
        return f"{socket.gethostname()}_{self.process.pid}"

    def sent(self, user_agent: str) -> bool:
        """Whether a request with `user_agent` came from this process."""
        return user_agent.endswith(f"({self.identity})")


@contextlib.asynccontextmanager
async def controller(
    kube: KubeClient, cluster: DevCluster, tmp: Path, account: str, *flags: str
) -> AsyncIterator[Path]:
    """`kidp controller run FLAGS` as `account`, until the block ends; yields its log.
    The host's own flags come last, so they win over a Deployment's given in FLAGS."""
    async with running(kube, cluster, tmp, account, *flags) as started:
        yield started.log


@contextlib.asynccontextmanager
async def running(
    kube: KubeClient, cluster: DevCluster, tmp: Path, account: str, *flags: str
) -> AsyncIterator[Running]:
    """As `controller`, yielding the process (to kill it, to know its identity)."""
    home = tmp / account
    await asyncio.to_thread(home.mkdir, parents=True)
    config = await kubeconfig_as(kube, cluster, account, home / "kubeconfig")
    log = home / "log"
    out = await asyncio.to_thread(log.open, "wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kidp_gitops", "controller", "run", *flags,
        f"--kubeconfig={config}", f"--data-dir={home / 'data'}",
        "--metrics-addr=127.0.0.1:0", "--dashboard-addr=127.0.0.1:0", "--log-level=debug",
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, "RUNTIME_NAMESPACE": NS},
    )  # fmt: skip
    out.close()
    try:
        yield Running(log, proc)
    finally:
        with contextlib.suppress(ProcessLookupError):  # killed by the test, say
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 60)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def denied(log: Path) -> list[str]:
    """The lines where RBAC refused the process something (the API server's words for it:
    'is forbidden: User "system:serviceaccount:…" cannot …'); a namespace of an earlier
    test being deleted refuses new Events too, which is no matter of RBAC."""
    return [line for line in log.read_text().splitlines() if "forbidden: User " in line]


async def delete_while_running(kube: KubeClient, *names: str) -> None:
    """Delete the namespaces `names` and wait until they are gone, while the test's
    processes still run: they remove their finalizers, so no Flux object is left for the
    next test's engine to finalize (its requests would count in that test)."""
    for name in names:
        await namespaces.delete(kube, name)

    async def gone() -> bool:
        for name in names:
            try:
                await kube.get(f"/api/v1/namespaces/{name}")
            except ApiError as err:
                if not err.not_found:
                    raise
                continue
            return False
        return True

    await until(gone, 120, f"namespaces {', '.join(names)} to be deleted")
