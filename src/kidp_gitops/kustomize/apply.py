"""Server-side apply of a Kustomization's objects, the way Flux's kustomize-controller
applies them, but without a write for what did not change.

Per stage (CRDs and Namespaces first, then the rest):

    dry-run every object (server-side, as the real apply would run) — one invalid
    object fails the stage before anything of it is written;
    compare each dry-run result with the live object: equal → "unchanged", no write;
    apply the others for real → "created" / "configured".

Objects carry the owner labels `kustomize.toolkit.fluxcd.io/name|namespace` and are
applied with Flux's field manager, so objects Flux applied before are taken over
without conflicts. Per-object annotations steer the apply:

    kustomize.toolkit.fluxcd.io/ssa: Override (default) | Merge | IfNotPresent | Ignore
    kustomize.toolkit.fluxcd.io/force: enabled   recreate when an immutable field changed
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
from typing import Any, Literal

from kidp_gitops.kube.apply import wait_established
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.errors import ApiError, KubeError
from kidp_gitops.kube.mapper import RestMapper
from kidp_gitops.kustomize.inventory import ObjRef, ref_of

FIELD_MANAGER = "kustomize-controller"
GROUP = "kustomize.toolkit.fluxcd.io"
OWNER_NAME = f"{GROUP}/name"
OWNER_NAMESPACE = f"{GROUP}/namespace"
SSA = f"{GROUP}/ssa"
FORCE = f"{GROUP}/force"

Action = Literal["created", "configured", "unchanged", "skipped", "protected"]
# Objects a person protected from the engine: created when missing, never changed; their
# drift is reported instead. The first is Flux v1's annotation, the PRD's.
PROTECTED = (("flux.weave.works/ignore", "true"), (f"{GROUP}/reconcile", "disabled"))
_FIRST = {("apiextensions.k8s.io", "CustomResourceDefinition"), ("", "Namespace")}


@dataclass(frozen=True)
class Applied:
    ref: ObjRef
    action: Action
    result: JSON | None
    """The object as the server answered (canonical form); None when skipped."""
    changed: tuple[str, ...] = ()
    """The managed fields that differed from Git (for configured and protected objects)."""


class ApplyFailed(KubeError):
    """One or more objects failed the dry run or the apply; nothing of the failing stage
    was written when the dry run failed."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def with_owner(obj: JSON, name: str, namespace: str) -> JSON:
    out = copy.deepcopy(obj)
    labels = out.setdefault("metadata", {}).setdefault("labels", {})
    labels[OWNER_NAME] = name
    labels[OWNER_NAMESPACE] = namespace
    return out


def _annotation(obj: JSON, key: str) -> str:
    return str(((obj.get("metadata") or {}).get("annotations") or {}).get(key, ""))


def _comparable(obj: JSON) -> JSON:
    out = copy.deepcopy(obj)
    meta = out.get("metadata") or {}
    for key in ("managedFields", "resourceVersion", "generation"):
        meta.pop(key, None)
    return out


def _protected(obj: JSON) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return any(annotations.get(k) == v for k, v in PROTECTED)


def _immutable(err: ApiError) -> bool:
    return err.status == 422 and "immutable" in err.message


