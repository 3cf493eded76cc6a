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

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kidp_gitops.api import kustomize as api
from kidp_gitops.api import meta
from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.errors import ApiError, ConnectionFailed
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.mapper import Resource, UnknownKind
from kidp_gitops.kube.ssa import Applied, ApplyFailed
from kidp_gitops.kustomize import apply, health, inventory, pipeline, report
from kidp_gitops.kustomize.apply import with_owner
from kidp_gitops.kustomize.drift import DriftTracker, RemoteDrift
from kidp_gitops.kustomize.prune import PruneFailed, prune
from kidp_gitops.runtime import (
    conditions,
    dependencies,
    failures,
    lifecycle,
    outbound,
    references,
    remote,
)
from kidp_gitops.runtime import status as typed_status
from kidp_gitops.runtime.context import Context
from kidp_gitops.runtime.lifecycle import TypedReconciler
from kidp_gitops.runtime.reconcile import ReconcileError, Result, StalledError
from kidp_gitops.runtime.workqueue import jittered
from kidp_gitops.storage.artifacts import ArtifactStore
from kidp_gitops.storage.fetch import ArtifactUnavailable
from kidp_gitops.storage.trees import ArtifactTrees

KIND = report.KIND
SOURCE_KINDS = ("GitRepository", "OCIRepository", "Bucket", "ExternalArtifact")
"""The source kinds whose artifacts a Kustomization applies."""
PROGRESSING = conditions.PROGRESSING
DEPENDENCY_WAIT = 10.0
"""The longest wait for a dependency or a source artifact before looking again: a
safety net, as the controller watches both and is woken when they change."""


class SourceNotReady(ReconcileError):
    """The source, or its artifact, is not there (yet)."""

    def __init__(self, message: str):
        super().__init__(conditions.ARTIFACT_FAILED, message)


def _retry_interval(spec: api.KustomizationSpec) -> float:
    return spec.effective_retry_interval().seconds


def _soon(spec: api.KustomizationSpec) -> float:
    return min(_retry_interval(spec), DEPENDENCY_WAIT)


ERRORS: failures.Table[api.KustomizationSpec] = failures.Table(
    failures.wait(conditions.DEPENDENCY_NOT_READY, after=_soon),
    failures.wait(SourceNotReady, after=_soon),
    failures.retry(ArtifactUnavailable, after=_retry_interval, reason=conditions.ARTIFACT_FAILED),
    failures.retry(pipeline.RenderError, after=_retry_interval),
    failures.retry(ApplyFailed, after=_retry_interval, reason=conditions.RECONCILIATION_FAILED),
    failures.retry(PruneFailed, after=_retry_interval, reason=conditions.PRUNE_FAILED),
    failures.retry(health.HealthCheckFailed, after=_retry_interval),
    failures.wait(health.NewerRevision, after=0.0),
    failures.retry(remote.Unreachable, after=_retry_interval),
    failures.retry(remote.InvalidKubeConfig, after=_retry_interval),
)


@dataclass
class _Applied:
    revision: str
    generation: int
    manifests: list[JSON] = field(default_factory=list)
    inputs: str | None = None
    """The resourceVersions of the Secrets and ConfigMaps the build read (None: unknown)."""
    healthy: bool = False
    """The health checks of this revision passed: only then may a reconcile skip work."""
    target: str = remote.LOCAL
    """The cluster (and kubeconfig) applied to (`Target.key`)."""


@dataclass(frozen=True)
class Found:
    """What the status said when this reconcile began: what a new process, or a
    requested reconcile, may trust about the last apply."""

    ready: bool
    ready_generation: int | None
    observed_generation: int | None
    last_applied_revision: str | None
    last_applied_digest: str | None
    inventory: list[inventory.ObjRef]

    @classmethod
    def of(cls, status: api.KustomizationStatus) -> Found:
        ready = status.condition(conditions.READY)
        return cls(
            ready=status.ready,
            ready_generation=ready.observed_generation if ready is not None else None,
            observed_generation=status.observed_generation,
            last_applied_revision=status.last_applied_revision,
            last_applied_digest=status.last_applied_digest,
            inventory=inventory.of(status.inventory),
        )


