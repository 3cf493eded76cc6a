"""What every reconciler of a Flux object shares, so each controller writes only its story.

`Lifecycle.reconcile` does the set-up and the guards, in Flux's order:

    get the object (gone → forget its metrics)
    being deleted → finalize(), then drop our finalizer
    no finalizer yet → add it
    suspended → record it, do nothing else
    a field kidp does not implement set (api.refused) → Stalled, UnsupportedField
    a CEL expression that does not compile (cel.fields) → Stalled, InvalidCELExpression
    otherwise → run(obj, status), the subclass's steps, on a copy of the status

and then, on every exit path, patches the status once (only what changed), and records
the duration and conditions metrics. An error raised by `run` becomes conditions and a
Warning event here, in one place:

    StalledError   Stalled=True, Ready=False           no retry until the spec changes
    WaitingError   Ready=False, Reconciling=True       requeued after its delay
    ReconcileError Ready=False, Reconciling=True       retried with backoff
    other          Ready=False (ReconciliationFailed)  retried with backoff

A reconciler is a `TypedReconciler[ObjT, StatusT]`: it gets its object parsed once as
its kind's model from `api/` (an invalid one is Stalled, InvalidSpec) and the status as
its status model (`runtime.status`: parsed from and dumped back to the dict the patch
is computed from); its controller's table (`runtime.failures`) says what each of its
errors means.
"""

from __future__ import annotations

import copy
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar, cast

from pydantic import BaseModel, ValidationError

from kidp_gitops.api import meta
from kidp_gitops.api.refused import UNSUPPORTED_FIELD, refused_fields
from kidp_gitops.api.wellknown import REQUESTED_AT
from kidp_gitops.cel import fields as cel_fields
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.kube.patch import merge_patch
from kidp_gitops.runtime import conditions, failures, metrics, redact
from kidp_gitops.runtime import status as typed_status
from kidp_gitops.runtime.events import EventRecorder, EventType
from kidp_gitops.runtime.reconcile import (
    ReconcileError,
    Request,
    Result,
    RetryError,
    StalledError,
    WaitingError,
)

log = logging.getLogger(__name__)

FINALIZER = "finalizers.fluxcd.io"
INVALID_SPEC = "InvalidSpec"
M = TypeVar("M", bound=BaseModel)
ObjT = TypeVar("ObjT", bound=meta.KubeObject[Any, Any])
StatusT = TypeVar("StatusT", bound=meta.ObjectStatus)


async def namespace_terminating(client: KubeClient, namespace: str) -> bool:
    """Whether `namespace` is being deleted (or gone). Its service accounts' rights may
    go first: a finalizer that waits on them would hold the namespace forever."""
    try:
        found = await client.get(f"/api/v1/namespaces/{namespace}")
    except ApiError as err:
        return err.not_found
    return bool(found["metadata"].get("deletionTimestamp"))


def parse(model: type[M], obj: JSON) -> M:
    """`obj` as `model`; else Stalled, InvalidSpec, naming the field and what is wrong
    (`invalid spec: spec.serviceAccountName: String should match pattern …`)."""
    try:
        return model.model_validate(obj)
    except ValidationError as err:
        raise StalledError(INVALID_SPEC, f"invalid spec: {meta.describe(err)[0]}") from err


# The field manager of each controller's own writes (finalizers, status), named as Flux's
# controllers name theirs, so whoever reads managedFields sees who wrote what.
FIELD_MANAGERS = {
    "Kustomization": "gotk-kustomize-controller",
    "GitRepository": "source-controller",
    "HelmRepository": "source-controller",
    "HelmChart": "source-controller",
    "OCIRepository": "source-controller",
    "Bucket": "source-controller",
    "HelmRelease": "helm-controller",
    "ImageRepository": "image-reflector-controller",
    "ImagePolicy": "image-reflector-controller",
    "ImageUpdateAutomation": "image-automation-controller",
    "Provider": "notification-controller",
    "Alert": "notification-controller",
    "Receiver": "notification-controller",
}


@dataclass
class _Written:
    """The status as last written for one reconcile (the base of the next patch)."""

    path: str
    status: dict[str, Any]
    initial: dict[str, Any]
    """The status as the reconcile found it."""
    owner: str
    """The object's key for `redact`: no value of its Secrets is written in its status."""