class Applier:
    def __init__(
        self,
        client: KubeClient,
        mapper: RestMapper,
        *,
        force: bool = False,
        concurrency: int = 16,
        timeout: float = 120.0,
    ):
        self.client = client
        self.mapper = mapper
        self.force = force
        self.timeout = timeout
        self._limit = asyncio.Semaphore(concurrency)

    async def apply(self, objects: list[JSON]) -> list[Applied]:
        """Apply `objects` (already labelled with their owner) in two stages."""
        first = [o for o in objects if (ref_of(o).group, o["kind"]) in _FIRST]
        rest = [o for o in objects if (ref_of(o).group, o["kind"]) not in _FIRST]
        results = await self._stage(first)
        if first:
            await wait_established(
                self.client, [r.result or {} for r in results if r.result is not None], self.timeout
            )
            if any(o["kind"] == "CustomResourceDefinition" for o in first):
                await self.mapper.refresh()
        return results + await self._stage(rest)

    async def _stage(self, objects: list[JSON]) -> list[Applied]:
        plans = await asyncio.gather(*(self._plan(o) for o in objects), return_exceptions=True)
        problems = [
            f"{ref_of(o)}: {_describe(p)}"
            for o, p in zip(objects, plans, strict=True)
            if isinstance(p, BaseException)
        ]
        if problems:
            raise ApplyFailed(problems)
        done = await asyncio.gather(
            *(
                self._execute(o, p)
                for o, p in zip(objects, plans, strict=True)
                if not isinstance(p, BaseException)
            ),
            return_exceptions=True,
        )
        failures = [f"{r}" for r in done if isinstance(r, BaseException)]
        if failures:
            raise ApplyFailed(failures)
        return [r for r in done if isinstance(r, Applied)]

    async def _plan(self, obj: JSON) -> _Plan:
        async with self._limit:
            mode = _annotation(obj, SSA) or "Override"
            path = await self.mapper.path_for(obj)
            if mode == "Ignore":
                return _Plan(path, None, None, skip=True)
            live = await self._get(path)
            if mode == "IfNotPresent" and live is not None:
                return _Plan(path, live, None, skip=True)
            protected = live is not None and (_protected(obj) or _protected(live))
            try:
                dry = await self.client.apply(
                    path, obj, field_manager=FIELD_MANAGER, force=mode != "Merge", dry_run=True
                )
            except ApiError as err:
                if _immutable(err) and self._may_recreate(obj) and not protected:
                    return _Plan(path, live, None, recreate=True)
                raise
            return _Plan(path, live, dry, protected=protected)

    async def _execute(self, obj: JSON, plan: _Plan) -> Applied:
        ref = ref_of(obj)
        if plan.skip:
            return Applied(ref, "skipped", plan.live)
        changed: tuple[str, ...] = ()
        if plan.live is not None and plan.dry is not None:
            if _comparable(plan.dry) == _comparable(plan.live):
                return Applied(ref, "unchanged", plan.live)
            changed = tuple(diff_paths(projection(obj, plan.live), projection(obj, plan.dry)))
        if plan.protected:
            return Applied(ref, "protected", plan.live, changed)
        async with self._limit:
            try:
                if plan.recreate:
                    await self._delete_and_wait(plan.path)
                    result = await self._apply(plan.path, obj)
                    return Applied(ref, "created", result)
                result = await self._apply(plan.path, obj)
            except ApiError as err:
                raise ApplyFailed([f"{ref}: {_describe(err)}"]) from err
        return Applied(ref, "created" if plan.live is None else "configured", result, changed)

    async def _apply(self, path: str, obj: JSON) -> JSON:
        mode = _annotation(obj, SSA) or "Override"
        return await self.client.apply(
            path, obj, field_manager=FIELD_MANAGER, force=mode != "Merge"
        )

    def _may_recreate(self, obj: JSON) -> bool:
        return self.force or _annotation(obj, FORCE) == "enabled"

    async def _get(self, path: str) -> JSON | None:
        try:
            return await self.client.get(path)
        except ApiError as err:
            if err.not_found:
                return None
            raise

    async def _delete_and_wait(self, path: str) -> None:
        try:
            await self.client.delete(path, params={"propagationPolicy": "Background"})
        except ApiError as err:
            if not err.not_found:
                raise
        deadline = asyncio.get_running_loop().time() + self.timeout
        while await self._get(path) is not None:
            if asyncio.get_running_loop().time() > deadline:
                raise ApplyFailed([f"{path}: still terminating after {self.timeout:.0f}s"])
            await asyncio.sleep(0.1)


@dataclass(frozen=True)
class _Plan:
    path: str
    live: JSON | None
    dry: JSON | None
    skip: bool = False
    recreate: bool = False
    protected: bool = False


def _describe(err: BaseException) -> str:
    if isinstance(err, ApiError):
        return err.message
    return str(err) or type(err).__name__


def projection(desired: Any, actual: Any) -> Any:
    """`actual` cut down to the shape of `desired`: the fields a manifest sets, with the
    values the server holds for them (lists whole). Comparing the projection of the
    live object with that of the applied one tells whether someone changed a field we
    manage, ignoring everything others (controllers, defaults) own."""
    if isinstance(desired, dict) and isinstance(actual, dict):
        return {k: projection(v, actual.get(k)) for k, v in desired.items() if k not in ("status",)}
    return actual


def diff_paths(live: Any, desired: Any, prefix: str = "") -> list[str]:
    """Readable differences between two projections: `spec.replicas: 1 → 3`."""
    if isinstance(live, dict) and isinstance(desired, dict):
        out: list[str] = []
        for key in sorted(set(live) | set(desired), key=str):
            out += diff_paths(live.get(key), desired.get(key), f"{prefix}.{key}" if prefix else key)
        return out
    if live == desired:
        return []

    def short(v: Any) -> str:
        text = repr(v) if not isinstance(v, (dict, list)) else type(v).__name__
        return text if len(text) <= 40 else text[:37] + "..."

    return [f"{prefix}: {short(live)} → {short(desired)}"]
