"""Server-side apply of a set of objects, in stages.

Cluster-wide definitions come first — CustomResourceDefinitions and Namespaces — and
are waited for (Established, Active) before anything that may depend on them, as
`kubectl apply` users learn to do by hand. Each object reports what happened to it:
created, configured, or unchanged (the server kept its resourceVersion: no write).

`take_over` runs before an apply that must own what other field managers wrote (Flux
takes kubectl's fields this way): it moves their managedFields entries to the applier.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from kidp_gitops.kube.client import JSON, JSON_PATCH, KubeClient
from kidp_gitops.kube.errors import ApiError, KubeError
from kidp_gitops.kube.mapper import RestMapper
from kidp_gitops.kube.patch import Manager, take_over_patch

Action = Literal["created", "configured", "unchanged"]
_FIRST = {("apiextensions.k8s.io/v1", "CustomResourceDefinition"), ("v1", "Namespace")}


def object_id(obj: JSON) -> str:
    """`Kind/namespace/name` (or `Kind/name`), for messages."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return (
        f"{obj.get('kind')}/{ns}/{meta.get('name')}"
        if ns
        else f"{obj.get('kind')}/{meta.get('name')}"
    )


@dataclass(frozen=True)
class Change:
    id: str
    action: Action


class ApplyError(KubeError):
    def __init__(self, obj_id: str, cause: Exception):
        super().__init__(f"{obj_id}: {cause}")
        self.obj_id = obj_id


def is_first_stage(obj: JSON) -> bool:
    return (obj.get("apiVersion"), obj.get("kind")) in _FIRST


async def apply_one(
    client: KubeClient,
    mapper: RestMapper,
    obj: JSON,
    *,
    field_manager: str,
    force: bool = False,
    dry_run: bool = False,
) -> Change:
    path = await mapper.path_for(obj)
    before: str | None
    try:
        before = (await client.get(path))["metadata"].get("resourceVersion")
    except ApiError as err:
        if not err.not_found:
            raise
        before = None
    after = await client.apply(path, obj, field_manager=field_manager, force=force, dry_run=dry_run)
    if before is None:
        return Change(object_id(obj), "created")
    unchanged = after["metadata"].get("resourceVersion") == before
    return Change(object_id(obj), "unchanged" if unchanged else "configured")


async def apply_staged(
    client: KubeClient,
    mapper: RestMapper,
    objects: list[JSON],
    *,
    field_manager: str,
    force: bool = False,
    timeout: float = 60.0,
    concurrency: int = 16,
) -> list[Change]:
    """Apply `objects`: definitions first (then wait for them), then the rest."""
    first = [o for o in objects if is_first_stage(o)]
    rest = [o for o in objects if not is_first_stage(o)]
    limit = asyncio.Semaphore(concurrency)

    async def one(obj: JSON) -> Change:
        async with limit:
            try:
                return await apply_one(
                    client, mapper, obj, field_manager=field_manager, force=force
                )
            except KubeError as err:
                raise ApplyError(object_id(obj), err) from err

    changes = list(await asyncio.gather(*(one(o) for o in first)))
    await wait_established(client, first, timeout)
    if any(o.get("kind") == "CustomResourceDefinition" for o in first):
        await mapper.refresh()
    changes += await asyncio.gather(*(one(o) for o in rest))
    return changes


async def wait_established(client: KubeClient, objects: list[JSON], timeout: float) -> None:
    """Wait until every CRD is Established and every Namespace Active."""
    deadline = time.monotonic() + timeout
    for obj in objects:
        name = obj["metadata"]["name"]
        if obj["kind"] == "CustomResourceDefinition":
            path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
        else:
            path = f"/api/v1/namespaces/{name}"
        while not _settled(await client.get(path)):
            if time.monotonic() > deadline:
                raise ApplyError(object_id(obj), TimeoutError(f"not ready after {timeout:.0f}s"))
            await asyncio.sleep(0.1)


def _settled(obj: JSON) -> bool:
    status = obj.get("status") or {}
    if obj.get("kind") == "Namespace":
        return status.get("phase") == "Active"
    return any(
        c.get("type") == "Established" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


async def take_over(
    client: KubeClient,
    path: str,
    live: JSON,
    managers: Sequence[Manager],
    owner: str,
    annotations: Sequence[str] = (),
    *,
    attempts: int = 10,
) -> bool:
    """Give `owner` the fields `managers` hold in the object at `path` (read as `live`)
    and drop `annotations` (see `patch.take_over_patch`). When the object changed since
    it was read (a controller writing its status, say), read it again and retry. Returns
    whether a patch was written."""
    obj = live
    for _ in range(attempts):
        ops = take_over_patch(obj, managers, owner, annotations)
        if ops is None:
            return False
        try:
            await client.request(
                "PATCH", path, params={"fieldManager": owner}, body=ops, content_type=JSON_PATCH
            )
            return True
        except ApiError as err:
            # A failed test answers 422 with no details: tell it from a bad patch by
            # whether the object really moved on.
            if not (err.conflict or err.status == 422):
                raise
            fresh = await client.get(path)
            if _version(fresh) == _version(obj):
                raise
            obj = fresh
    raise ApplyError(
        object_id(live),
        KubeError(f"changed {attempts} times while its field managers were taken over"),
    )


def _version(obj: JSON) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))
