"""The OCIRepository reconciler: an artifact in a container registry, published as the
source's artifact.

    credentials → the tag (ref.tag, the highest in ref.semver, or ref.digest) → its digest
    → (same digest, same ignore and layer selector? done) → manifest → layer → artifact

An unchanged artifact costs one HEAD (a tag, a digest) or a tag listing (a range), and no
write. The revision is Flux's: `<tag>@sha256:<hex>`, or `sha256:<hex>` for a digest pin.
The layer is the first of `layerSelector.mediaType` (the first layer when none is named);
`extract` unpacks it and repacks what `ignore` keeps, `copy` stores it as the registry sent it.
A failure keeps the last good artifact in the status (consumers go on using it) and says
why, with Flux's reasons: OCIArtifactPullFailed (the registry, its credentials, its
content), OCIArtifactLayerOperationFailed (the layer), URLInvalid.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kidp_gitops.api import meta
from kidp_gitops.api import source as api
from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.oci import artifact, client, errors, reference
from kidp_gitops.oci.deadline import Deadline, DeadlineExceeded
from kidp_gitops.proc import background
from kidp_gitops.runtime import (
    conditions,
    failures,
    secrets,
    tenantregex,
)
from kidp_gitops.runtime import status as typed_status
from kidp_gitops.runtime.context import Context
from kidp_gitops.runtime.lifecycle import TypedReconciler
from kidp_gitops.runtime.reconcile import ReconcileError, Result, StalledError
from kidp_gitops.runtime.workqueue import jittered
from kidp_gitops.source import newartifact
from kidp_gitops.source.ignore import IgnoreRules
from kidp_gitops.storage.artifacts import Artifact, ArtifactStore
from kidp_gitops.vcs import giterrors, semver

KIND = "OCIRepository"
PULL_FAILED = "OCIArtifactPullFailed"
LAYER_FAILED = "OCIArtifactLayerOperationFailed"
URL_INVALID = "URLInvalid"
INVALID_SPEC = "InvalidSpec"

ERRORS: failures.Table[api.OCIRepositorySpec] = failures.Table(
    failures.backoff(errors.OCIError, reason=PULL_FAILED),
)


@dataclass(frozen=True)
class Pick:
    """What the ref resolved to: the tag (None for a digest pin) and the digest."""

    tag: str | None
    digest: str

    @property
    def revision(self) -> str:
        return f"{self.tag}@{self.digest}" if self.tag else self.digest


class OCIRepositoryReconciler(TypedReconciler[api.OCIRepository, api.OCIRepositoryStatus]):
    kind = KIND
    model = api.OCIRepository
    status_model = api.OCIRepositoryStatus
    errors = ERRORS

    def __init__(
        self,
        ctx: Context,
        resource: Resource,
        repositories: Informer,
        store: ArtifactStore,
        workdir: Path,
    ):
        super().__init__(ctx.client, resource, ctx.events, repositories)
        self.store = store
        self.workdir = workdir

    async def run(self, obj: api.OCIRepository, status: api.OCIRepositoryStatus) -> Result:
        spec = obj.spec
        try:
            repository = reference.parse_repository(spec.url)
        except errors.OCIError as err:
            raise StalledError(URL_INVALID, err.message) from err
        registry = client.Client(
            repository,
            await secrets.registry_credentials(
                self.client,
                obj.namespace,
                repository.host,
                spec.secret_ref.name if spec.secret_ref else None,
                spec.service_account_name,
            ),
            insecure=spec.insecure,
            tls=await secrets.cert_tls(self.client, obj.namespace, spec.cert_secret_ref),
            timeout=spec.timeout.seconds,
        )
        # One budget for all the registry's requests, however many it makes us send.
        deadline = Deadline(spec.timeout.seconds, "spec.timeout")
        try:
            async with deadline.covering():
                pick = await resolve(registry, spec.ref)
        except DeadlineExceeded as err:
            message = f"failed to determine artifact digest: {err.message}"
            raise ReconcileError(PULL_FAILED, message) from err
        if (
            newartifact.unchanged(self.store, status, pick.revision)
            and status.observed_ignore == spec.ignore
            and status.observed_layer_selector == spec.layer_selector
        ):
            message = f"stored artifact for digest '{pick.revision}'"
            conditions.mark_ready(status, conditions.SUCCEEDED, message, obj.generation)
            return Result(requeue_after=jittered(spec.interval.seconds))

        conditions.mark_reconciling(
            status,
            conditions.PROGRESSING,
            f"building artifact: new digest '{pick.revision}'",
            obj.generation,
        )
        stored, manifest = await self.pull(obj, spec, registry, pick, deadline)
        new = meta.Artifact.model_validate(
            {**stored.status(), "metadata": artifact.Metadata.of(manifest).annotations or None}
        )
        status.url = stored.url
        status.observed_ignore = spec.ignore
        status.observed_layer_selector = spec.layer_selector
        newartifact.record(
            self,
            obj,
            status,
            new,
            f"stored artifact for digest '{pick.revision}'",
            event=f"stored artifact with revision '{pick.revision}' from '{spec.url}'",
        )
        return Result(requeue_after=jittered(spec.interval.seconds))

    async def pull(
        self,
        obj: api.OCIRepository,
        spec: api.OCIRepositorySpec,
        registry: client.Client,
        pick: Pick,
        deadline: Deadline,
    ) -> tuple[Artifact, client.Manifest]:
        """Download the selected layer (within the deadline) and store it, extracted or as
        it is."""
        try:
            async with deadline.covering():
                manifest = await registry.manifest(pick.digest)
        except errors.OCIError as err:
            raise ReconcileError(PULL_FAILED, f"failed to pull artifact: {err.message}") from err
        selector = spec.layer_selector
        try:
            layer = artifact.select_layer(manifest, selector.media_type if selector else None)
        except errors.OCIError as err:
            raise ReconcileError(LAYER_FAILED, err.message) from err
        tmp = Path(await asyncio.to_thread(tempfile.mkdtemp, dir=self.workdir, prefix="oci-"))
        try:
            blob = tmp / "layer.tar.gz"
            try:
                async with deadline.covering():
                    await artifact.download_layer(registry, layer, blob)
            except errors.OCIError as err:
                raise ReconcileError(
                    PULL_FAILED, f"failed to pull artifact: {err.message}"
                ) from err
            try:
                stored = await asyncio.to_thread(
                    self._store, obj, spec, blob, str(layer["digest"]), tmp / "tree", pick.revision
                )
            except errors.OCIError as err:
                raise ReconcileError(LAYER_FAILED, err.message) from err
        finally:
            background.discard(tmp)
        return stored, manifest

    def _store(
        self,
        obj: api.OCIRepository,
        spec: api.OCIRepositorySpec,
        blob: Path,
        digest: str,
        tree: Path,
        revision: str,
    ) -> Artifact:
        """The layer as the artifact (in a worker thread): moved in as it is (`copy`), or
        unpacked and repacked with the ignore rules (`extract`)."""
        if spec.effective_operation() == "copy":
            # The layer's digest, checked by download_layer as the blob arrived.
            return self.store.adopt(KIND, obj.namespace, obj.name, blob, revision, digest)
        artifact.extract(blob, tree)
        files = IgnoreRules(tree, spec.ignore).files(tree)
        return self.store.archive(KIND, obj.namespace, obj.name, tree, files, revision)

    async def finalize(self, obj: JSON) -> None:
        meta_ = obj["metadata"]
        await asyncio.to_thread(self.store.remove_object, KIND, meta_["namespace"], meta_["name"])


async def resolve(registry: client.Client, ref: api.OCIRepositoryRef | None) -> Pick:
    """The tag and digest the ref names, with Flux's precedence: digest, semver, tag."""
    if ref is not None and ref.digest:
        if not reference.DIGEST.match(ref.digest):
            raise StalledError(INVALID_SPEC, f"spec.ref.digest '{ref.digest}' is not sha256:<hex>")
        # The manifest must exist (a typo should fail here, not at the layer), and a HEAD
        # says so: the pull, when there is one, reads and verifies the manifest itself.
        try:
            await registry.resolve(ref.digest)
        except errors.OCIError as err:
            raise ReconcileError(
                PULL_FAILED, f"failed to determine artifact digest: {err.message}"
            ) from err
        return Pick(None, ref.digest)
    if ref is not None and ref.semver:
        tag = await _highest(registry, ref.semver, ref.semver_filter)
    else:
        tag = (ref.tag if ref is not None else None) or "latest"
    try:
        return Pick(tag, await registry.resolve(tag))
    except errors.OCIError as err:
        raise ReconcileError(
            PULL_FAILED, f"failed to determine artifact digest: {err.message}"
        ) from err


