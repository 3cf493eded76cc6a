"""What every helm action shares: which release, as whom, in which cluster, through
which helper; and the flags for waiting and deadlines that install, upgrade and rollback
spell the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kidp_gitops.api import helm as api
from kidp_gitops.api import meta
from kidp_gitops.helm import runner


@dataclass(frozen=True)
class Invocation:
    """The helm actions of one release, served by the engine's helper (`runner`), which
    keeps one Kubernetes client per cluster and identity for every release. So
    `spec.persistentClient` (helm-controller: keep one client for a whole reconcile, or
    make one per step) has nothing to choose between here: both values behave alike,
    and the field is accepted without effect (docs/flux-compatibility.md)."""

    release: str
    namespace: str
    """The release's namespace, which is also where helm stores it."""
    kubeconfig: dict[str, Any]
    """The cluster and the engine's credentials there, as a kubeconfig document."""
    helper: runner.Helper
    as_user: str | None = None
    max_response: int | None = None
    """The largest response the helper reads from the cluster: a remote's is bounded."""
    owner: str | None = None
    """The HelmRelease asking ("namespace/name"): what the helper's suspects and busy
    refusals are keyed by, never the target release (a tenant may name another's)."""

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.release}"

    def elsewhere(self, release: str, namespace: str) -> Invocation:
        """The same caller, for another release."""
        return Invocation(
            release,
            namespace,
            self.kubeconfig,
            self.helper,
            self.as_user,
            self.max_response,
            self.owner,
        )

    async def helm(
        self, command: str, args: list[str], timeout: float, chart_digest: str | None = None
    ) -> str:
        """Run `helm <command> <release> <args>` for this release (`chart_digest`: of the
        chart an install or upgrade names, which the helper keeps loaded by it)."""
        argv = [command, self.release, *args, "--namespace", self.namespace]
        if self.as_user:
            argv += ["--kube-as-user", self.as_user]
        argv += ["--timeout", f"{timeout:g}s"]
        return await self.helper.run(
            argv,
            kubeconfig=self.kubeconfig,
            timeout=timeout,
            owner=self.owner,
            chart_digest=chart_digest,
            max_response=self.max_response,
        )


def wait_flags(disable: bool, jobs: bool = False) -> list[str]:
    """helm's own kstatus waiter (`watcher`) unless waiting is disabled."""
    if disable:
        return ["--wait=hookOnly"]
    return ["--wait=watcher", *(["--wait-for-jobs"] if jobs else [])]


def timeout_of(value: meta.Duration | None, spec: api.HelmReleaseSpec) -> float:
    """An action's timeout in seconds: its own, else the release's."""
    return (value or spec.effective_timeout()).seconds


_SERVER_SIDE = {"enabled": "true", "disabled": "false", "auto": "auto"}


def server_side_flag(value: api.ServerSideApply | None) -> list[str]:
    """helm's --server-side for upgrade and rollback; none (Helm's auto) when omitted."""
    return [] if value is None else [f"--server-side={_SERVER_SIDE[value]}"]


def crd_flags(policy: str, inv: Invocation) -> list[str]:
    """The helper's flags for the chart's crds/ directory: `policy` (Skip, Create,
    CreateReplace; hack/helm/server/crds.go applies it, Helm never replaces a CRD), and
    the HelmRelease whose labels the CRDs get (`helm.toolkit.fluxcd.io/name`,
    `/namespace`), as helm-controller labels them."""
    flags = ["--crds", policy]
    if inv.owner:
        flags += ["--crd-owner", inv.owner]
    return flags
