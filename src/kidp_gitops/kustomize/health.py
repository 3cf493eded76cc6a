"""Waiting until applied objects are healthy, by kstatus.

`check()` is a Kustomization's health step (which objects, the Healthy condition);
`wait()` polls the objects until every one is Current, one is Failed, or the timeout
passes; the error names the objects that are not healthy and why. `superseded` lets a
newer revision interrupt the wait, so it is never stuck behind an old health check.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from kidp_gitops.api import kustomize as api
from kidp_gitops.kube.client import KubeClient
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.kube.mapper import RestMapper
from kidp_gitops.kustomize.inventory import ObjRef
from kidp_gitops.runtime import conditions, kstatus
from kidp_gitops.runtime.reconcile import RetryError, WaitingError


class Unhealthy(Exception):
    def __init__(self, message: str, failed: bool):
        super().__init__(message)
        self.failed = failed


class Superseded(Exception):
    """A newer revision arrived while waiting."""


async def status_of(client: KubeClient, mapper: RestMapper, ref: ObjRef) -> kstatus.Result:
    resource = await mapper.resource(ref.api_version, ref.kind)
    try:
        obj = await client.get(resource.path(ref.namespace or None, ref.name))
    except ApiError as err:
        if err.not_found:
            return kstatus.Result(kstatus.Status.NOT_FOUND, "not found")
        raise
    return kstatus.compute(obj)


async def wait(
    client: KubeClient,
    mapper: RestMapper,
    refs: list[ObjRef],
    timeout: float,
    superseded: Callable[[], bool] = lambda: False,
    poll: float = 0.5,
) -> None:
    deadline = time.monotonic() + timeout
    pending = list(refs)
    while True:
        results = await asyncio.gather(*(status_of(client, mapper, r) for r in pending))
        failed = [
            (r, s)
            for r, s in zip(pending, results, strict=True)
            if s.status == kstatus.Status.FAILED
        ]
        if failed:
            raise Unhealthy(_describe(failed), failed=True)
        pending = [
            r for r, s in zip(pending, results, strict=True) if s.status != kstatus.Status.CURRENT
        ]
        if not pending:
            return
        if superseded():
            raise Superseded
        if time.monotonic() > deadline:
            unhealthy = [
                (r, s)
                for r, s in zip(pending, results, strict=True)
                if s.status != kstatus.Status.CURRENT
            ]
            raise Unhealthy(f"timeout waiting for: {_describe(unhealthy)}", failed=False)
        await asyncio.sleep(poll)


def _describe(items: list[tuple[ObjRef, kstatus.Result]]) -> str:
    return ", ".join(
        f"[{r}] status: '{s.status.value}'" + (f" ({s.message})" if s.message else "")
        for r, s in items
    )


async def check(
    client: KubeClient,
    mapper: RestMapper,
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
        await wait(client, mapper, refs, timeout.seconds, superseded=superseded)
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