@dataclass(frozen=True)
class Rendered:
    """The objects a build made, labelled as ours, and their digest."""

    manifests: list[JSON]
    digest: str


@dataclass(frozen=True)
class Pruned:
    """What a prune deleted, and the inventory after it."""

    deleted: list[inventory.ObjRef]
    inventory: list[inventory.ObjRef]


class KustomizationReconciler(TypedReconciler[api.Kustomization, api.KustomizationStatus]):
    kind = KIND
    model = api.Kustomization
    status_model = api.KustomizationStatus
    errors = ERRORS

    def __init__(
        self,
        ctx: Context,
        resource: Resource,
        kustomizations: Informer,
        store: ArtifactStore | None,
        workdir: Path,
        drift: DriftTracker,
        *,
        remote_drift: RemoteDrift,
        sources: Mapping[str, Informer],
        releases: Informer | None,
        watched: references.References | None,
    ):
        super().__init__(ctx.client, resource, ctx.events, kustomizations)
        # The caches this reconciler reads before asking the API server: the sources by
        # kind (their artifacts), Kustomizations and HelmReleases (dependencies).
        self.sources = sources
        self.kustomizations = kustomizations
        self.releases = releases
        self.watched = watched  # the Secrets and ConfigMaps specs name
        self.trees = ArtifactTrees(workdir / "artifacts", store, outbound.current())
        self.mapper = ctx.mapper
        self.store = store
        self.workdir = workdir
        self.drift = drift  # what is applied to this cluster
        self.remote_drift = remote_drift  # what is applied to remote ones
        self.remotes = ctx.remotes
        self.lockdown = ctx.lockdown
        self._tracker_of: dict[str, DriftTracker] = {}
        self._last: dict[str, _Applied] = {}

    # ---- the story ---------------------------------------------------------------------

    async def run(self, obj: api.Kustomization, status: api.KustomizationStatus) -> Result:
        spec, namespace = obj.spec, obj.namespace
        found = Found.of(status)
        self._check_access(spec, namespace)
        await self._check_dependencies(obj, status)
        artifact = await self._source_artifact(spec, namespace)
        status.last_attempted_revision = artifact.revision
        # Checked to answer before anything is built: a remote that does not keeps its
        # last state, and the status says so.
        target = await self._target(spec, f"{namespace}/{obj.name}", namespace)
        try:
            return await self._act(obj, status, found, artifact, target)
        except ConnectionFailed as err:
            if target.remote is None:
                raise
            raise target.unreachable(err) from err

    async def _act(
        self,
        obj: api.Kustomization,
        status: api.KustomizationStatus,
        found: Found,
        artifact: meta.Artifact,
        target: remote.Target,
    ) -> Result:
        """From the artifact to Ready, on `target`'s cluster."""
        spec, name, namespace, generation = obj.spec, obj.name, obj.namespace, obj.generation
        key = f"{namespace}/{name}"
        ref = lifecycle.involved(obj)
        revision = artifact.revision
        drift = self._drift(key, target)

        last = self._last.get(key)
        # Read before the build reads the objects: a change in between rebuilds again.
        inputs = self._input_versions(spec, namespace)
        unchanged = (
            last is not None
            and last.revision == revision
            and last.generation == generation
            and inputs is not None
            and last.inputs == inputs
            and found.last_applied_revision == revision
            and last.target == target.key
        )
        if unchanged and last is not None and last.healthy:
            await self._put_back(status, ref, target, drift, spec, key, generation)
            # A wait for a dependency may have set Ready=False since: say it again (no
            # write when it already says so).
            return _ready(status, revision, generation, spec.interval.seconds)

        conditions.mark_reconciling(
            status, PROGRESSING, f"Fetching manifests for revision {revision}", generation
        )
        rendered = await self._build(ref, spec, artifact)
        if (
            last is None
            and _applied_before(found, revision, generation, rendered)
            and await self._adopt(drift, key, revision, generation, rendered, inputs, target)
        ):
            await self._put_back(status, ref, target, drift, spec, key, generation)
            return _ready(status, revision, generation, spec.interval.seconds)

        previous = found.inventory
        known = {r.key() for r in previous}
        planned = [inventory.ref_of(m) for m in rendered.manifests]
        if any(r.key() not in known for r in planned):
            # Listed before the apply creates them: a process that dies right after
            # still knows them.
            status.inventory = inventory.recorded(inventory.union(previous, planned))
            await self.checkpoint(status)
        applied = await self._apply(target, spec, rendered.manifests)
        refs = [a.ref for a in applied]
        self._remember(drift, key, revision, generation, rendered.manifests, applied, inputs)
        self._last[key].target = target.key
        await drift.watch(rendered.manifests)
        try:
            pruned = await self._prune(target, spec, previous, refs, (name, namespace))
        except PruneFailed as err:
            status.inventory = inventory.recorded(inventory.union(err.remaining, refs))
            raise
        status.inventory = inventory.recorded(pruned.inventory)
        report.applied(self.events, ref, revision, applied, pruned.deleted)
        self._drifted(status, ref, applied, revision, generation)
        status.last_applied_revision = revision
        # The commit behind an artifact that records one (an OCI artifact pushed from Git,
        # an ExternalArtifact with originRevision), as Flux 2.7 reports it.
        origin = (artifact.metadata or {}).get("org.opencontainers.image.revision")
        status.last_applied_origin_revision = origin
        status.last_applied_digest = rendered.digest

        # Nothing written and already Ready for this revision (a restart, a requested
        # reconcile): check health without announcing it, so the status stays as it is.
        quiet = (
            not pruned.deleted
            and all(a.action in ("unchanged", "skipped", "protected") for a in applied)
            and found.ready
            and found.last_applied_revision == revision
        )
        check = health.plan(spec, namespace, refs, revision)
        if check is None:
            conditions.remove(status, conditions.HEALTHY)
        else:
            conditions.mark_reconciling(status, PROGRESSING, check.describe(), generation)
            if not quiet:
                await self.checkpoint(status)
            await self._check_health(status, target, spec, namespace, check, generation)
        self._last[key].healthy = True
        return _ready(status, revision, generation, spec.interval.seconds)

    async def finalize(self, obj: JSON) -> None:
        meta_ = obj["metadata"]
        key = f"{meta_['namespace']}/{meta_['name']}"
        self._last.pop(key, None)
        self.drift.forget(key)
        tracker = self._tracker_of.pop(key, None)
        if tracker is not None:
            tracker.forget(key)
        try:
            ks = lifecycle.parse(api.Kustomization, obj)
        except StalledError:
            await self.remotes.release(_owner(key))
            return
        spec = ks.spec
        policy = spec.effective_deletion_policy()
        if policy == "Orphan" or (policy == "MirrorPrune" and not spec.prune):
            await self.remotes.release(_owner(key))
            return
        refs = inventory.of(ks.status.inventory if ks.status is not None else None)
        if not refs:  # nothing applied anywhere: no cluster to ask (as Flux)
            await self.remotes.release(_owner(key))
            return
        try:
            # On the cluster the objects were applied to; a remote that does not
            # answer keeps them, and the Kustomization, until it does.
            target = await self._target(spec, key, ks.namespace)
            try:
                await prune(
                    apply.manager(target.client, target.mapper),
                    refs,
                    (ks.name, ks.namespace),
                    wait=policy == "WaitForTermination",
                )
            except ConnectionFailed as err:
                raise target.unreachable(err) from err
            await self.remotes.release(_owner(key))
        except (
            PruneFailed,
            remote.Unreachable,
            remote.InvalidKubeConfig,
            remote.UnsupportedProvider,
        ) as err:
            if not await lifecycle.namespace_terminating(self.client, ks.namespace):
                raise  # retried: the objects stay until they can be deleted
            # The whole namespace goes, and with it the service account's permissions:
            # waiting would block the namespace forever. Say what is left behind.
            self.events.record(
                obj, "Warning", conditions.PRUNE_FAILED, f"objects left behind: {err}"
            )
            await self.remotes.release(_owner(key))

    # ---- steps -------------------------------------------------------------------------

    def _check_access(self, spec: api.KustomizationSpec, namespace: str) -> None:
        ref = spec.source_ref
        self.lockdown.check_ref(namespace, ref.kind, ref.namespace or namespace, ref.name)

    async def _check_dependencies(
        self, obj: api.Kustomization, status: api.KustomizationStatus
    ) -> None:
        spec, namespace = obj.spec, obj.namespace
        for dep in spec.depends_on:
            ns = dep.namespace or namespace
            group = (
                "kustomize.toolkit.fluxcd.io/v1"
                if dep.kind == "Kustomization"
                else "helm.toolkit.fluxcd.io/v2"
            )
            cache = self.kustomizations if dep.kind == KIND else self.releases
            described = f"dependency '{dep.kind}/{ns}/{dep.name}'"
            try:
                other = cache.get(ns, dep.name) if cache is not None else None
                if other is None:  # not cached (yet): ask the API server
                    resource = await self.mapper.resource(group, dep.kind)
                    other = await self.client.get(resource.path(ns, dep.name))
            except (ApiError, UnknownKind) as err:
                raise ReconcileError(
                    conditions.DEPENDENCY_NOT_READY, f"{described} not found"
                ) from err
            this = _as_json(obj, status) if dep.ready_expr else {}
            await dependencies.require_ready(described, this, other, dep.ready_expr)

    async def _source_artifact(self, spec: api.KustomizationSpec, namespace: str) -> meta.Artifact:
        ref = spec.source_ref
        ns = ref.namespace or namespace
        described = f"'{ref.kind}/{ns}/{ref.name}'"
        if ref.kind not in SOURCE_KINDS:
            raise StalledError(
                conditions.ARTIFACT_FAILED, f"source kind {ref.kind} is not supported yet"
            )
        try:
            cached = self.sources.get(ref.kind)
            source = cached.get(ns, ref.name) if cached is not None else None
            if source is None:  # not cached (yet), or outside the watched namespace
                resource = await self.mapper.resource("source.toolkit.fluxcd.io/v1", ref.kind)
                source = await self.client.get(resource.path(ns, ref.name))
        except ApiError as err:
            if not err.not_found:
                raise
            raise SourceNotReady(f"Source {described} not found") from err
        artifact = (source.get("status") or {}).get("artifact")
        if not artifact:
            raise SourceNotReady(f"Source artifact of {described} not found")
        try:
            return meta.Artifact.model_validate(artifact)
        except ValueError as err:
            raise SourceNotReady(f"Source artifact of {described} is invalid: {err}") from err

    async def _build(
        self, ref: JSON, spec: api.KustomizationSpec, artifact: meta.Artifact
    ) -> Rendered:
        async with self.trees.tree(typed_status.dump_model(artifact)) as root:
            manifests = await pipeline.render(
                self.client,
                ref,
                spec,
                root,
                allow_remote_bases=not self.lockdown.no_remote_bases,
            )
        labelled = [
            with_owner(m, ref["metadata"]["name"], ref["metadata"]["namespace"]) for m in manifests
        ]
        return Rendered(labelled, inventory.digest(labelled))

    async def _apply(
        self, target: remote.Target, spec: api.KustomizationSpec, objects: list[JSON]
    ) -> list[Applied]:
        manager = apply.manager(target.client, target.mapper, force=spec.force)
        try:
            return await manager.apply(objects)
        except UnknownKind as err:  # a CRD not there (yet): a failed apply like any other
            raise ApplyFailed([str(err)]) from err

    async def _prune(
        self,
        target: remote.Target,
        spec: api.KustomizationSpec,
        previous: list[inventory.ObjRef],
        current: list[inventory.ObjRef],
        owner: tuple[str, str],
    ) -> Pruned:
        """Delete what left Git; the inventory becomes what is applied (on PruneFailed,
        plus whatever could not be deleted, kept for the next attempt)."""
        deleted: list[inventory.ObjRef] = []
        if spec.prune:
            deleted = await prune(
                apply.manager(target.client, target.mapper),
                inventory.stale(previous, current),
                owner,
            )
        return Pruned(deleted, current)

    async def _check_health(
        self,
        status: api.KustomizationStatus,
        target: remote.Target,
        spec: api.KustomizationSpec,
        namespace: str,
        check: health.Check,
        generation: int,
    ) -> None:
        """Wait for `check`; the Healthy condition says how it went."""
        try:
            await health.run(
                apply.manager(target.client, target.mapper),
                check,
                superseded=lambda: self._superseded(spec, namespace, check.revision),
            )
        except health.HealthCheckFailed as err:
            conditions.set_condition(
                status,
                conditions.HEALTHY,
                "False",
                conditions.HEALTH_CHECK_FAILED,
                err.detail,
                generation,
            )
            raise
        conditions.set_condition(
            status, conditions.HEALTHY, "True", conditions.SUCCEEDED, health.PASSED, generation
        )

    async def _adopt(
        self,
        drift: DriftTracker,
        key: str,
        revision: str,
        generation: int,
        rendered: Rendered,
        inputs: str | None,
        target: remote.Target,
    ) -> bool:
        """This build was applied (and found healthy) by an earlier process: watch its
        objects instead of applying them again (`_put_back` then corrects what changed
        meanwhile). False when the objects could not be compared (then apply as usual)."""
        await drift.watch(rendered.manifests)
        if not await drift.adopt(key, rendered.manifests):
            return False
        self._last[key] = _Applied(
            revision, generation, rendered.manifests, inputs, healthy=True, target=target.key
        )
        return True

    async def _put_back(
        self,
        status: api.KustomizationStatus,
        ref: JSON,
        target: remote.Target,
        drift: DriftTracker,
        spec: api.KustomizationSpec,
        key: str,
        generation: int,
    ) -> None:
        """Re-apply the objects of the last build that drifted (protected ones: report)."""
        last = self._last[key]
        drifted = drift.drifted(key)
        if not drifted:
            return
        manifests = [m for m in last.manifests if inventory.ref_of(m).key() in drifted]
        manager = apply.manager(target.client, target.mapper, force=spec.force)
        applied = await manager.apply(manifests)
        report.corrected(self.events, ref, last.revision, applied)
        self._drifted(status, ref, applied, last.revision, generation)
        drift.refresh(key, [(m, a.result or m) for m, a in zip(manifests, applied, strict=True)])

    def _drifted(
        self,
        status: api.KustomizationStatus,
        ref: JSON,
        applied: list[Applied],
        revision: str,
        generation: int,
    ) -> None:
        """The Drifted condition: protected objects that differ from Git."""
        message = report.protected(self.events, ref, applied, revision)
        if message is None:
            conditions.remove(status, report.DRIFTED)
        else:
            conditions.set_condition(
                status, report.DRIFTED, "True", report.DRIFTED, message, generation
            )

    # ---- bookkeeping -------------------------------------------------------------------

    def _remember(
        self,
        drift: DriftTracker,
        key: str,
        revision: str,
        generation: int,
        manifests: list[JSON],
        applied: list[Applied],
        inputs: str | None,
    ) -> None:
        self._last[key] = _Applied(revision, generation, manifests, inputs)
        results = {a.ref.key(): a.result for a in applied}
        drift.remember(key, [(m, results.get(inventory.ref_of(m).key()) or m) for m in manifests])

    def _superseded(self, spec: api.KustomizationSpec, namespace: str, revision: str) -> bool:
        """Whether the source has a newer artifact than the one being health-checked."""
        ref = spec.source_ref
        cached = self.sources.get(ref.kind)
        if cached is None:
            return False
        source = cached.get(ref.namespace or namespace, ref.name)
        artifact = ((source or {}).get("status") or {}).get("artifact") or {}
        return bool(artifact.get("revision")) and artifact.get("revision") != revision

    def _input_versions(self, spec: api.KustomizationSpec, namespace: str) -> str | None:
        names = _input_keys(spec, namespace)
        if not names:
            return ""
        return self.watched.versions(names) if self.watched is not None else None

    async def _target(self, spec: api.KustomizationSpec, key: str, namespace: str) -> remote.Target:
        """This cluster or the remote of `spec.kubeConfig`, as the service account."""
        return await self.remotes.target(
            _owner(key), namespace, spec.kube_config, spec.service_account_name, self.lockdown
        )

    def _drift(self, key: str, target: remote.Target) -> DriftTracker:
        """The tracker of `target`'s cluster; the one of another cluster, where `key`
        applied before, forgets it."""
        tracker = self.drift if target.remote is None else self.remote_drift.of(target.remote)
        before = self._tracker_of.get(key)
        if before is not None and before is not tracker:
            before.forget(key)
        self._tracker_of[key] = tracker
        return tracker


