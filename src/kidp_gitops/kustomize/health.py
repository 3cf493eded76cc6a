"""A Kustomization's health step: which objects to wait for, and how the wait ended.

    plan(spec, namespace, applied, revision) -> Check | None   what to wait for (None: nothing)
    run(manager, check, superseded)                            wait; raise what went wrong

The waiting is the resource manager's (`ResourceManager.wait`, by kstatus): it polls
until every object is Current, one is Failed, or the timeout passes. Objects of a kind
that `healthCheckExprs` names are judged by its CEL expressions instead (`read_by_cel`,
as Flux's RFC 0009 orders them). `superseded` lets a
newer revision interrupt the wait, so it is never stuck behind an old health check.
The reconciler writes what follows into the status (the Healthy condition).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kidp_gitops.api import kustomize as api
from kidp_gitops.api import meta
from kidp_gitops.cel import evaluator, expression, fields
from kidp_gitops.kube import kstatus
from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.ref import ObjRef
from kidp_gitops.kube.ssa import ResourceManager, StatusReader, Superseded, Unhealthy
from kidp_gitops.runtime import conditions
from kidp_gitops.runtime.reconcile import ReconcileError

PASSED = "Health check passed"


@dataclass(frozen=True)
class Check:
    """One health step: the objects to wait for, for how long, for which revision."""

    refs: tuple[ObjRef, ...]
    timeout: meta.Duration
    revision: str
    exprs: tuple[api.CustomHealthCheck, ...] = ()
    """The CEL health checks of the spec (`healthCheckExprs`)."""

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
    return Check(refs, spec.effective_timeout(), revision, tuple(spec.health_check_exprs))


async def run(manager: ResourceManager, check: Check, superseded: Callable[[], bool]) -> None:
    """Wait until the objects of `check` are healthy."""
    try:
        await manager.wait(
            list(check.refs),
            check.timeout.seconds,
            superseded=superseded,
            reader=read_by_cel(check.exprs),
        )
    except Unhealthy as err:
        raise HealthCheckFailed(check, str(err)) from err
    except Superseded as err:
        raise NewerRevision() from err


def read_by_cel(exprs: tuple[api.CustomHealthCheck, ...]) -> StatusReader | None:
    """The status reader of `healthCheckExprs`: for an object of a kind (or group) they
    name, the verdict of its expressions; None (kstatus) for any other."""
    if not exprs:
        return None
    # The lifecycle stalled duplicates already; the first one wins otherwise.
    checks: dict[tuple[str, str], api.CustomHealthCheck] = {}
    for c in exprs:
        checks.setdefault(fields.group_kind(c.api_version, c.kind), c)

    async def read(obj: JSON) -> kstatus.Result | None:
        group, kind = fields.group_kind(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        check = checks.get((group, kind)) or checks.get((group, ""))
        return None if check is None else await judge(check, obj)

    return read


async def judge(check: api.CustomHealthCheck, obj: JSON) -> kstatus.Result:
    """An object's health by one check's expressions, as Flux (RFC 0009): a status that
    has not observed the latest generation is InProgress; then the first of inProgress,
    failed, current that is true decides; none true is InProgress. An expression that
    cannot be evaluated (a field not there yet) leaves it Unknown, waited for until
    the timeout, which then names the error."""
    status, metadata = obj.get("status"), obj.get("metadata") or {}
    observed = status.get("observedGeneration") if isinstance(status, dict) else None
    generation = metadata.get("generation")
    if _integer(observed) and _integer(generation) and observed != generation:
        return kstatus.Result(
            kstatus.Status.IN_PROGRESS,
            f"status.observedGeneration {observed} is not generation {generation} yet",
        )
    for name, text, verdict in (
        ("inProgress", check.in_progress, kstatus.Status.IN_PROGRESS),
        ("failed", check.failed, kstatus.Status.FAILED),
        ("current", check.current, kstatus.Status.CURRENT),
    ):
        if not text:
            continue
        try:
            if await evaluator.boolean(text, expression.HEALTH, obj):
                return kstatus.Result(verdict, f"healthCheckExprs: '{name}' is true")
        except (expression.EvaluationFailed, expression.InvalidExpression) as err:
            return kstatus.Result(kstatus.Status.UNKNOWN, f"healthCheckExprs '{name}': {err}")
    return kstatus.Result(kstatus.Status.IN_PROGRESS, "healthCheckExprs: no expression is true")


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