async def _highest(registry: client.Client, wanted: str, pattern: str | None) -> str:
    try:
        versions_range = semver.parse_range(wanted)
    except giterrors.InvalidRef as err:
        raise StalledError(INVALID_SPEC, f"spec.ref.semver '{wanted}': {err}") from err
    matcher = semver_filter(pattern)
    try:
        tags = await registry.tags()
    except errors.OCIError as err:
        raise ReconcileError(
            PULL_FAILED, f"failed to determine artifact digest: {err.message}"
        ) from err
    versions = {
        tag: version
        for tag in tags
        if (matcher is None or matcher.search(tag))
        and (version := semver.parse_version(tag)) is not None
    }
    best = versions_range.best(versions)
    if best is None:
        raise ReconcileError(
            PULL_FAILED,
            f"failed to determine artifact digest: no tag of {registry.repository.canonical}"
            f" matches the semver range '{wanted}'",
        )
    return best


def semver_filter(pattern: str | None) -> tenantregex.Pattern | None:
    """spec.ref.semverFilter compiled as Flux compiles it (RE2: linear time, whatever the
    tenant wrote); a pattern RE2 refuses stalls the object."""
    if not pattern:
        return None
    try:
        return tenantregex.compile(pattern)
    except tenantregex.InvalidPattern as err:
        raise StalledError(
            INVALID_SPEC,
            f"spec.ref.semverFilter '{pattern}' is not a valid RE2 regular expression: {err}",
        ) from err


def status_of(obj: JSON) -> api.OCIRepositoryStatus:
    """The status of an OCIRepository read from the API server."""
    return typed_status.parse(api.OCIRepositoryStatus, obj.get("status") or {})
