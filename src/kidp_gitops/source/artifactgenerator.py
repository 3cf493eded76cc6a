"""The ArtifactGenerator reconciler (Flux 2.7's source-watcher): artifacts composed from
other sources' artifacts, published as ExternalArtifacts.

    validate → observe the sources (each must have an artifact) → nothing changed since
    the last build? done → unpack the sources → the output artifacts (one set per
    directory matching `pathPattern`, `source/pathpattern`) → per artifact: copy operations
    (`source/compose`) → deterministic tarball → ExternalArtifact (spec applied, status
    written) → delete the ExternalArtifacts no longer generated → Ready

"Nothing changed" is Flux's drift check: the same generation, the same sources (a hash of
each one's digest, revision and URL, `status.observedSourcesDigest`), and every
ExternalArtifact of the inventory still there, ours, with the artifact we stored. A
revision is `latest@sha256:<digest of the tarball>`, or the revision of the source that
`revision: "@alias"` names; the same content gives the same digest, so consumers see no
new revision when a source changed elsewhere than in what an artifact copies.

Each ExternalArtifact carries the label `source.extensions.fluxcd.io/generator: <uid>`:
one generator never takes over another's (a name clash is an error, retried), and only
its own are deleted when they leave `spec.artifacts` or the generator goes.
Reasons are Flux's: ValidationFailed and AccessDenied stall; SourceFetchFailed waits for
the sources; BuildFailed (a copy that cannot be done) and ReconciliationFailed (writing an
ExternalArtifact) retry with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kidp_gitops.api import generator as api
from kidp_gitops.api import meta
from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.mapper import Resource, RestMapper, UnknownKind
from kidp_gitops.kube.ssa import Policy, ResourceManager
from kidp_gitops.proc import background
from kidp_gitops.runtime import conditions, outbound
from kidp_gitops.runtime import status as typed_status
from kidp_gitops.runtime.context import Context
from kidp_gitops.runtime.lifecycle import TypedReconciler
from kidp_gitops.runtime.reconcile import ReconcileError, Result, StalledError, WaitingError
from kidp_gitops.runtime.workqueue import jittered
from kidp_gitops.source import compose, pathpattern
from kidp_gitops.storage.artifacts import ArtifactStore
from kidp_gitops.storage.fetch import ArtifactUnavailable
from kidp_gitops.storage.trees import ArtifactTrees

KIND = "ArtifactGenerator"
EXTERNAL_ARTIFACT = "ExternalArtifact"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
FIELD_MANAGER = "source-watcher"
VALIDATION_FAILED = "ValidationFailed"
SOURCE_FETCH_FAILED = "SourceFetchFailed"
DISABLED = "ReconciliationDisabled"
INTERVAL = 3600.0
"""Source-watcher's: a generator is rebuilt when a source changes (watched), and at
least hourly to repair what the watch missed."""
BUILD_SECONDS = 600.0
"""What all the copies of one reconcile may take together (a tenant's generator could ask
for any amount of work)."""
SOURCE_RETRY = 5.0
"""How soon to look again at a source that is missing or has no artifact yet."""
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True)
class Observed:
    """A source as the generator reads it: where it is, and its artifact."""

    kind: str
    namespace: str
    name: str
    artifact: meta.Artifact

    def describe(self) -> str:
        a = self.artifact
        return f"digest={a.digest},revision={a.revision},url={a.url}"

    @property
    def origin_revision(self) -> str:
        """The origin revision the source recorded (an OCI artifact's commit), else its
        revision."""
        found = (self.artifact.metadata or {}).get(api.ORIGIN_REVISION)
        return found or self.artifact.revision


def sources_digest(observed: dict[str, Observed]) -> str:
    """One hash of every source's artifact, independent of the order of `spec.sources`."""
    parts = sorted(f"{alias}=[{o.describe()}]" for alias, o in observed.items())
    return hashlib.sha256(",".join(parts).encode()).hexdigest()


def validate(spec: api.ArtifactGeneratorSpec) -> None:
    """What Flux checks before building: unique aliases and names, valid object names,
    and every `@alias` naming a source."""
    aliases: set[str] = set()
    for src in spec.sources:
        if src.alias in aliases:
            raise StalledError(VALIDATION_FAILED, f"duplicate source alias '{src.alias}' found")
        aliases.add(src.alias)
    if spec.path_pattern:
        alias = spec.path_pattern.removeprefix("@").partition("/")[0]
        if alias not in aliases:
            raise StalledError(VALIDATION_FAILED, f"pathPattern source alias '{alias}' not found")
    names: set[str] = set()
    for out in spec.artifacts:
        if out.name in names:
            raise StalledError(VALIDATION_FAILED, f"duplicate artifact name '{out.name}' found")
        names.add(out.name)
        if not spec.path_pattern and not _NAME.match(out.name):
            raise StalledError(
                VALIDATION_FAILED,
                f"artifact name '{out.name}' is not a valid Kubernetes object name",
            )
        for field, value in (("revision", out.revision), ("originRevision", out.origin_revision)):
            if value and value.removeprefix("@") not in aliases:
                raise StalledError(
                    VALIDATION_FAILED,
                    f"artifact {out.name} {field} source alias '{value.removeprefix('@')}'"
                    " not found",
                )
        for op in out.copy_:
            alias = op.from_.removeprefix("@").partition("/")[0]
            if alias not in aliases and "{" not in alias:  # a capture is rendered later
                raise StalledError(
                    VALIDATION_FAILED,
                    f"artifact {out.name} copies from source alias '{alias}', not in spec.sources",
                )


class ArtifactGeneratorReconciler(
    TypedReconciler[api.ArtifactGenerator, api.ArtifactGeneratorStatus]
):
    kind = KIND
    model = api.ArtifactGenerator
    status_model = api.ArtifactGeneratorStatus
    field_manager = FIELD_MANAGER

    def __init__(
        self,
        ctx: Context,
        resource: Resource,
        generators: Informer,
        store: ArtifactStore,
        workdir: Path,
        sources: dict[str, Informer],
        artifacts: Resource,
    ):
        """`sources`: the informers of the source kinds this cluster serves, by kind (the
        ExternalArtifacts' among them); `artifacts`: the ExternalArtifact resource."""
        super().__init__(ctx.client, resource, ctx.events, generators)
        self.mapper: RestMapper = ctx.mapper
        self.lockdown = ctx.lockdown
        self.store = store
        self.workdir = workdir
        self.sources = sources
        self.artifacts = artifacts
        self.trees = ArtifactTrees(workdir / "sources", store, outbound.current())
        self.manager = ResourceManager(self.client, ctx.mapper, Policy(FIELD_MANAGER))

    async def run(self, obj: api.ArtifactGenerator, status: api.ArtifactGeneratorStatus) -> Result:
        value = obj.metadata.annotations.get(api.RECONCILE_ANNOTATION, "")
        if value.lower() == "disabled":
            self.event(obj, "Normal", DISABLED, "reconciliation is disabled by annotation")
            return Result()
        validate(obj.spec)
        observed = await self.observe(obj)
        digest = sources_digest(observed)
        if await self._up_to_date(obj, status, digest):
            # No drift: the status stays as the last build left it (no write).
            message = _succeeded(len(status.inventory))
            conditions.mark_ready(status, conditions.SUCCEEDED, message, obj.generation)
            return Result(requeue_after=jittered(INTERVAL))
        conditions.mark_reconciling(
            status, conditions.PROGRESSING, "building artifacts", obj.generation
        )
        await self.checkpoint(status)
        refs = await self.generate(obj, observed)
        await self._delete_orphans(obj, status.inventory, refs)
        changed = [
            f"{r.namespace}/{r.name} ({r.digest})"
            for r in refs
            if not any(
                (old.name, old.namespace, old.digest) == (r.name, r.namespace, r.digest)
                for old in status.inventory
            )
        ]
        status.inventory = refs
        status.observed_sources_digest = digest
        conditions.mark_ready(status, conditions.SUCCEEDED, _succeeded(len(refs)), obj.generation)
        if changed:
            self.event(
                obj,
                "Normal",
                conditions.READY,
                "external artifacts reconciled: " + ", ".join(changed),
            )
        return Result(requeue_after=jittered(INTERVAL))

    # ---- the sources --------------------------------------------------------------------

    async def observe(self, obj: api.ArtifactGenerator) -> dict[str, Observed]:
        """Each source's artifact, by alias; waiting while one is missing or not ready."""
        observed: dict[str, Observed] = {}
        for src in obj.spec.sources:
            namespace = src.namespace or obj.namespace
            self.lockdown.check_ref(obj.namespace, src.kind, namespace, src.name)
            described = f"'{src.kind}/{namespace}/{src.name}'"
            found = await self._get_source(src.kind, namespace, src.name)
            if found is None:
                raise WaitingError(
                    SOURCE_FETCH_FAILED,
                    f"get sources failed: source {described} not found",
                    SOURCE_RETRY,
                )
            artifact = (found.get("status") or {}).get("artifact")
            try:
                parsed = meta.Artifact.model_validate(artifact) if artifact else None
            except ValueError:
                parsed = None
            if parsed is None:
                raise WaitingError(
                    SOURCE_FETCH_FAILED,
                    f"get sources failed: source {described} is not ready",
                    SOURCE_RETRY,
                )
            observed[src.alias] = Observed(src.kind, namespace, src.name, parsed)
        return observed

    async def _get_source(self, kind: str, namespace: str, name: str) -> JSON | None:
        cached = self.sources.get(kind)
        found = cached.get(namespace, name) if cached is not None else None
        if found is not None:
            return found
        try:  # not cached (yet), outside the watched namespace, or a kind served later
            resource = await self.mapper.resource(SOURCE_API, kind)
            return await self.client.get(resource.path(namespace, name))
        except UnknownKind as err:
            raise ReconcileError(
                SOURCE_FETCH_FAILED, f"source kind {kind} is not served by this cluster"
            ) from err
        except ApiError as err:
            if err.not_found:
                return None
            raise

    # ---- building -----------------------------------------------------------------------

    async def generate(
        self, obj: api.ArtifactGenerator, observed: dict[str, Observed]
    ) -> list[api.ExternalArtifactReference]:
        """Unpack the sources, build and publish every output artifact."""
        tmp = Path(await asyncio.to_thread(tempfile.mkdtemp, dir=self.workdir, prefix="ag-"))
        try:
            async with contextlib.AsyncExitStack() as stack:
                trees: dict[str, Path] = {}
                for alias, source in observed.items():
                    try:
                        trees[alias] = await stack.enter_async_context(
                            self.trees.tree(typed_status.dump_model(source.artifact))
                        )
                    except ArtifactUnavailable as err:
                        raise ReconcileError(
                            SOURCE_FETCH_FAILED, f"fetch sources failed: {alias}: {err}"
                        ) from err
                try:
                    wanted = await asyncio.to_thread(pathpattern.expand, obj.spec, trees)
                except pathpattern.PathPatternError as err:
                    raise StalledError(
                        conditions.BUILD_FAILED, f"failed to expand path pattern: {err}"
                    ) from err
                refs = []
                deadline = time.monotonic() + BUILD_SECONDS
                for one in wanted:
                    out = one.artifact
                    limits = compose.Limits(max_seconds=max(deadline - time.monotonic(), 0))
                    staging = tmp / out.name
                    artifact = await self._build(obj, out, trees, observed, staging, limits)
                    refs.append(await self._publish(obj, out, artifact, one.labels))
                return refs
        finally:
            background.discard(tmp)

    async def _build(
        self,
        obj: api.ArtifactGenerator,
        out: api.OutputArtifact,
        trees: dict[str, Path],
        observed: dict[str, Observed],
        staging: Path,
        limits: compose.Limits,
    ) -> meta.Artifact:
        try:
            files = await asyncio.to_thread(compose.compose, out.copy_, trees, staging, limits)
        except compose.ComposeError as err:
            raise ReconcileError(
                conditions.BUILD_FAILED, f"{out.name} build failed: {err}"
            ) from err
        stored = await asyncio.to_thread(
            self.store.archive, EXTERNAL_ARTIFACT, obj.namespace, out.name, staging, files, ""
        )
        revision = f"latest@{stored.digest}"
        if out.revision:
            revision = observed[out.revision.removeprefix("@")].artifact.revision
        metadata = None
        if out.origin_revision:
            origin = observed[out.origin_revision.removeprefix("@")].origin_revision
            metadata = {api.ORIGIN_REVISION: origin}
        return meta.Artifact.model_validate(
            {**stored.status(), "revision": revision, "metadata": metadata}
        )

    async def _publish(
        self,
        obj: api.ArtifactGenerator,
        out: api.OutputArtifact,
        artifact: meta.Artifact,
        captured: dict[str, str],
    ) -> api.ExternalArtifactReference:
        """Apply the ExternalArtifact and write its status (only when it changes)."""
        path = self.artifacts.path(obj.namespace, out.name)
        live = await self._live(path)
        uid = obj.metadata.uid or ""
        if live is not None:
            owner = (live["metadata"].get("labels") or {}).get(api.GENERATOR_LABEL)
            if owner and owner != uid:
                raise ReconcileError(
                    conditions.RECONCILIATION_FAILED,
                    f"{out.name} reconcile failed: ExternalArtifact '{obj.namespace}/{out.name}'"
                    " belongs to another ArtifactGenerator",
                )
        common = obj.spec.common_metadata
        labels = {
            **(common.labels if common else {}),
            **captured,  # a pathPattern's captures, lowercased
            "app.kubernetes.io/managed-by": FIELD_MANAGER,
            api.GENERATOR_LABEL: uid,
        }
        metadata: dict[str, Any] = {"name": out.name, "namespace": obj.namespace, "labels": labels}
        if common and common.annotations:
            metadata["annotations"] = dict(common.annotations)
        desired = {
            "apiVersion": self.artifacts.api_version,
            "kind": EXTERNAL_ARTIFACT,
            "metadata": metadata,
            "spec": {
                "sourceRef": {
                    "apiVersion": obj.api_version,
                    "kind": KIND,
                    "name": obj.name,
                    "namespace": obj.namespace,
                }
            },
        }
        try:
            applied = await self.manager.put(desired, path)
            await self._write_status(path, applied, artifact)
        except ApiError as err:
            raise ReconcileError(
                conditions.RECONCILIATION_FAILED, f"{out.name} reconcile failed: {err}"
            ) from err
        return api.ExternalArtifactReference(
            name=out.name,
            namespace=obj.namespace,
            digest=artifact.digest or "",
            filename=Path(artifact.path).name,
        )

    async def _write_status(self, path: str, live: JSON, artifact: meta.Artifact) -> None:
        old = live.get("status") or {}
        new = copy.deepcopy(old)
        current = old.get("artifact") or {}
        same = all(
            current.get(k) == v
            for k, v in (
                ("digest", artifact.digest),
                ("revision", artifact.revision),
                ("path", artifact.path),
                ("metadata", artifact.metadata),
            )
        )
        if not same:
            new["artifact"] = typed_status.dump_model(artifact)
        generation = int(live["metadata"].get("generation") or 0)
        revision = new.get("artifact", {}).get("revision", artifact.revision)
        message = f"stored artifact for revision '{revision}'"
        conditions.mark_ready(new, conditions.SUCCEEDED, message, generation)
        new["observedGeneration"] = generation
        ready_before = conditions.get(old, conditions.READY)
        ready_after = conditions.get(new, conditions.READY)
        if (
            ready_before is not None
            and ready_after is not None
            and all(
                ready_before.get(k) == ready_after.get(k) for k in ("status", "reason", "message")
            )
        ):
            ready_after["lastTransitionTime"] = ready_before.get("lastTransitionTime")
        if new != old:
            await self.client.patch(f"{path}/status", {"status": new})

    # ---- what the generator owns --------------------------------------------------------

    async def _up_to_date(
        self, obj: api.ArtifactGenerator, status: api.ArtifactGeneratorStatus, digest: str
    ) -> bool:
        ready = status.condition(conditions.READY)
        if (
            status.observed_sources_digest != digest
            or ready is None
            or ready.status != "True"
            or ready.observed_generation != obj.generation
            or (
                not obj.spec.path_pattern  # else the names depend on the source's tree
                and {r.name for r in status.inventory} != {a.name for a in obj.spec.artifacts}
            )
        ):
            return False
        cache = self.sources.get(EXTERNAL_ARTIFACT)
        for ref in status.inventory:
            cached = cache.get(ref.namespace, ref.name) if cache is not None else None
            if cached is not None and self._generated(obj, ref, cached):
                continue  # an interval reconcile of an unchanged generator costs no request
            live = await self._live(self.artifacts.path(ref.namespace, ref.name))
            if live is None or not self._generated(obj, ref, live):
                return False
        return True

    def _generated(
        self, obj: api.ArtifactGenerator, ref: api.ExternalArtifactReference, live: JSON
    ) -> bool:
        """Whether `live` is the ExternalArtifact `ref` records: ours, with our artifact,
        whose file is still in the store."""
        labels = live["metadata"].get("labels") or {}
        artifact = (live.get("status") or {}).get("artifact") or {}
        return (
            labels.get(api.GENERATOR_LABEL) == obj.metadata.uid
            and artifact.get("digest") == ref.digest
            and self.store.local_path(str(artifact.get("path", ""))) is not None
        )

    async def _delete_orphans(
        self,
        obj: api.ArtifactGenerator,
        before: list[api.ExternalArtifactReference],
        now: list[api.ExternalArtifactReference],
    ) -> None:
        kept = {(r.namespace, r.name) for r in now}
        for ref in before:
            if (ref.namespace, ref.name) not in kept:
                await self._delete(ref.namespace, ref.name, obj.metadata.uid or "")
                self.event(
                    obj,
                    "Normal",
                    "GarbageCollectionSucceeded",
                    f"{EXTERNAL_ARTIFACT} '{ref.namespace}/{ref.name}' deleted",
                )

    async def _delete(self, namespace: str, name: str, uid: str) -> None:
        """Delete our ExternalArtifact (not one another generator took) and its files."""
        live = await self._live(self.artifacts.path(namespace, name))
        if (
            live is not None
            and (live["metadata"].get("labels") or {}).get(api.GENERATOR_LABEL) == uid
        ):
            try:
                await self.client.delete(self.artifacts.path(namespace, name))
            except ApiError as err:
                if not err.not_found:
                    raise
        await asyncio.to_thread(self.store.remove_object, EXTERNAL_ARTIFACT, namespace, name)

    async def _live(self, path: str) -> JSON | None:
        try:
            return await self.client.get(path)
        except ApiError as err:
            if err.not_found:
                return None
            raise

    async def finalize(self, obj: JSON) -> None:
        uid = str(obj["metadata"].get("uid") or "")
        for ref in (obj.get("status") or {}).get("inventory") or []:
            await self._delete(str(ref["namespace"]), str(ref["name"]), uid)


def _succeeded(count: int) -> str:
    return f"reconciliation succeeded, generated {count} artifact(s)"
