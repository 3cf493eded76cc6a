"""A Kustomization's health step: which objects to wait for, and the Healthy condition.

The waiting is the resource manager's (`ResourceManager.wait`, by kstatus): it polls
until every object is Current, one is Failed, or the timeout passes. `superseded` lets a
newer revision interrupt the wait, so it is never stuck behind an old health check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kidp_gitops.api import kustomize as api
from kidp_gitops.kube.ref import ObjRef
from kidp_gitops.kube.ssa import ResourceManager, Superseded, Unhealthy
from kidp_gitops.runtime import conditions
from kidp_gitops.runtime.reconcile import RetryError, WaitingError


async def check(
    manager: ResourceManager,
    spec: api.KustomizationSpec,
    namespace: str,
    applied: list[ObjRef],
    status: dict[str, Any],
    revision: str,
    generation: int,
    *,
    superseded: Callable[[], bool],
    checkpoint: Callable[[dict[str, Any]], Awaitable[None]] | None,
) -> None:
    """A Kustomization's health step: every applied object with `wait`, else the listed
    `healthChecks`; the Healthy condition says how it went. `checkpoint` (None: quiet)
    writes the status first, so people see which revision is being checked."""
    if spec.wait:
        refs = list(applied)
    else:
        refs = [
            ObjRef(
                c.namespace or namespace,
                c.name,
                (c.api_version or "").rpartition("/")[0],
                c.kind,
                (c.api_version or "").rpartition("/")[2],
            )
            for c in spec.health_checks
        ]
    if not refs:
        conditions.remove(status, conditions.HEALTHY)
        return
    timeout = spec.effective_timeout()
    conditions.mark_reconciling(
        status,
        conditions.PROGRESSING,
        f"Running health checks for revision {revision} with a timeout of {timeout}",
        generation,
    )
    if checkpoint is not None:
        await checkpoint(status)
    try:
        await manager.wait(refs, timeout.seconds, superseded=superseded)
    except Unhealthy as err:
        conditions.set_condition(
            status,
            conditions.HEALTHY,
            "False",
            conditions.HEALTH_CHECK_FAILED,
            str(err),
            generation,
        )
        raise RetryError(
            conditions.HEALTH_CHECK_FAILED,
            f"Health check failed after {timeout}: {err}",
            retry_after=spec.effective_retry_interval().seconds,
        ) from err
    except Superseded as err:
        raise WaitingError(
            conditions.PROGRESSING, "a new revision arrived during health checks", retry_after=0
        ) from err
    conditions.set_condition(
        status, conditions.HEALTHY, "True", conditions.SUCCEEDED, "Health check passed", generation
    )