def _owner(key: str) -> str:
    """A Kustomization's name among the users of remote clusters (HelmReleases too)."""
    return f"{KIND}/{key}"


def _ready(
    status: api.KustomizationStatus, revision: str, generation: int, interval: float
) -> Result:
    conditions.mark_ready(
        status, conditions.RECONCILIATION_SUCCEEDED, f"Applied revision: {revision}", generation
    )
    return Result(requeue_after=jittered(interval))


def input_keys(obj: JSON) -> list[str]:
    """The Secrets and ConfigMaps a Kustomization reads (`Kind/namespace/name`):
    substitution variables, decryption keys and the kubeconfig of a remote cluster."""
    spec, namespace = obj.get("spec") or {}, obj["metadata"]["namespace"]
    found = references.keys(namespace, (spec.get("postBuild") or {}).get("substituteFrom") or [])
    secret_ref = (spec.get("decryption") or {}).get("secretRef")
    kube_ref = (spec.get("kubeConfig") or {}).get("secretRef")
    refs = [r for r in (secret_ref, kube_ref) if r]
    kube_cm = (spec.get("kubeConfig") or {}).get("configMapRef")
    cms = references.keys(namespace, [kube_cm] if kube_cm else [], "ConfigMap")
    return found + references.keys(namespace, refs) + cms


