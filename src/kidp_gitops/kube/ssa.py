"""The resource manager: the one place that sends server-side apply and dry-run requests.

The Kustomization controller, Helm's drift detection, `kidp install`, `kidp up`,
`kidp create` and `kidp diff` all go through it, so what `kidp diff` shows is what the
controller does: both call `plan`, with the same policy.

    manager = ResourceManager(client, mapper, Policy(field_manager="kidp"))
    plans = await manager.plan(objects)         dry run + compare: what would change
    done = await manager.execute(plans)         write what the plans say
    done = await manager.apply(objects)         both, in stages: CRDs and Namespaces
                                                first (waited for), then the rest
    await manager.put(obj)                      one forced apply, no plan
    await manager.wait(refs, timeout)           until every object is Current (kstatus,
                                                or the caller's `reader` for some kinds)
    await manager.delete(ref, owned=…)          delete, if still ours

Planning one object:

    its mode (the policy's annotation: Override, Merge, IfNotPresent, Ignore):
        Ignore → skip; IfNotPresent and present → skip;
    dry-run it (server-side, forced, under the policy's field manager) — one invalid
    object fails the stage before anything of it is written;
        an immutable field changed and recreating is allowed → recreate;
    live and protected (an annotation of the policy's) → protected: nothing written,
    the fields that differ reported;
    dry-run result equal to live (status and bookkeeping aside) → unchanged, no write;
    else create / update.

Before updating an Override object, the fields that the policy's `take_over` managers hold
(kubectl's edits, patches, client-side applies) are handed to our field manager and the
policy's `drop_annotations` removed, as Flux does: the apply then removes what a person
added by hand instead of keeping it beside Git's. When those fields are what fails the
dry run (Git's port beside the one kubectl renamed, under one name), they are handed
over at once and the dry run repeated.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from kidp_gitops.kube import compare, kstatus
from kidp_gitops.kube.client import JSON, JSON_PATCH, KubeClient
from kidp_gitops.kube.errors import ApiError, KubeError
from kidp_gitops.kube.mapper import RestMapper, UnknownKind
from kidp_gitops.kube.patch import Manager, take_over_patch
from kidp_gitops.kube.ref import ObjRef, ref_of

Mode = Literal["Override", "Merge", "IfNotPresent", "Ignore"]
Step = Literal["create", "update", "unchanged", "skip", "protected", "recreate"]
Action = Literal["created", "configured", "unchanged", "skipped", "protected"]
MODES: tuple[Mode, ...] = ("Override", "Merge", "IfNotPresent", "Ignore")
# Applied first and waited for: what the rest may need to exist (kinds, namespaces).
FIRST_STAGE = {("apiextensions.k8s.io", "CustomResourceDefinition"), ("", "Namespace")}


@dataclass(frozen=True)
class Policy:
    """How a manager applies: who it is, whose fields it takes, what steers it."""

    field_manager: str
    take_over: tuple[Manager, ...] = ()
    """Managers whose fields an Override update takes over first."""
    drop_annotations: tuple[str, ...] = ()
    """Annotations a take-over removes (kubectl's last-applied configuration)."""
    mode_annotation: str | None = None
    """The annotation that sets an object's mode; Override without one."""
    recreate_annotation: str | None = None
    """The annotation that, set to `enabled`, lets an immutable change recreate the object."""
    recreate: bool = False
    """Recreate every object whose immutable fields change (a Kustomization's spec.force)."""
    protected: tuple[tuple[str, str], ...] = ()
    """Annotations (key, value) that protect an object: created when missing, never changed."""
    keep_live: Callable[[JSON], Sequence[str]] | None = None
    """JSON pointers whose live values an apply keeps (Helm's drift ignore rules): they
    neither count as a change nor change."""

    def mode(self, obj: JSON) -> Mode:
        value = _annotation(obj, self.mode_annotation) if self.mode_annotation else ""
        return value if value in MODES else "Override"

    def protects(self, obj: JSON) -> bool:
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        return any(annotations.get(k) == v for k, v in self.protected)

    def may_recreate(self, obj: JSON) -> bool:
        return self.recreate or (
            self.recreate_annotation is not None
            and _annotation(obj, self.recreate_annotation) == "enabled"
        )

    def others_fields(self, live: JSON) -> list[str]:
        """The managers of `live` whose fields an update takes over, plus the annotations
        it drops, as found: empty for an object only we and other controllers wrote."""
        meta = live.get("metadata") or {}
        names = [
            str(e.get("manager"))
            for e in meta.get("managedFields") or []
            if e.get("manager") != self.field_manager or e.get("operation") != "Apply"
            if any(m.matches(e) for m in self.take_over)
        ]
        present = meta.get("annotations") or {}
        return names + [a for a in self.drop_annotations if a in present]

    def must_take_over(self, manifest: JSON, live: JSON) -> bool:
        """Whether an apply of `manifest` first takes the others' fields of `live`: an
        Override apply of an unprotected object they wrote to. Such an object has
        drifted even when every value the manifest sets is intact (a label kubectl added)."""
        return (
            self.mode(manifest) == "Override"
            and self.mode(live) != "Merge"
            and not (self.protects(manifest) or self.protects(live))
            and bool(self.others_fields(live))
        )

    def taken_over(self, live: JSON) -> list[str]:
        """What a take-over changes besides the manifest's fields, for the record."""
        found = self.others_fields(live)
        managers = sorted({n for n in found if n not in self.drop_annotations})
        out = (
            [f"metadata.managedFields: {', '.join(managers)} → {self.field_manager}"]
            if managers
            else []
        )
        out += [f"metadata.annotations.{a}: present → absent" for a in found if a not in managers]
        return out


@dataclass(frozen=True)
class Plan:
    """What applying one object would do, decided by a dry run."""

    ref: ObjRef
    manifest: JSON
    """What an apply sends (with the live values the policy keeps)."""
    path: str
    step: Step
    live: JSON | None = None
    dry: JSON | None = None
    """What the server would store; None when nothing was dry-run (skipped, recreated,
    or created with a definition or namespace that comes in the same change)."""
    take_over: bool = False
    """The others' fields are to be taken over before the apply."""
    taken: bool = False
    """They were taken over already, because the dry run failed with them."""
    kept: tuple[str, ...] = ()
    """JSON pointers whose live values the apply keeps."""
    note: str = ""
    """Why a step was decided without a dry run (for `kidp diff`)."""

    def changes(self, policy: Policy) -> list[str]:
        """The managed fields that would change, readable (`spec.replicas: 1 → 3`);
        Secret values masked."""
        if self.live is None or self.dry is None:
            return []
        secret = self.ref.kind == "Secret" and not self.ref.group
        before = compare.projection(self.manifest, self.live)
        out = compare.diff_paths(before, compare.projection(self.manifest, self.dry), secret=secret)
        if self.take_over or self.taken:
            out += policy.taken_over(self.live)
        return out

    def pointers(self) -> list[str]:
        """The JSON pointers at which the stored object would differ from the live one."""
        if self.live is None or self.dry is None:
            return []
        return list(
            compare.pointers(
                compare.comparable(self.live, self.kept), compare.comparable(self.dry, self.kept)
            )
        )


@dataclass(frozen=True)
class Applied:
    ref: ObjRef
    action: Action
    result: JSON | None
    """The object as the server answered (canonical form); None when skipped."""
    changed: tuple[str, ...] = ()
    """The managed fields that differed (for configured and protected objects)."""


class ApplyFailed(KubeError):
    """One or more objects failed the dry run or the apply; nothing of the failing stage
    was written when the dry run failed."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class MissingNamespace(KubeError):
    """A namespaced object without a namespace: nothing to apply it to."""


StatusReader = Callable[[JSON], Awaitable["kstatus.Result | None"]]
"""The health of a live object by the caller's rules (a Kustomization's CEL health
checks), or None where kstatus decides."""


class Unhealthy(KubeError):
    def __init__(self, message: str, failed: bool):
        super().__init__(message)
        self.failed = failed


class Superseded(Exception):
    """Something newer arrived while waiting (a caller's `superseded` said so)."""


class ResourceManager:
    def __init__(
        self,
        client: KubeClient,
        mapper: RestMapper,
        policy: Policy,
        *,
        concurrency: int = 16,
        timeout: float = 120.0,
    ):
        self.client = client
        self.mapper = mapper
        self.policy = policy
        self.timeout = timeout
        self._limit = asyncio.Semaphore(concurrency)

    # ---- apply ----------------------------------------------------------------------

    async def apply(self, objects: list[JSON]) -> list[Applied]:
        """Plan and execute `objects` in two stages; results in the order of `objects`."""
        first = [o for o in objects if _first_stage(o)]
        rest = [o for o in objects if not _first_stage(o)]
        done = await self.execute(await self.plan(first))
        if first:
            await self._established([a.result for a in done if a.result is not None])
            if any(o["kind"] == "CustomResourceDefinition" for o in first):
                await self.mapper.refresh()
        done += await self.execute(await self.plan(rest))
        by_ref = {a.ref.key(): a for a in done}
        return [by_ref[ref_of(o).key()] for o in objects]

    async def plan(self, objects: list[JSON], *, ahead: bool = False) -> list[Plan]:
        """One plan per object (in order), or ApplyFailed naming every object whose dry
        run failed. `ahead`: nothing of `objects` is applied yet (a diff before merge), so
        an object whose CRD or Namespace is among them is planned as created."""
        coming = _coming(objects) if ahead else _Coming()
        found = await asyncio.gather(
            *(self._plan(o, coming) for o in objects), return_exceptions=True
        )
        problems = [
            f"{ref_of(o)}: {_describe(p)}"
            for o, p in zip(objects, found, strict=True)
            if isinstance(p, BaseException)
        ]
        if problems:
            raise ApplyFailed(problems)
        return [p for p in found if isinstance(p, Plan)]

    async def execute(self, plans: list[Plan]) -> list[Applied]:
        """Write what `plans` say (in order); ApplyFailed names the objects that failed."""
        done = await asyncio.gather(*(self._execute(p) for p in plans), return_exceptions=True)
        failures = [str(r) for r in done if isinstance(r, BaseException)]
        if failures:
            raise ApplyFailed(failures)
        return [r for r in done if isinstance(r, Applied)]

    async def put(self, obj: JSON, path: str | None = None) -> JSON:
        """Apply `obj` at once (forced, no plan; at `path` when the caller knows it): for
        objects that only their writer changes and that a dry run would not spare a write
        (a HelmRelease's HelmChart, `kidp create`). Returns what the server stored."""
        return await self._apply(path or await self.mapper.path_for(obj), obj)

    async def _plan(self, manifest: JSON, coming: _Coming) -> Plan:
        async with self._limit:
            ref = ref_of(manifest)
            mode = self.policy.mode(manifest)
            try:
                resource = await self.mapper.resource_for(manifest)
            except UnknownKind:
                if (ref.group, ref.kind) in coming.kinds:
                    note = "its CustomResourceDefinition comes with it"
                    return Plan(ref, manifest, "", "create", note=note)
                raise
            meta = manifest.get("metadata") or {}
            if resource.namespaced and not meta.get("namespace"):
                # Else its path is the cluster-wide list: "could not find the resource".
                raise MissingNamespace(
                    "namespaced, but metadata.namespace is not set: set it in Git, or "
                    "spec.targetNamespace"
                )
            path = resource.path(meta.get("namespace"), meta.get("name"))
            if mode == "Ignore":
                return Plan(ref, manifest, path, "skip")
            live = await self._get(path)
            if mode == "IfNotPresent" and live is not None:
                return Plan(ref, manifest, path, "skip", live)
            kept: tuple[str, ...] = ()
            if live is not None and self.policy.keep_live is not None:
                kept = tuple(self.policy.keep_live(manifest))
                manifest = copy.deepcopy(manifest)
                for at in kept:
                    compare.take(manifest, live, at)
            protected = live is not None and (
                self.policy.protects(manifest) or self.policy.protects(live)
            )
            hand_over = live is not None and self.policy.must_take_over(manifest, live)
            taken = False
            try:
                dry = await self._dry_run(path, manifest)
            except ApiError as err:
                if live is None and err.not_found and ref.namespace in coming.namespaces:
                    note = "its Namespace comes with it"
                    return Plan(ref, manifest, path, "create", note=note)
                if _immutable(err) and self.policy.may_recreate(manifest) and not protected:
                    return Plan(ref, manifest, path, "recreate", live, note=err.message)
                # The others' fields can be what makes the manifest invalid (a list
                # entry's new key kept beside Git's): hand them over, then try again.
                if live is None or not hand_over or err.status != 422 or _immutable(err):
                    raise
                if not await self.take_over(path, live):
                    raise
                dry = await self._dry_run(path, manifest)
                taken = True
            step: Step
            if live is None:
                step = "create"
            elif protected:
                step = "protected"
            elif (hand_over or taken) or compare.comparable(dry, kept) != compare.comparable(
                live, kept
            ):
                step = "update"
            else:
                step = "unchanged"
            return Plan(ref, manifest, path, step, live, dry, hand_over and not taken, taken, kept)

    async def _execute(self, plan: Plan) -> Applied:
        if plan.step == "skip":
            return Applied(plan.ref, "skipped", plan.live)
        if plan.step == "unchanged":
            return Applied(plan.ref, "unchanged", plan.live)
        if plan.step == "protected":
            return Applied(plan.ref, "protected", plan.live, tuple(plan.changes(self.policy)))
        if not plan.path:  # planned ahead of its CRD, which is served now
            plan = replace(plan, path=await self.mapper.path_for(plan.manifest))
        async with self._limit:
            try:
                if plan.step == "recreate":
                    await self._delete(plan.path, wait=True)
                    return Applied(plan.ref, "created", await self._apply(plan.path, plan.manifest))
                if plan.take_over and plan.live is not None:
                    plan = replace(plan, taken=await self.take_over(plan.path, plan.live))
                result = await self._apply(plan.path, plan.manifest)
            except (KubeError, TimeoutError) as err:
                raise ApplyFailed([f"{plan.ref}: {_describe(err)}"]) from err
        if plan.live is None:
            return Applied(plan.ref, "created", result)
        done = replace(plan, dry=result, take_over=False)
        return Applied(plan.ref, "configured", result, tuple(done.changes(self.policy)))

    async def _dry_run(self, path: str, obj: JSON) -> JSON:
        return await self.client.apply(
            path, obj, field_manager=self.policy.field_manager, force=True, dry_run=True
        )

    async def _apply(self, path: str, obj: JSON) -> JSON:
        # Always forced, Merge too (as Flux): the manifest's values win over any other
        # manager's.
        return await self.client.apply(
            path, obj, field_manager=self.policy.field_manager, force=True
        )

    async def take_over(self, path: str, live: JSON, *, attempts: int = 10) -> bool:
        """Give our field manager the fields the policy's `take_over` managers hold in
        the object at `path` (read as `live`) and drop its `drop_annotations` (see
        `patch.take_over_patch`). When the object changed since it was read (a controller
        writing its status, say), read it again and retry. Whether a patch was written."""
        obj = live
        owner = self.policy.field_manager
        for _ in range(attempts):
            ops = take_over_patch(obj, self.policy.take_over, owner, self.policy.drop_annotations)
            if ops is None:
                return False
            try:
                await self.client.request(
                    "PATCH", path, params={"fieldManager": owner}, body=ops, content_type=JSON_PATCH
                )
                return True
            except ApiError as err:
                # A failed test answers 422 with no details: tell it from a bad patch by
                # whether the object really moved on.
                if not (err.conflict or err.status == 422):
                    raise
                fresh = await self.client.get(path)
                if _version(fresh) == _version(obj):
                    raise
                obj = fresh
        raise KubeError(
            f"{ref_of(live)}: changed {attempts} times while its field managers were taken over"
        )

    async def _established(self, objects: list[JSON]) -> None:
        """Wait until every CRD is Established and every Namespace Active."""
        deadline = time.monotonic() + self.timeout
        for obj in objects:
            path = await self.mapper.path_for(obj)
            while not _settled(await self.client.get(path)):
                if time.monotonic() > deadline:
                    raise ApplyFailed([f"{ref_of(obj)}: not ready after {self.timeout:.0f}s"])
                await asyncio.sleep(0.1)

    # ---- wait -----------------------------------------------------------------------

    async def status_of(self, ref: ObjRef, reader: StatusReader | None = None) -> kstatus.Result:
        resource = await self.mapper.resource(ref.api_version, ref.kind)
        obj = await self._get(resource.path(ref.namespace or None, ref.name))
        if obj is None:
            return kstatus.Result(kstatus.Status.NOT_FOUND, "not found")
        found = await reader(obj) if reader is not None else None
        return found if found is not None else kstatus.compute(obj)

    async def wait(
        self,
        refs: list[ObjRef],
        timeout: float,
        superseded: Callable[[], bool] = lambda: False,
        poll: float = 0.5,
        reader: StatusReader | None = None,
    ) -> None:
        """Poll until every object is Current (kstatus, or what `reader` says of it);
        Unhealthy when one is Failed or the timeout passes, naming the objects and why;
        Superseded when `superseded()`."""
        deadline = time.monotonic() + timeout
        pending = list(refs)
        while True:
            results = await asyncio.gather(*(self.status_of(r, reader) for r in pending))
            failed = [
                (r, s)
                for r, s in zip(pending, results, strict=True)
                if s.status == kstatus.Status.FAILED
            ]
            if failed:
                raise Unhealthy(_health(failed), failed=True)
            waiting = [
                (r, s)
                for r, s in zip(pending, results, strict=True)
                if s.status != kstatus.Status.CURRENT
            ]
            if not waiting:
                return
            if superseded():
                raise Superseded
            if time.monotonic() > deadline:
                raise Unhealthy(f"timeout waiting for: {_health(waiting)}", failed=False)
            pending = [r for r, _ in waiting]
            await asyncio.sleep(poll)

    # ---- delete ---------------------------------------------------------------------

    async def delete(
        self,
        ref: ObjRef,
        *,
        owned: Callable[[JSON], bool] = lambda _: True,
        wait: bool = False,
    ) -> bool:
        """Delete the object (in the background) if it exists and `owned(live)` says it
        is still ours to delete; with `wait`, until it is gone. Whether it was deleted."""
        try:
            resource = await self.mapper.resource(ref.api_version, ref.kind)
        except UnknownKind:
            return False  # its CRD is gone, and with it the object
        path = resource.path(ref.namespace or None, ref.name)
        live = await self._get(path)
        if live is None or not owned(live):
            return False
        return await self._delete(path, wait=wait)

    async def _delete(self, path: str, *, wait: bool) -> bool:
        try:
            await self.client.delete(path, params={"propagationPolicy": "Background"})
        except ApiError as err:
            if not err.not_found:
                raise
            return False
        deadline = time.monotonic() + self.timeout
        while wait and await self._get(path) is not None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"still terminating after {self.timeout:.0f}s")
            await asyncio.sleep(0.1)
        return True

    async def _get(self, path: str) -> JSON | None:
        try:
            return await self.client.get(path)
        except ApiError as err:
            if err.not_found:
                return None
            raise


