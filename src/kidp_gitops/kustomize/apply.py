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

Before applying an existing object (Override), the fields that kubectl's managers own
(`kubectl edit`, `patch`, `apply`…) are handed to our field manager and kubectl's
last-applied annotation is dropped, as Flux does: the apply then removes what a person
added by hand — a renamed container, a new port — instead of keeping it beside Git's.
Merge keeps those fields; only objects whose live managedFields hold such managers cost
the extra patch. It comes after the dry runs, unless kubectl's fields are what fails an
object's dry run (Git's port beside the one kubectl renamed, under one name): then they
are handed over at once and the dry run repeated.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
from typing import Any, Literal

from kidp_gitops.kube.apply import take_over, wait_established
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.errors import ApiError, KubeError
from kidp_gitops.kube.mapper import RestMapper
from kidp_gitops.kube.patch import Manager
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
# Whose fields an Override apply takes over first (Flux's list): every kubectl command
# (kubectl-edit, kubectl-patch, kubectl-client-side-apply… as Update; `kubectl apply
# --server-side` as Apply), the placeholder for fields set before the first server-side
# apply, and our own non-apply writes. Other controllers' fields stay theirs.
TAKE_OVER = (
    Manager("kubectl", "Update"),
    Manager("kubectl", "Apply"),
    Manager("before-first-apply", "Update"),
    Manager(FIELD_MANAGER, "Update"),
)
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


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
            resource = await self.mapper.resource_for(obj)
            meta = obj.get("metadata") or {}
            if resource.namespaced and not meta.get("namespace"):
                # Else its path is the cluster-wide list: "could not find the resource".
                raise MissingNamespace(
                    "namespaced, but metadata.namespace is not set: set it in Git, or "
                    "spec.targetNamespace"
                )
            path = resource.path(meta.get("namespace"), meta.get("name"))
            if mode == "Ignore":
                return _Plan(path, None, None, skip=True)
            live = await self._get(path)
            if mode == "IfNotPresent" and live is not None:
                return _Plan(path, live, None, skip=True)
            protected = live is not None and (_protected(obj) or _protected(live))
            hand_over = live is not None and holds_kubectl_fields(obj, live)
            try:
                dry = await self._dry_run(path, obj)
            except ApiError as err:
                if _immutable(err) and self._may_recreate(obj) and not protected:
                    return _Plan(path, live, None, recreate=True)
                # kubectl's fields can be what makes Git's object invalid (a list entry's
                # new key kept beside Git's): hand them over, then try once more.
                if live is None or not hand_over or err.status != 422 or _immutable(err):
                    raise
                if not await self._take_over(path, live):
                    raise
                dry = await self._dry_run(path, obj)
                return _Plan(path, live, dry, protected=protected, taken=True)
            return _Plan(path, live, dry, protected=protected, take_over=hand_over)

    async def _execute(self, obj: JSON, plan: _Plan) -> Applied:
        ref = ref_of(obj)
        if plan.skip:
            return Applied(ref, "skipped", plan.live)
        secret = obj.get("kind") == "Secret" and not ref.group
        if (
            plan.live is not None
            and plan.dry is not None
            and not (plan.take_over or plan.taken)
            and _comparable(plan.dry) == _comparable(plan.live)
        ):
            return Applied(ref, "unchanged", plan.live)
        if plan.protected:
            live, dry = projection(obj, plan.live), projection(obj, plan.dry)
            return Applied(ref, "protected", plan.live, tuple(diff_paths(live, dry, secret=secret)))
        async with self._limit:
            try:
                if plan.recreate:
                    await self._delete_and_wait(plan.path)
                    result = await self._apply(plan.path, obj)
                    return Applied(ref, "created", result)
                taken = plan.taken or (
                    plan.live is not None
                    and plan.take_over
                    and await self._take_over(plan.path, plan.live)
                )
                result = await self._apply(plan.path, obj)
            except KubeError as err:
                raise ApplyFailed([f"{ref}: {_describe(err)}"]) from err
        if plan.live is None:
            return Applied(ref, "created", result)
        before = projection(obj, plan.live)
        changed = diff_paths(before, projection(obj, result), secret=secret)
        if taken:
            changed += _taken_over(plan.live)
        return Applied(ref, "configured", result, tuple(changed))

    async def _dry_run(self, path: str, obj: JSON) -> JSON:
        return await self.client.apply(
            path, obj, field_manager=FIELD_MANAGER, force=True, dry_run=True
        )

    async def _take_over(self, path: str, live: JSON) -> bool:
        return await take_over(self.client, path, live, TAKE_OVER, FIELD_MANAGER, [LAST_APPLIED])

    async def _apply(self, path: str, obj: JSON) -> JSON:
        # Always forced, Merge too (as Flux): Git's values win over any other manager's.
        return await self.client.apply(path, obj, field_manager=FIELD_MANAGER, force=True)

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
    take_over: bool = False
    """kubectl's managers hold fields of the live object: hand them to us first."""
    taken: bool = False
    """They were handed over already, because the dry run failed with them."""


