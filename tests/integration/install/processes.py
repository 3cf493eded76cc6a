"""Controller processes of an install, started on the host as its ServiceAccounts.

    Install.exported(kube, cluster, tmp, *flags)   `kidp install --export` built by kustomize
    install.start("source-controller")             a Deployment's process, its args as built
    running(kube, cluster, home, account, *flags)  any `kidp controller run` as `account`

Every process listens on loopback ports of its own (a run's processes, other test
processes and a developer's `kidp up` share the host's network).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kidp_gitops.devcluster import DevCluster
from kidp_gitops.devcluster.cluster import free_port
from kidp_gitops.install import manifests
from kidp_gitops.kube import ApiError, KubeClient
from tests.integration import namespaces
from tests.integration.wait import until
from tests.unit.install import patched

NS = manifests.NAMESPACE


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
    """A controller process: its directory (kubeconfig, log, data), its log, the loopback
    ports of the listeners a test reaches, and the identity it elects leaders with and
    sends in its User-Agent (the API server's audit log records it)."""

    home: Path
    log: Path
    process: asyncio.subprocess.Process
    artifact_port: int
    receiver_port: int

    @property
    def identity(self) -> str:
        return f"{socket.gethostname()}_{self.process.pid}"

    def sent(self, user_agent: str) -> bool:
        """Whether a request with `user_agent` came from this process."""
        return user_agent.endswith(f"({self.identity})")


@contextlib.asynccontextmanager
async def running(
    kube: KubeClient, cluster: DevCluster, home: Path, account: str, *flags: str
) -> AsyncIterator[Running]:
    """`kidp controller run FLAGS` as `account`, in directory `home`, until the block
    ends. Its listeners are on loopback: metrics and dashboard on ports the system picks,
    artifacts and the receiver on free ports the test reaches (`Running.artifact_port`,
    `receiver_port`), the artifacts advertised at their loopback URL; a process that
    runs no source or notification controller leaves those two unbound. The host's flags
    come last, so they win over a Deployment's given in FLAGS."""
    await asyncio.to_thread(home.mkdir, parents=True)
    config = await kubeconfig_as(kube, cluster, account, home / "kubeconfig")
    artifacts = free_port()
    receiver = free_port(exclude={artifacts})
    log = home / "log"
    out = await asyncio.to_thread(log.open, "wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kidp_gitops", "controller", "run", *flags,
        f"--kubeconfig={config}", f"--data-dir={home / 'data'}",
        "--metrics-addr=127.0.0.1:0", "--dashboard-addr=127.0.0.1:0",
        f"--artifact-addr=127.0.0.1:{artifacts}", f"--artifact-url=http://127.0.0.1:{artifacts}",
        f"--receiver-addr=127.0.0.1:{receiver}", "--log-level=debug",
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, "RUNTIME_NAMESPACE": NS},
    )  # fmt: skip
    out.close()
    try:
        yield Running(home, log, proc, artifacts, receiver)
    finally:
        with contextlib.suppress(ProcessLookupError):  # killed by the test, say
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 60)
        except TimeoutError:
            proc.kill()
            await proc.wait()


@dataclass(frozen=True)
class Install:
    """The Deployments of `kidp install --export FLAGS`, built by kustomize with a
    kustomization of Flux's guides (tests/unit/install/patched.py), whose processes a
    test starts on the host: each with its Deployment's args, as its ServiceAccount, in a
    directory of its own under `tmp`."""

    kube: KubeClient
    cluster: DevCluster
    tmp: Path
    deployments: Mapping[str, Mapping[str, Any]]

    @classmethod
    async def exported(
        cls,
        kube: KubeClient,
        cluster: DevCluster,
        tmp: Path,
        *flags: str,
        kustomization: str = patched.PLAIN,
    ) -> Install:
        build = tmp / "build"
        await asyncio.to_thread(build.mkdir, parents=True)
        built = await asyncio.to_thread(patched.deployments, build, kustomization, *flags)
        return cls(kube, cluster, tmp, built)

    def pod(self, deployment: str) -> Mapping[str, Any]:
        return dict(self.deployments[deployment]["spec"]["template"]["spec"])

    def args(self, deployment: str) -> list[str]:
        return list(self.pod(deployment)["containers"][0]["args"])

    def start(
        self, deployment: str, *flags: str, home: str | None = None
    ) -> contextlib.AbstractAsyncContextManager[Running]:
        """A process of `deployment` (in `tmp/home`, `tmp/<deployment>` by default: two
        replicas of one Deployment need two), its args followed by `flags`."""
        return running(
            self.kube, self.cluster, self.tmp / (home or deployment),
            str(self.pod(deployment)["serviceAccountName"]), *self.args(deployment), *flags,
        )  # fmt: skip


def denied(log: Path) -> list[str]:
    """The lines where RBAC refused the process something (the API server's words for it:
    'is forbidden: User "system:serviceaccount:…" cannot …'); a namespace of an earlier
    test being deleted refuses new Events too, which is no matter of RBAC."""
    return [line for line in log.read_text().splitlines() if "forbidden: User " in line]


async def delete_while_running(kube: KubeClient, *names: str) -> None:
    """Retire the namespaces `names` (tests/integration/namespaces.py) while the test's
    processes still run, and wait until their GitOps objects are gone: the processes
    remove their finalizers, so none is left for the next test's engine to finalize (its
    requests would count in that test). Retired again at each look: a Kustomization
    applying as the first retire ran may have put a GitOps object back."""

    async def gone() -> bool:
        for name in names:
            await namespaces.retire(kube, name)
        for name in names:
            for info in namespaces.RETIRED:
                listed = f"/apis/{info.api_version()}/namespaces/{name}/{info.plural}"
                try:
                    if (await kube.get(listed))["items"]:
                        return False
                except ApiError as err:
                    if not err.not_found:  # a kind this cluster does not serve
                        raise
        return True

    await until(gone, 120, f"the GitOps objects of {', '.join(names)} to be deleted")