@dataclass(frozen=True)
class _Coming:
    """What a change brings that the cluster does not serve yet."""

    kinds: set[tuple[str, str]] = field(default_factory=set)
    namespaces: set[str] = field(default_factory=set)


def _coming(objects: list[JSON]) -> _Coming:
    return _Coming(
        {
            (o["spec"]["group"], o["spec"]["names"]["kind"])
            for o in objects
            if o.get("kind") == "CustomResourceDefinition" and o.get("spec")
        },
        {o["metadata"]["name"] for o in objects if o.get("kind") == "Namespace"},
    )


def _first_stage(obj: JSON) -> bool:
    return (ref_of(obj).group, obj.get("kind")) in FIRST_STAGE


def _annotation(obj: JSON, key: str) -> str:
    return str(((obj.get("metadata") or {}).get("annotations") or {}).get(key, ""))


def _immutable(err: ApiError) -> bool:
    return err.status == 422 and "immutable" in err.message


def _settled(obj: JSON) -> bool:
    status = obj.get("status") or {}
    if obj.get("kind") == "Namespace":
        return status.get("phase") == "Active"
    return any(
        c.get("type") == "Established" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _version(obj: JSON) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


def _health(items: list[tuple[ObjRef, kstatus.Result]]) -> str:
    return ", ".join(
        f"[{r}] status: '{s.status.value}'" + (f" ({s.message})" if s.message else "")
        for r, s in items
    )


def _describe(err: BaseException) -> str:
    if isinstance(err, ApiError):
        return err.message
    return str(err) or type(err).__name__
