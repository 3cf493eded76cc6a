"""The Kustomization reconciler: the PRD's Kustomize Controller.

    access allowed → dependencies ready → source artifact → (nothing changed? done) →
    build → decrypt → substitute → (applied before this restart? adopt) →
    apply (dry run first) → prune → health → Ready

Cheap when nothing changed: if the source revision, the spec, every managed object (the
drift tracker watches them) and every Secret and ConfigMap the spec names (by their
resourceVersions, see `runtime.references`) are as last applied, an interval or
requested reconcile does no build, no write, and reads its source and dependencies from
the informers' caches.
Drift is corrected by re-applying the last build, without rebuilding; protected
objects (`flux.weave.works/ignore: "true"`, or `kustomize.toolkit.fluxcd.io/reconcile:
disabled`) are never overwritten — their drift is reported.

Cheap after a restart: the status records the digest of the objects last applied
(`lastAppliedDigest`). A new process that builds the same objects for the same revision
and generation of a Ready Kustomization adopts them — the drift tracker compares them
with the live objects and only what changed meanwhile is applied again.

Crash-safe: the inventory lists an object before it is first created and keeps it
until a prune confirmed it gone, so neither a failed prune nor a process that dies
between apply and prune orphans anything. Any failure keeps the last applied state and
says why in the Ready condition, with Flux's reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kidp_gitops.api import kustomize as api
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.mapper import Resource, RestMapper, UnknownKind
from kidp_gitops.kube.ssa import Applied, ApplyFailed
from kidp_gitops.kustomize import apply, health, inventory, pipeline, report
from kidp_gitops.kustomize.apply import with_owner
from kidp_gitops.kustomize.drift import DriftTracker
from kidp_gitops.kustomize.prune import PruneFailed, prune
from kidp_gitops.runtime import conditions, lifecycle, outbound, references
from kidp_gitops.runtime.events import EventRecorder
from kidp_gitops.runtime.lifecycle import ObjectReconciler
from kidp_gitops.runtime.reconcile import Result, RetryError, StalledError, WaitingError
from kidp_gitops.runtime.tenancy import Lockdown
from kidp_gitops.runtime.workqueue import jittered
from kidp_gitops.storage.artifacts import ArtifactStore
from kidp_gitops.storage.fetch import ArtifactUnavailable
from kidp_gitops.storage.trees import ArtifactTrees

KIND = report.KIND
PROGRESSING = conditions.PROGRESSING


@dataclass
class _Applied:
    revision: str
    generation: int
    manifests: list[JSON] = field(default_factory=list)
    inputs: str | None = None
    """The resourceVersions of the Secrets and ConfigMaps the build read (None: unknown)."""
    healthy: bool = False
    """The health checks of this revision passed: only then may a reconcile skip work."""


class KustomizationReconciler(ObjectReconciler):
    kind = KIND

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        events: EventRecorder,
        mapper: RestMapper,
        store: ArtifactStore | None,
        workdir: Path,
        drift: DriftTracker,
        lockdown: Lockdown | None = None,
        sources: Informer | None = None,
        kustomizations: Informer | None = None,
        releases: Informer | None = None,
        watched: references.References | None = None,
    ):
        super().__init__(client, resource, events)
        # The caches this reconciler reads before asking the API server: GitRepositories
        # (their artifacts), Kustomizations and HelmReleases (dependencies).
        self.sources = sources
        self.kustomizations = kustomizations
        self.releases = releases
        self.watched = watched  # the Secrets and ConfigMaps specs name
        self.trees = ArtifactTrees(workdir / "artifacts", store, outbound.current())
        self.mapper = mapper
        self.store = store
        self.workdir = workdir
        self.drift = drift
        self.lockdown = lockdown or Lockdown()
        self._last: dict[str, _Applied] = {}

    # ---- the story ---------------------------------------------------------------------

    async def run(self, obj: JSON, status: dict[str, Any]) -> Result:
        meta = obj["metadata"]
        name, namespace, generation = meta["name"], meta["namespace"], meta.get("generation", 0)
        key = f"{namespace}/{name}"
        spec = _spec(obj)
        interval = spec.interval.seconds
        retry = spec.effective_retry_interval().seconds
        self._check_access(spec, namespace)
        await self._check_dependencies(spec, namespace, retry)
        artifact = await self._source_artifact(spec, namespace, retry)
        revision = str(artifact.get("revision", ""))
        status["lastAttemptedRevision"] = revision
        client = self._client_for(spec, namespace)

        last = self._last.get(key)
        # Read before the build reads the objects: a change in between rebuilds again.
        inputs = self._input_versions(obj)
        unchanged = (
            last is not None
            and last.revision == revision
            and last.generation == generation
            and inputs is not None
            and last.inputs == inputs
            and status.get("lastAppliedRevision") == revision
        )
        if unchanged and last is not None and last.healthy:
            drifted = self.drift.drifted(key)
            if drifted:
                await self._correct_drift(obj, status, client, spec, last, drifted)
            # A wait for a dependency may have set Ready=False since: say it again (no
            # write when it already says so).
            return _ready(status, revision, generation, interval)

        conditions.mark_reconciling(
            status, PROGRESSING, f"Fetching manifests for revision {revision}", generation
        )
        manifests = await self._build(obj, spec, artifact, retry)
        labelled = [with_owner(m, name, namespace) for m in manifests]
        digest = inventory.digest(labelled)
        if (
            last is None
            and _applied_before(obj, revision, digest, labelled)
            and await self._adopt(obj, status, client, spec, revision, labelled, inputs)
        ):
            return _ready(status, revision, generation, interval)

        previous = inventory.from_status(status)
        await self._list_before_creating(status, previous, labelled)
        applied = await self._apply(client, spec, labelled, retry)
        refs = [a.ref for a in applied]
        self._remember(key, revision, generation, labelled, applied, inputs)
        await self.drift.watch(labelled)
        deleted = await self._prune(client, spec, status, previous, refs, (name, namespace), retry)
        report.applied(self.events, obj, revision, applied, deleted)
        report.protected(self.events, obj, status, applied, revision)
        status["lastAppliedRevision"] = revision
        status["lastAppliedDigest"] = digest

        # Nothing written and already Ready for this revision (a restart, a requested
        # reconcile): check health without announcing it, so the status stays as it is.
        quiet = (
            not deleted
            and all(a.action in ("unchanged", "skipped", "protected") for a in applied)
            and conditions.is_true(obj.get("status") or {}, conditions.READY)
            and (obj.get("status") or {}).get("lastAppliedRevision") == revision
        )
        await health.check(
            apply.manager(client, self.mapper),
            spec,
            namespace,
            refs,
            status,
            revision,
            generation,
            superseded=lambda: self._superseded(spec, namespace, revision),
            checkpoint=None if quiet else self.checkpoint,
        )
        self._last[key].healthy = True
        return _ready(status, revision, generation, interval)

    async def finalize(self, obj: JSON) -> None:
        meta = obj["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        self._last.pop(key, None)
        self.drift.forget(key)
        try:
            spec = _spec(obj)
        except StalledError:
            return
        policy = spec.effective_deletion_policy()
        if policy == "Orphan" or (policy == "MirrorPrune" and not spec.prune):
            return
        refs = inventory.from_status(obj.get("status") or {})
        try:
            await prune(
                apply.manager(self._client_for(spec, meta["namespace"]), self.mapper),
                refs,
                (meta["name"], meta["namespace"]),
                wait=policy == "WaitForTermination",
            )
        except PruneFailed as err:
            if not await lifecycle.namespace_terminating(self.client, meta["namespace"]):
                raise  # retried: the objects stay until they can be deleted
            # The whole namespace goes, and with it the service account's permissions:
            # waiting would block the namespace forever. Say what is left behind.
            self.events.record(
                obj, "Warning", conditions.PRUNE_FAILED, f"objects left behind: {err}"
            )

    # ---- steps -------------------------------------------------------------------------

    def _check_access(self, spec: api.KustomizationSpec, namespace: str) -> None:
        ref = spec.source_ref
        self.lockdown.check_ref(namespace, ref.kind, ref.namespace or namespace, ref.name)

    async def _check_dependencies(
        self, spec: api.KustomizationSpec, namespace: str, retry: float
    ) -> None:
        for dep in spec.depends_on:
            ns = dep.namespace or namespace
            group = (
                "kustomize.toolkit.fluxcd.io/v1"
                if dep.kind == "Kustomization"
                else "helm.toolkit.fluxcd.io/v2"
            )
            cache = self.kustomizations if dep.kind == KIND else self.releases
            try:
                other = cache.get(ns, dep.name) if cache is not None else None
                if other is None:  # not cached (yet): ask the API server
                    resource = await self.mapper.resource(group, dep.kind)
                    other = await self.client.get(resource.path(ns, dep.name))
            except (ApiError, UnknownKind) as err:
                raise WaitingError(
                    conditions.DEPENDENCY_NOT_READY,
                    f"dependency '{dep.kind}/{ns}/{dep.name}' not found",
                    retry_after=min(retry, 10),
                ) from err
            st = other.get("status") or {}
            ready = conditions.is_true(st, conditions.READY)
            current = st.get("observedGeneration") == other["metadata"].get("generation")
            if not (ready and current):
                raise WaitingError(
                    conditions.DEPENDENCY_NOT_READY,
                    f"dependency '{dep.kind}/{ns}/{dep.name}' is not ready",
                    retry_after=min(retry, 10),
                )

    async def _source_artifact(
        self, spec: api.KustomizationSpec, namespace: str, retry: float
    ) -> dict[str, Any]:
        ref = spec.source_ref
        ns = ref.namespace or namespace
        if ref.kind not in ("GitRepository", "OCIRepository"):
            raise StalledError(
                conditions.ARTIFACT_FAILED, f"source kind {ref.kind} is not supported yet"
            )
        try:
            source = None  # the cache holds GitRepositories; an OCIRepository is read below
            if self.sources is not None and ref.kind == "GitRepository":
                source = self.sources.get(ns, ref.name)
            if source is None:  # not cached (yet), or outside the watched namespace
                resource = await self.mapper.resource("source.toolkit.fluxcd.io/v1", ref.kind)
                source = await self.client.get(resource.path(ns, ref.name))
        except ApiError as err:
            if not err.not_found:
                raise
            raise WaitingError(
                conditions.ARTIFACT_FAILED,
                f"Source '{ref.kind}/{ns}/{ref.name}' not found",
                retry_after=min(retry, 10),
            ) from err
        artifact = (source.get("status") or {}).get("artifact")
        if not artifact:
            raise WaitingError(
                conditions.ARTIFACT_FAILED,
                f"Source artifact of '{ref.kind}/{ns}/{ref.name}' not found",
                retry_after=min(retry, 10),
            )
        return dict(artifact)

    async def _build(
        self, obj: JSON, spec: api.KustomizationSpec, artifact: dict[str, Any], retry: float
    ) -> list[JSON]:
        try:
            async with self.trees.tree(artifact) as root:
                return await pipeline.render(
                    self.client,
                    obj,
                    spec,
                    root,
                    allow_remote_bases=not self.lockdown.no_remote_bases,
                )
        except ArtifactUnavailable as err:
            raise RetryError(conditions.ARTIFACT_FAILED, str(err), retry_after=retry) from err
        except pipeline.RenderError as err:
            raise RetryError(err.reason, str(err), retry_after=retry) from err

    async def _apply(
        self, client: KubeClient, spec: api.KustomizationSpec, objects: list[JSON], retry: float
    ) -> list[Applied]:
        try:
            return await apply.manager(client, self.mapper, force=spec.force).apply(objects)
        except ApplyFailed as err:
            raise RetryError(conditions.RECONCILIATION_FAILED, str(err), retry_after=retry) from err
        except UnknownKind as err:
            raise RetryError(conditions.RECONCILIATION_FAILED, str(err), retry_after=retry) from err

    async def _list_before_creating(
        self, status: dict[str, Any], previous: list[inventory.ObjRef], manifests: list[JSON]
    ) -> None:
        """Add the objects the inventory does not list yet, and write that down before
        the apply creates them: a process that dies right after still knows them."""
        planned = [inventory.ref_of(m) for m in manifests]
        known = {r.key() for r in previous}
        if all(r.key() in known for r in planned):
            return
        status["inventory"] = {"entries": inventory.entries(inventory.union(previous, planned))}
        await self.checkpoint(status)

    async def _prune(
        self,
        client: KubeClient,
        spec: api.KustomizationSpec,
        status: dict[str, Any],
        previous: list[inventory.ObjRef],
        current: list[inventory.ObjRef],
        owner: tuple[str, str],
        retry: float,
    ) -> list[inventory.ObjRef]:
        """Delete what left Git; the inventory becomes what is applied, plus whatever
        could not be deleted (kept for the next attempt)."""
        deleted: list[inventory.ObjRef] = []
        if spec.prune:
            try:
                deleted = await prune(
                    apply.manager(client, self.mapper), inventory.stale(previous, current), owner
                )
            except PruneFailed as err:
                kept = inventory.union(err.remaining, current)
                status["inventory"] = {"entries": inventory.entries(kept)}
                raise RetryError(conditions.PRUNE_FAILED, str(err), retry_after=retry) from err
        status["inventory"] = {"entries": inventory.entries(current)}
        return deleted

    async def _adopt(
        self,
        obj: JSON,
        status: dict[str, Any],
        client: KubeClient,
        spec: api.KustomizationSpec,
        revision: str,
        manifests: list[JSON],
        inputs: str | None,
    ) -> bool:
        """This build was applied (and found healthy) by an earlier process: watch its
        objects instead of applying them again, and put back what changed meanwhile.
        False when the objects could not be compared (then apply as usual)."""
        meta = obj["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        await self.drift.watch(manifests)
        if not await self.drift.adopt(key, manifests):
            return False
        last = _Applied(revision, meta.get("generation", 0), manifests, inputs, healthy=True)
        self._last[key] = last
        drifted = self.drift.drifted(key)
        if drifted:
            await self._correct_drift(obj, status, client, spec, last, drifted)
        return True

    async def _correct_drift(
        self,
        obj: JSON,
        status: dict[str, Any],
        client: KubeClient,
        spec: api.KustomizationSpec,
        last: _Applied,
        drifted: set[tuple[str, str, str, str]],
    ) -> None:
        """Re-apply the drifted objects from the last build (protected ones: report)."""
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        manifests = [m for m in last.manifests if inventory.ref_of(m).key() in drifted]
        try:
            applied = await apply.manager(client, self.mapper, force=spec.force).apply(manifests)
        except ApplyFailed as err:
            raise RetryError(
                conditions.RECONCILIATION_FAILED,
                str(err),
                retry_after=spec.effective_retry_interval().seconds,
            ) from err
        report.corrected(self.events, obj, last.revision, applied)
        report.protected(self.events, obj, status, applied, last.revision)
        self.drift.refresh(
            key, [(m, a.result or m) for m, a in zip(manifests, applied, strict=True)]
        )

    # ---- bookkeeping -------------------------------------------------------------------

    def _remember(
        self,
        key: str,
        revision: str,
        generation: int,
        manifests: list[JSON],
        applied: list[Applied],
        inputs: str | None,
    ) -> None:
        self._last[key] = _Applied(revision, generation, manifests, inputs)
        results = {a.ref.key(): a.result for a in applied}
        self.drift.remember(
            key, [(m, results.get(inventory.ref_of(m).key()) or m) for m in manifests]
        )

    def _superseded(self, spec: api.KustomizationSpec, namespace: str, revision: str) -> bool:
        """Whether the source has a newer artifact than the one being health-checked."""
        ref = spec.source_ref
        if self.sources is None or ref.kind != "GitRepository":  # the cache holds Git only
            return False
        source = self.sources.get(ref.namespace or namespace, ref.name)
        artifact = ((source or {}).get("status") or {}).get("artifact") or {}
        return bool(artifact.get("revision")) and artifact.get("revision") != revision

    def _input_versions(self, obj: JSON) -> str | None:
        names = input_keys(obj)
        if not names:
            return ""
        return self.watched.versions(names) if self.watched is not None else None

    def _client_for(self, spec: api.KustomizationSpec, namespace: str) -> KubeClient:
        return self.lockdown.client(self.client, namespace, spec.service_account_name)


def _ready(status: dict[str, Any], revision: str, generation: int, interval: float) -> Result:
    conditions.mark_ready(
        status, conditions.RECONCILIATION_SUCCEEDED, f"Applied revision: {revision}", generation
    )
    return Result(requeue_after=jittered(interval))


def input_keys(obj: JSON) -> list[str]:
    """The Secrets and ConfigMaps a Kustomization's build reads (`Kind/namespace/name`):
    substitution variables and decryption keys."""
    spec, namespace = obj.get("spec") or {}, obj["metadata"]["namespace"]
    found = references.keys(namespace, (spec.get("postBuild") or {}).get("substituteFrom") or [])
    secret_ref = (spec.get("decryption") or {}).get("secretRef")
    return found + references.keys(namespace, [secret_ref] if secret_ref else [])


def _applied_before(obj: JSON, revision: str, digest: str, manifests: list[JSON]) -> bool:
    """Whether the status says these very objects were applied for this revision and
    generation, and found Ready: what a new process may trust instead of applying."""
    st = obj.get("status") or {}
    generation = obj["metadata"].get("generation", 0)
    ready = conditions.get(st, conditions.READY)
    return (
        st.get("lastAppliedRevision") == revision
        and st.get("lastAppliedDigest") == digest
        and st.get("observedGeneration") == generation
        and ready is not None
        and ready["status"] == "True"
        and ready.get("observedGeneration") == generation
        and inventory.same_objects(
            inventory.from_status(st), [inventory.ref_of(m) for m in manifests]
        )
    )


def _spec(obj: JSON) -> api.KustomizationSpec:
    return lifecycle.parse(api.Kustomization, obj).spec


__all__ = ["KustomizationReconciler"]
