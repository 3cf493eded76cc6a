"""A Kustomization's health step: which objects to wait for, and how the wait ended.

    plan(spec, namespace, applied, revision) -> Check | None   what to wait for (None: nothing)
    run(manager, check, superseded)                            wait; raise what went wrong

The waiting is the resource manager's (`ResourceManager.wait`, by kstatus): it polls
until every object is Current, one is Failed, or the timeout passes. `superseded` lets a
newer revision interrupt the wait, so it is never stuck behind an old health check.
The reconciler writes what follows into the status (the Healthy condition).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kidp_gitops.api import kustomize as api
from kidp_gitops.api import meta
from kidp_gitops.kube.ref import ObjRef
from kidp_gitops.kube.ssa import ResourceManager, Superseded, Unhealthy
from kidp_gitops.runtime import conditions
from kidp_gitops.runtime.reconcile import ReconcileError

PASSED = "Health check passed"


@dataclass(frozen=True)
class Check:
    """One health step: the objects to wait for, for how long, for which revision."""

    refs: tuple[ObjRef, ...]
    timeout: meta.Duration
    revision: str

    def describe(self) -> str:
        """What the Reconciling condition says while the step runs."""
        return (
            f"Running health checks for revision {self.revision} with a timeout of {self.timeout}"
        )


class HealthCheckFailed(ReconcileError):
    """An object failed, or was not ready in time. `detail` is what the Healthy
    condition says; the message (Ready's) says after how long."""

    def __init__(self, check: Check, detail: str):
        super().__init__(
            conditions.HEALTH_CHECK_FAILED, f"Health check failed after {check.timeout}: {detail}"
        )
        self.detail = detail


class NewerRevision(ReconcileError):
    """The source moved on while the step waited: the new revision goes first."""

    def __init__(self) -> None:
        super().__init__(conditions.PROGRESSING, "a new revision arrived during health checks")


def plan(
    spec: api.KustomizationSpec, namespace: str, applied: list[ObjRef], revision: str
) -> Check | None:
    """Every applied object with `wait`, else the listed `healthChecks`; None when
    there is nothing to wait for."""
    if spec.wait:
        refs = tuple(applied)
    else:
        refs = tuple(
            ObjRef(
                c.namespace or namespace,
                c.name,
                (c.api_version or "").rpartition("/")[0],
                c.kind,
                (c.api_version or "").rpartition("/")[2],
            )
            for c in spec.health_checks
        )
    if not refs:
        return None
    return Check(refs, spec.effective_timeout(), revision)


async def run(manager: ResourceManager, check: Check, superseded: Callable[[], bool]) -> None:
    """Wait until the objects of `check` are healthy."""
    try:
        await manager.wait(list(check.refs), check.timeout.seconds, superseded=superseded)
    except Unhealthy as err:
        raise HealthCheckFailed(check, str(err)) from err
    except Superseded as err:
        raise NewerRevision() from err