class Lifecycle(ABC):
    """The set-up, guards and status patch of every reconciler (see the module's
    docstring); a subclass supplies `_attempt`, which runs its steps."""

    kind: ClassVar[str]
    field_manager: ClassVar[str | None] = None
    """The field manager of the controller's writes through `self.client`; by default
    Flux's name for the controller of `kind` (FIELD_MANAGERS), else kidp-<kind>."""

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        events: EventRecorder,
        cache: Informer | None = None,
    ):
        manager = self.field_manager or FIELD_MANAGERS.get(self.kind, f"kidp-{self.kind.lower()}")
        self.client = client.managed_by(manager)
        self.resource = resource
        self.events = events
        self.cache = cache
        """The controller's informer of `kind`: a reconcile reads its object there
        instead of a GET when the copy is at least our last write."""
        self._wrote: dict[str, str] = {}
        """path → resourceVersion of our last write of the object (status, finalizers)."""

    @abstractmethod
    async def _attempt(self, obj: JSON, status: dict[str, Any], written: _Written) -> Result:
        """Run the steps on `obj`, leaving the status they reached in `status`;
        `written` is the base of a checkpoint's patch."""

    async def finalize(self, obj: JSON) -> None:  # noqa: B027 - optional hook
        """Clean up what the object owns before it goes (artifacts, pruned objects)."""

    async def reconcile(self, request: Request) -> Result:
        path = self.resource.path(request.namespace or None, request.name)
        try:
            obj = self._cached(request, path) or await self.client.get(path)
        except ApiError as err:
            if err.not_found:
                self._wrote.pop(path, None)
                redact.REDACTOR.forget(redact.owner_key(self.kind, request.namespace, request.name))
                metrics.record_deleted(
                    self.kind,
                    request.name,
                    request.namespace,
                    [conditions.READY, conditions.RECONCILING, conditions.STALLED],
                )
                return Result()
            raise
        obj.setdefault("apiVersion", self.resource.api_version)
        obj.setdefault("kind", self.kind)
        meta = obj["metadata"]
        refused = refused_fields(self.kind, obj)
        if meta.get("deletionTimestamp"):
            if FINALIZER in (meta.get("finalizers") or []):
                if not refused or _acted(obj):  # a refused object that never acted has
                    await self.finalize(obj)  # nothing to clean up
                await self._set_finalizers(obj, [f for f in meta["finalizers"] if f != FINALIZER])
            return Result()
        if FINALIZER not in (meta.get("finalizers") or []):
            obj = await self._set_finalizers(obj, [*(meta.get("finalizers") or []), FINALIZER])
            meta = obj["metadata"]
        suspended = bool((obj.get("spec") or {}).get("suspend"))
        metrics.record_suspend(self.kind, request.name, request.namespace, suspended)
        if suspended:
            log.info("%s %s is suspended", self.kind, request)
            return Result()

        found = obj.get("status") or {}
        owner = redact.owner_key(self.kind, request.namespace, request.name)
        written = _Written(path, copy.deepcopy(found), copy.deepcopy(found), owner)
        status = copy.deepcopy(written.status)
        requested = (meta.get("annotations") or {}).get(REQUESTED_AT)
        if requested:
            status["lastHandledReconcileAt"] = requested
        began = time.perf_counter()
        try:
            if refused:
                raise StalledError(UNSUPPORTED_FIELD, "; ".join(r.message() for r in refused))
            if invalid := cel_fields.problems(self.kind, obj):
                raise StalledError(cel_fields.INVALID_CEL_EXPRESSION, "; ".join(invalid))
            return await self._attempt(obj, status, written)
        except Exception as err:
            self._record_failure(obj, status, err)
            raise
        finally:
            status["observedGeneration"] = meta.get("generation", 0)
            await self._patch_status(written, status)
            metrics.RECONCILE_DURATION.labels(self.kind, request.name, request.namespace).observe(
                time.perf_counter() - began
            )
            metrics.record_conditions(
                self.kind, request.name, request.namespace, status.get("conditions") or []
            )

    def _cached(self, request: Request, path: str) -> JSON | None:
        """The informer's copy, unless it may be older than what we last wrote (then its
        status would be a wrong base for the next patch): an interval reconcile of an
        unchanged object then costs no request, as in controller-runtime."""
        if self.cache is None:
            return None
        found = self.cache.get(request.namespace or None, request.name)
        if found is None:
            return None
        wrote = self._wrote.get(path)
        if wrote is not None and found["metadata"].get("resourceVersion") != wrote:
            return None  # not caught up with our write yet, or changed since: read it
        return copy.deepcopy(found)

    def _remember_write(self, path: str, obj: JSON) -> None:
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if version:
            self._wrote[path] = str(version)

    def _record_failure(self, obj: JSON, status: dict[str, Any], err: Exception) -> None:
        generation = obj["metadata"].get("generation", 0)
        if isinstance(err, StalledError):
            conditions.mark_stalled(status, err.reason, err.message, generation)
        elif isinstance(err, ReconcileError):
            conditions.mark_retrying(status, err.reason, err.message, generation)
        else:
            message = f"unexpected error: {type(err).__name__}: {err}"
            conditions.mark_retrying(status, conditions.RECONCILIATION_FAILED, message, generation)
        ready = conditions.get(status, conditions.READY)
        if ready is None:
            return
        # Waiting is expected (a dependency is not ready yet): say it, but quietly, so an
        # Alert of eventSeverity error hears only of failures.
        expected = isinstance(err, WaitingError) and not isinstance(err, RetryError)
        self.events.record(
            obj, "Normal" if expected else "Warning", ready["reason"], ready["message"]
        )

    async def _patch_status(self, written: _Written, new: dict[str, Any]) -> None:
        for cond in new.get("conditions") or []:
            if isinstance(cond.get("message"), str):
                cond["message"] = redact.REDACTOR.text(written.owner, cond["message"])
        _keep_transition_times(written.initial, new)
        patch = merge_patch(written.status, new)
        if not patch:
            return  # nothing changed: no write
        try:
            self._remember_write(
                written.path, await self.client.patch(f"{written.path}/status", {"status": patch})
            )
        except ApiError as err:
            if not err.not_found:  # deleted meanwhile: nothing left to report on
                raise
        written.status = copy.deepcopy(new)

    async def _set_finalizers(self, obj: JSON, finalizers: list[str]) -> JSON:
        meta = obj["metadata"]
        # resourceVersion makes this a compare-and-swap: no lost finalizer of others.
        patch = {"metadata": {"finalizers": finalizers, "resourceVersion": meta["resourceVersion"]}}
        path = self.resource.path(meta.get("namespace"), meta["name"])
        try:
            done = await self.client.patch(path, patch)
        except ApiError as err:
            if err.not_found and not finalizers:
                return obj
            raise
        self._remember_write(path, done)
        return done