def kubectl_fields(live: JSON) -> list[str]:
    """The managers of `live` whose fields an Override apply takes over (plus kubectl's
    last-applied annotation, when present): empty for an object only we and other
    controllers wrote."""
    meta = live.get("metadata") or {}
    names = [
        str(e.get("manager"))
        for e in meta.get("managedFields") or []
        if e.get("manager") != FIELD_MANAGER or e.get("operation") != "Apply"
        if any(m.matches(e) for m in TAKE_OVER)
    ]
    if LAST_APPLIED in (meta.get("annotations") or {}):
        names.append(LAST_APPLIED)
    return names


def holds_kubectl_fields(manifest: JSON, live: JSON) -> bool:
    """Whether an apply of `manifest` must first take kubectl's fields of `live` over:
    an Override apply of an unprotected object that kubectl's managers wrote to. Such an
    object has drifted even when every value Git sets is intact (a label kubectl added)."""
    return (
        _annotation(manifest, SSA) not in ("Merge", "IfNotPresent", "Ignore")
        and _annotation(live, SSA) != "Merge"
        and not (_protected(manifest) or _protected(live))
        and bool(kubectl_fields(live))
    )


def _taken_over(live: JSON) -> list[str]:
    """What the take-over changed besides Git's fields, for the event: the managers whose
    fields are now ours, and the dropped annotation."""
    found = kubectl_fields(live)
    managers = sorted({n for n in found if n != LAST_APPLIED})
    out = [f"metadata.managedFields: {', '.join(managers)} → {FIELD_MANAGER}"] if managers else []
    if LAST_APPLIED in found:
        out.append(f"metadata.annotations.{LAST_APPLIED}: present → absent")
    return out


class MissingNamespace(Exception):
    """A namespaced object without a namespace: nothing to apply it to."""


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


def diff_paths(live: Any, desired: Any, prefix: str = "", *, secret: bool = False) -> list[str]:
    """Readable differences between two projections: `spec.replicas: 1 → 3`. Lists of
    named entries are compared entry by entry (`…containers[name=web].ports
    [containerPort=8080]: present → absent`); a Secret's values are never shown."""
    if isinstance(live, dict) and isinstance(desired, dict):
        out: list[str] = []
        for key in sorted(set(live) | set(desired), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            out += diff_paths(
                live.get(key, _ABSENT), desired.get(key, _ABSENT), path, secret=secret
            )
        return out
    if isinstance(live, list) or isinstance(desired, list):
        entries = _keyed(live, desired)
        if entries is not None:
            out = []
            for label, (old, new) in entries.items():
                out += diff_paths(old, new, f"{prefix}[{label}]", secret=secret)
            return out
    if live == desired:
        return []
    hidden = secret and prefix.split(".")[0] in ("data", "stringData")

    def short(v: Any) -> str:
        if v is _ABSENT:
            return "absent"
        if hidden:
            return "******"
        if isinstance(v, (dict, list)):
            return "present" if live is _ABSENT or desired is _ABSENT else type(v).__name__
        # Whole: a value from a Secret is masked by the report (runtime/redact), which
        # cannot recognise a cut one; the report shortens lines after masking.
        return repr(v)

    return [f"{prefix}: {short(live)} → {short(desired)}"]


class _Absent:
    """A key or list entry one side does not have."""

    def __repr__(self) -> str:
        return "absent"


_ABSENT: Any = _Absent()
# Keys that name a list's entries (the merge keys of the Kubernetes API's common lists).
_LIST_KEYS = ("name", "containerPort", "port", "mountPath", "devicePath", "ip")


def _keyed(live: Any, desired: Any) -> dict[str, tuple[Any, Any]] | None:
    """The entries of two lists (a missing list counts as empty) paired by a key that
    names every entry once, or by position when the lengths agree; None otherwise."""
    old = live if isinstance(live, list) else [] if live in (None, _ABSENT) else None
    new = desired if isinstance(desired, list) else [] if desired in (None, _ABSENT) else None
    if old is None or new is None:
        return None
    for key in _LIST_KEYS:
        if all(isinstance(e, dict) and key in e for e in old + new):
            old_by = {str(e[key]): e for e in old}
            new_by = {str(e[key]): e for e in new}
            if len(old_by) == len(old) and len(new_by) == len(new):
                names = list(old_by) + [n for n in new_by if n not in old_by]
                return {
                    f"{key}={n}": (old_by.get(n, _ABSENT), new_by.get(n, _ABSENT)) for n in names
                }
    if len(old) == len(new) and old and isinstance(live, list) and isinstance(desired, list):
        return {str(i): pair for i, pair in enumerate(zip(old, new, strict=True))}
    return None
