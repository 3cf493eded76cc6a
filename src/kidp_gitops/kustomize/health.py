"""Waiting until applied objects are healthy, by kstatus.

`wait()` polls the objects until every one is Current, one is Failed, or the timeout
passes; the error names the objects that are not healthy and why. `superseded` lets a
newer revision interrupt the wait, so it is never stuck behind an old health check.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from kidp_gitops.kube.client import KubeClient
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.kube.mapper import RestMapper
from kidp_gitops.kustomize.inventory import ObjRef
from kidp_gitops.runtime import kstatus


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