class TypedReconciler(Lifecycle, Generic[ObjT, StatusT]):
    """A reconciler of `model` objects, whose steps see the object and its status typed.

    `model` is the kind's `KubeObject` from `api/` and `status_model` its status type;
    `errors` is the controller's table of what its errors mean (`runtime.failures`).
    `run` receives the object without its status (`obj.status` is None): the status it
    works on, and leaves behind, is `status`.
    """

    model: ClassVar[type[meta.KubeObject[Any, Any]]]
    status_model: ClassVar[type[meta.ObjectStatus]]
    errors: ClassVar[failures.Table[Any]] = failures.EMPTY

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        events: EventRecorder,
        cache: Informer | None = None,
    ):
        super().__init__(client, resource, events, cache)
        self._attempts: dict[int, _Written] = {}
        """id of the status of each attempt under way → the base of its patch."""

    @abstractmethod
    async def run(self, obj: ObjT, status: StatusT) -> Result:
        """The controller's steps. Update `status` (assign its fields); return when to
        come back, or raise what went wrong (the `errors` table says what follows)."""

    async def _attempt(self, obj: JSON, status: dict[str, Any], written: _Written) -> Result:
        typed = cast(ObjT, parse(self.model, {k: v for k, v in obj.items() if k != "status"}))
        state = cast(StatusT, typed_status.parse(self.status_model, status))
        # The attempt's status object is how `checkpoint` finds the base of its patch:
        # reconciles of different objects run at once on this reconciler.
        self._attempts[id(state)] = written
        try:
            return await self.run(typed, state)
        except Exception as err:
            classified = self.errors.classify(err, typed.spec)
            if classified is err:
                raise
            raise classified from err
        finally:
            del self._attempts[id(state)]
            status.clear()
            status.update(typed_status.dump(state))

    async def checkpoint(self, status: StatusT) -> None:
        """Write `status` (the one `run` was given) now, before a long step, so people
        see what is happening; the final patch then sends only what changes after it."""
        await self._patch_status(self._attempts[id(status)], typed_status.dump(status))

    def event(
        self,
        obj: ObjT,
        type_: EventType,
        reason: str,
        message: str,
        annotations: dict[str, str] | None = None,
    ) -> None:
        """Record an event about `obj`."""
        self.events.record(involved(obj), type_, reason, message, annotations)


def involved(obj: meta.KubeObject[Any, Any]) -> JSON:
    """`obj` as an event's involved object (and as what the helpers that record events
    about it read: apiVersion, kind, name, namespace, uid, resourceVersion)."""
    m = obj.metadata
    ref = {"name": m.name, "namespace": m.namespace, "uid": m.uid}
    ref["resourceVersion"] = m.resource_version
    return {"apiVersion": obj.api_version, "kind": obj.kind, "metadata": ref}


def _acted(obj: JSON) -> bool:
    """Whether the status records something the object made (objects applied, a
    release, a HelmChart, ExternalArtifacts), which its finalizer cleans up."""
    st = obj.get("status") or {}
    inventory = st.get("inventory")
    # A Kustomization's inventory holds `entries`; an ArtifactGenerator's is a list.
    entries = inventory.get("entries") if isinstance(inventory, dict) else inventory
    return bool(entries or st.get("history") or st.get("helmChart"))


def _keep_transition_times(old: dict[str, Any], new: dict[str, Any]) -> None:
    """A condition that ends a reconcile as it began (same status, reason and message)
    keeps its lastTransitionTime, even if it passed through another state on the way
    (Ready: True → Unknown while working → True). Otherwise every reconcile would
    rewrite the status of an object that did not change."""
    before = {c.get("type"): c for c in old.get("conditions") or []}
    for cond in new.get("conditions") or []:
        prior = before.get(cond.get("type"))
        if prior is not None and all(
            prior.get(k) == cond.get(k) for k in ("status", "reason", "message")
        ):
            cond["lastTransitionTime"] = prior.get("lastTransitionTime")