def _input_keys(spec: api.KustomizationSpec, namespace: str) -> list[str]:
    """`input_keys` of a typed spec."""
    substitute = spec.post_build.substitute_from if spec.post_build is not None else []
    secret = spec.decryption.secret_ref if spec.decryption is not None else None
    kube = spec.kube_config.secret_ref if spec.kube_config is not None else None
    kube_cm = spec.kube_config.config_map_ref if spec.kube_config is not None else None
    found = references.keys(namespace, [{"kind": r.kind, "name": r.name} for r in substitute])
    refs: list[dict[str, str]] = [{"name": r.name} for r in (secret, kube) if r is not None]
    if kube_cm is not None:
        refs.append({"kind": "ConfigMap", "name": kube_cm.name})
    return found + references.keys(namespace, refs)


def _applied_before(found: Found, revision: str, generation: int, rendered: Rendered) -> bool:
    """Whether the status said these very objects were applied for this revision and
    generation, and found Ready: what a new process may trust instead of applying."""
    return (
        found.last_applied_revision == revision
        and found.last_applied_digest == rendered.digest
        and found.observed_generation == generation
        and found.ready
        and found.ready_generation == generation
        and inventory.same_objects(
            found.inventory, [inventory.ref_of(m) for m in rendered.manifests]
        )
    )


def _as_json(obj: api.Kustomization, status: api.KustomizationStatus) -> JSON:
    """The Kustomization as the API server returns it (`self` of a readyExpr)."""
    whole = obj.model_dump(mode="json", by_alias=True, exclude_none=True)
    whole["status"] = typed_status.dump(status)
    return whole


__all__ = ["KustomizationReconciler"]
