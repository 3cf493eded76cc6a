"""What every helm action shares: which release, as whom, with which kubeconfig and helm
home; and the flags for waiting and deadlines that install, upgrade and rollback spell
the same way."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kidp_gitops.api import helm as api
from kidp_gitops.api import meta
from kidp_gitops.helm import runner


@dataclass(frozen=True)
class Invocation:
    """One helm action is one helm process, with the Kubernetes client helm makes for
    it. So `spec.persistentClient` (helm-controller: keep one client for a whole
    reconcile, or make one per step) has nothing to choose between here: both values
    behave alike, as a helm CLI run does, and the field is accepted without effect
    (docs/flux-compatibility.md)."""

    release: str
    namespace: str
    """The release's namespace, which is also where helm stores it."""
    kubeconfig: Path | None
    home: Path
    as_user: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.release}"

    def elsewhere(self, release: str, namespace: str) -> Invocation:
        """The same caller, for another release."""
        return Invocation(release, namespace, self.kubeconfig, self.home, self.as_user)

    async def helm(self, command: str, args: list[str], timeout: float) -> str:
        """Run `helm <command> <release> <args>` for this release."""
        argv = [command, self.release, *args, "--namespace", self.namespace]
        if self.as_user:
            argv += ["--kube-as-user", self.as_user]
        argv += ["--timeout", f"{timeout:g}s"]
        return await runner.run(argv, kubeconfig=self.kubeconfig, home=self.home, timeout=timeout)


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
