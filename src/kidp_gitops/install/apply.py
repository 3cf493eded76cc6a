"""Apply the install manifests and wait until the CRDs are served.

A cluster may already have CRDs of the same names, from Flux or from an earlier kidp, that
serve versions ours do not (Flux ≤ 2.6's `v1beta2` Kustomizations, say). The API server
refuses a CRD that drops a version objects are still stored in (`status.storedVersions`),
and dropping one that is merely served would make its objects unreadable to whoever still
writes them. So such versions are kept, exactly as they were served, never as storage:
nothing a cluster holds is lost by installing over it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.kube.mapper import RestMapper
from kidp_gitops.kube.ssa import Applied, Policy, ResourceManager

FIELD_MANAGER = "kidp"
POLICY = Policy(field_manager=FIELD_MANAGER)
"""The installer owns these objects: its applies are forced, nothing steers them."""
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


@dataclass(frozen=True)
class Installed:
    applied: list[Applied]
    kept: list[str] = field(default_factory=list)
    """One line per version of an existing CRD kept beside ours ("<crd> <version>")."""


async def install(client: KubeClient, objects: list[JSON], timeout: float = 120.0) -> Installed:
    """Apply the objects, CRDs and the namespace first; returns what happened to each."""
    mapper = RestMapper(client)
    await mapper.refresh()
    objects, kept = await keep_existing_versions(client, objects)
    applied = await ResourceManager(client, mapper, POLICY, timeout=timeout).apply(objects)
    return Installed(applied, kept)


async def keep_existing_versions(
    client: KubeClient, objects: list[JSON]
) -> tuple[list[JSON], list[str]]:
    """The objects, each CRD with the versions the live CRD of its name serves or stores
    and ours lacks added as they are live (not storage); and what was kept."""
    result: list[JSON] = []
    kept: list[str] = []
    for obj in objects:
        if obj.get("kind") != "CustomResourceDefinition":
            result.append(obj)
            continue
        name = obj["metadata"]["name"]
        try:
            live = await client.get(f"{CRD_PATH}/{name}")
        except ApiError as err:
            if err.status != 404:
                raise
            result.append(obj)
            continue
        ours = {v["name"] for v in obj["spec"]["versions"]}
        stored = set((live.get("status") or {}).get("storedVersions") or [])
        extra = [
            {**copy.deepcopy(v), "storage": False}
            for v in live["spec"].get("versions", [])
            if v["name"] not in ours and (v.get("served") or v["name"] in stored)
        ]
        if not extra:
            result.append(obj)
            continue
        merged = copy.deepcopy(obj)
        merged["spec"]["versions"] += extra
        result.append(merged)
        kept += [f"{name} {v['name']}" for v in extra]
    return result, kept
