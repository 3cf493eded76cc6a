"""The HelmChart reconciler: a chart from a source, published as an artifact.

    source (GitRepository | Bucket | HelmRepository) → its artifact → the chart → (same
    version? done)
        HelmRepository type oci: the registry's tags → newest in spec.version → its chart
                        layer (`source/helmoci.py`) → values files (then helm package)
        GitRepository, Bucket: unpack → spec.chart (a directory or .tgz in it) → values
                        files → deps → helm package
        HelmRepository: index → newest version in spec.version → download (digest checked)
                        → values files (then helm package)
    → artifact (the chart directory, packed deterministically) → Ready

The revision is the chart version, as Flux reports it: with `reconcileStrategy:
Revision` (Git and Bucket sources) the version carries the first 12 hex digits of the
commit (of the bucket's index digest) as build metadata (`1.2.0+4e5cbb7b97d0`), and with
`valuesFiles` the object's generation (`1.2.0+3`). As in Flux, a chart whose name and
version did not change is not built again until the HelmChart's spec changes. A new
source artifact reaches this reconciler at once (the controller watches the sources).
Failures carry Flux's reasons: InvalidChartReference (no such chart or version;
stalled), IllegalPath, ChartPullError, ChartPackageError, AuthenticationFailed; while
the source has no artifact, NoSourceArtifact.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kidp_gitops.api import meta
from kidp_gitops.api import source as api
from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.oci.deadline import Deadline, DeadlineExceeded
from kidp_gitops.proc import background
from kidp_gitops.runtime import conditions, failures, outbound
from kidp_gitops.runtime import status as typed_status
from kidp_gitops.runtime.context import Context
from kidp_gitops.runtime.lifecycle import TypedReconciler
from kidp_gitops.runtime.reconcile import ReconcileError, Result, StalledError
from kidp_gitops.runtime.workqueue import jittered
from kidp_gitops.source import helmhttp, helmindex, helmoci, helmpackage
from kidp_gitops.source.helmpackage import ChartError
from kidp_gitops.storage.artifacts import Artifact, ArtifactStore
from kidp_gitops.storage.fetch import ArtifactUnavailable, fetch

KIND = "HelmChart"
INVALID_SPEC = "InvalidSpec"
SOURCE_UNAVAILABLE = "SourceUnavailable"
NO_SOURCE_ARTIFACT = "NoSourceArtifact"
UNSUPPORTED_SOURCE_KIND = "UnsupportedSourceKind"
CHART_PULL_SUCCEEDED = "ChartPullSucceeded"
CHART_PACKAGE_SUCCEEDED = "ChartPackageSucceeded"
SOURCE_WAIT = 30.0
"""A safety net: the controller watches the sources, so a new artifact is seen at once."""
INDEX_CACHE_SIZE = 4

ERRORS: failures.Table[api.HelmChartSpec] = failures.Table(
    failures.wait(SOURCE_UNAVAILABLE, after=SOURCE_WAIT),
    failures.wait(NO_SOURCE_ARTIFACT, after=SOURCE_WAIT),
)


@dataclass(frozen=True)
class Source:
    kind: str
    name: str
    obj: JSON
    artifact: meta.Artifact | None
    """None for a HelmRepository of type 'oci': the registry is read directly."""

    @property
    def revision(self) -> str:
        return self.artifact.revision if self.artifact else ""

    @property
    def is_oci(self) -> bool:
        return self.kind == "HelmRepository" and (self.obj.get("spec") or {}).get("type") == "oci"

    def wire_artifact(self) -> dict[str, Any]:
        """The artifact as `storage.fetch` reads it (Flux's field names)."""
        return typed_status.dump_model(self.artifact) if self.artifact else {}


@dataclass(frozen=True)
class Built:
    """What a build step settled on. `tree` holds the chart directory to store; None
    when the stored artifact already is this chart."""

    name: str
    revision: str
    reason: str
    message: str
    tree: Path | None
    values_files: tuple[str, ...] = ()


class HelmChartReconciler(TypedReconciler[api.HelmChart, api.HelmChartStatus]):
    kind = KIND
    model = api.HelmChart
    status_model = api.HelmChartStatus
    errors = ERRORS

    def __init__(
        self,
        ctx: Context,
        resource: Resource,
        charts: Informer,
        store: ArtifactStore,
        workdir: Path,
        helm: helmpackage.Helm,
        sources: dict[str, Resource],
    ):
        super().__init__(ctx.client, resource, ctx.events, charts)
        self.store = store
        self.workdir = workdir
        self.helm = helm
        self.sources = sources
        self._indexes: OrderedDict[str, helmindex.Index] = OrderedDict()

    async def run(self, obj: api.HelmChart, status: api.HelmChartStatus) -> Result:
        spec, generation = obj.spec, obj.generation
        # As Flux: a spec change (new generation) always builds again.
        unchanged_spec = _ready_at(status, generation) and self._stored(status)
        source = await self.get_source(obj.namespace, spec.source_ref)
        tmp = Path(tempfile.mkdtemp(dir=self.workdir, prefix="chart-"))
        try:
            built = await self.build(spec, source, status, unchanged_spec, tmp, generation)
            if built.tree is not None:
                await self.store_artifact(obj, status, built, built.tree)
        finally:
            background.discard(tmp)
        status.observed_source_artifact_revision = source.revision or None
        status.observed_chart_name = built.name
        status.observed_values_files = list(built.values_files)
        conditions.mark_ready(status, built.reason, built.message, generation)
        return Result(requeue_after=jittered(spec.interval.seconds))

    async def build(
        self,
        spec: api.HelmChartSpec,
        source: Source,
        status: api.HelmChartStatus,
        unchanged_spec: bool,
        tmp: Path,
        generation: int,
    ) -> Built:
        """The chart from its source, in `tmp`; a ChartError becomes its Flux reason."""
        try:
            if source.kind in ("GitRepository", "Bucket"):  # a tree holding the chart
                return await self.build_from_git(
                    spec, source, status, unchanged_spec, tmp, generation
                )
            if source.is_oci:
                return await self.build_from_oci(
                    spec, source, status, unchanged_spec, tmp, generation
                )
            return await self.build_from_repository(
                spec, source, status, unchanged_spec, tmp, generation
            )
        except ChartError as err:
            error = StalledError if err.stalled else ReconcileError
            raise error(err.reason, err.message) from err

    async def store_artifact(
        self, obj: api.HelmChart, status: api.HelmChartStatus, built: Built, tree: Path
    ) -> None:
        """Archive the chart in `tree` as the newest artifact (off the event loop); an
        event when it is new."""

        def archive() -> Artifact:
            files = helmpackage.tree_files(tree)
            return self.store.archive(KIND, obj.namespace, obj.name, tree, files, built.revision)

        artifact = await asyncio.to_thread(archive)
        current = status.artifact
        digest = current.digest if current else None
        if digest == artifact.digest and current and current.revision == built.revision:
            return  # built again, byte for byte the same: the status stays as it was
        status.artifact = meta.Artifact.model_validate(artifact.status())
        status.url = artifact.url
        if digest != artifact.digest:
            self.event(
                obj,
                "Normal",
                built.reason,
                built.message,
                {f"{api.GROUP}/revision": built.revision},
            )

    async def finalize(self, obj: JSON) -> None:
        where = obj["metadata"]
        await asyncio.to_thread(self.store.remove_object, KIND, where["namespace"], where["name"])

    async def get_source(self, namespace: str, ref: api.HelmChartSourceReference) -> Source:
        resource = self.sources.get(ref.kind)
        if resource is None:
            raise StalledError(
                UNSUPPORTED_SOURCE_KIND,
                f"source kind '{ref.kind}' is not supported yet by kidp-gitops:"
                " use a GitRepository, a Bucket or a HelmRepository",
            )
        try:
            obj = await self.client.get(resource.path(namespace, ref.name))
        except ApiError as err:
            if err.not_found:
                raise ReconcileError(
                    SOURCE_UNAVAILABLE, f"{ref.kind} '{namespace}/{ref.name}' not found"
                ) from err
            raise
        if ref.kind == "HelmRepository" and (obj.get("spec") or {}).get("type") == "oci":
            return Source(ref.kind, ref.name, obj, None)  # no artifact: charts are pulled
        # Every kind of source keeps their artifact in status.artifact.
        artifact = typed_status.parse(api.HelmRepositoryStatus, obj.get("status") or {}).artifact
        if artifact is None:
            raise ReconcileError(
                NO_SOURCE_ARTIFACT, f"no artifact available for {ref.kind} source '{ref.name}'"
            )
        return Source(ref.kind, ref.name, obj, artifact)

    async def build_from_git(
        self,
        spec: api.HelmChartSpec,
        source: Source,
        status: api.HelmChartStatus,
        unchanged_spec: bool,
        tmp: Path,
        generation: int,
    ) -> Built:
        current = status.artifact
        if (
            unchanged_spec
            and current is not None
            and status.observed_source_artifact_revision == source.revision
        ):
            return _kept(status, current)
        root = tmp / "source"
        await self._unpack_source(source, root)
        chart_dir = helmpackage.inside(root, spec.chart, "chart path")
        packaged = chart_dir.is_file()  # a chart archive kept in Git, as Flux allows
        if packaged:
            data = await asyncio.to_thread(chart_dir.read_bytes)
            chart_dir = await asyncio.to_thread(
                helmpackage.unpack_chart, data, tmp / "archive", spec.chart
            )
        chart = helmpackage.read_chart(chart_dir, spec.chart)
        build_meta = []
        if spec.reconcile_strategy == "Revision":
            build_meta.append(_short_sha(source.revision))
        files = spec.all_values_files()
        if files:
            build_meta.append(str(generation))
        version = _with_metadata(chart.version, build_meta)
        if (
            unchanged_spec
            and current is not None
            and current.revision == version
            and status.observed_chart_name == chart.name
        ):
            return _kept(status, current)

        values_files: list[str] = []
        if files:
            values, values_files = helmpackage.merge_values(
                root, files, ignore_missing=spec.ignore_missing_values_files
            )
            helmpackage.write_values(chart_dir, values)
        # An archive carries its dependencies already.
        if not packaged and helmpackage.check_local_dependencies(chart_dir, root, chart):
            await self.helm.dependency_build(chart_dir, spec.chart, tmp)
        return await self._package(
            chart_dir,
            tmp,
            spec.chart,
            chart.name,
            version,
            version if version != chart.version else None,
            values_files,
        )

    async def build_from_repository(
        self,
        spec: api.HelmChartSpec,
        source: Source,
        status: api.HelmChartStatus,
        unchanged_spec: bool,
        tmp: Path,
        generation: int,
    ) -> Built:
        try:
            repo = api.HelmRepository.model_validate(source.obj).spec
        except ValidationError as err:
            raise ReconcileError(
                SOURCE_UNAVAILABLE, f"HelmRepository '{source.name}' has an invalid spec"
            ) from err
        try:
            index = await self._index(source, tmp / "index")
            entry = helmindex.select(index, spec.chart, spec.version)
        except (helmindex.InvalidIndex, OSError) as err:
            raise ReconcileError(
                helmpackage.CHART_PULL_ERROR,
                f"cannot read the index of HelmRepository '{source.name}': {err}",
            ) from err
        except helmindex.ChartNotFound as err:
            raise StalledError(
                helmpackage.INVALID_CHART_REFERENCE, f"invalid chart reference: {err}"
            ) from err
        files = spec.all_values_files()
        version = _with_metadata(entry.version, [str(generation)] if files else [])
        current = status.artifact
        if (
            unchanged_spec
            and current is not None
            and current.revision == version
            and status.observed_chart_name == spec.chart
        ):
            return _kept(status, current)

        data = await self._download(source, repo, entry)
        return await self._from_archive(spec, data, tmp, version, files)

    async def build_from_oci(
        self,
        spec: api.HelmChartSpec,
        source: Source,
        status: api.HelmChartStatus,
        unchanged_spec: bool,
        tmp: Path,
        generation: int,
    ) -> Built:
        """The chart from an OCI registry: the version the range names (a tag listing),
        then, when it is new, its chart layer."""
        try:
            repo = api.HelmRepository.model_validate(source.obj).spec
        except ValidationError as err:
            raise ReconcileError(
                SOURCE_UNAVAILABLE, f"HelmRepository '{source.name}' has an invalid spec"
            ) from err
        namespace = source.obj["metadata"]["namespace"]
        registry = await helmoci.connect(self.client, namespace, repo, spec.chart)
        # One budget for all the registry's requests (tag pages, manifest, layer).
        deadline = Deadline(repo.effective_timeout().seconds, "the HelmRepository's spec.timeout")
        try:
            async with deadline.covering():
                chart_version = await helmoci.version(registry, spec.version)
        except DeadlineExceeded as err:
            raise ReconcileError(helmpackage.CHART_PULL_ERROR, str(err)) from err
        files = spec.all_values_files()
        version = _with_metadata(chart_version, [str(generation)] if files else [])
        current = status.artifact
        if (
            unchanged_spec
            and current is not None
            and current.revision == version
            and status.observed_chart_name == spec.chart
        ):
            return _kept(status, current)
        try:
            async with deadline.covering():
                pulled = await helmoci.pull(registry, chart_version, tmp)
        except DeadlineExceeded as err:
            raise ReconcileError(helmpackage.CHART_PULL_ERROR, str(err)) from err
        return await self._from_archive(spec, pulled.data, tmp, version, files)

    async def _from_archive(
        self, spec: api.HelmChartSpec, data: bytes, tmp: Path, version: str, files: list[str]
    ) -> Built:
        """A packaged chart pulled from a repository or a registry: unpacked, and packaged
        again only when values files are merged into it."""
        tree = tmp / "chart"
        chart_dir = await asyncio.to_thread(helmpackage.unpack_chart, data, tree, spec.chart)
        if not files:
            return Built(
                name=spec.chart,
                revision=version,
                reason=CHART_PULL_SUCCEEDED,
                message=f"pulled '{spec.chart}' chart with version '{version}'",
                tree=tree,
            )
        # Reading and parsing the values files is disk work: off the event loop.
        values, found = await asyncio.to_thread(
            helmpackage.merge_values,
            chart_dir,
            files,
            ignore_missing=spec.ignore_missing_values_files,
        )
        await asyncio.to_thread(helmpackage.write_values, chart_dir, values)
        return await self._package(chart_dir, tmp, spec.chart, spec.chart, version, version, found)

    async def _package(
        self,
        chart_dir: Path,
        tmp: Path,
        where: str,
        name: str,
        version: str,
        set_version: str | None,
        values_files: Sequence[str],
    ) -> Built:
        """`helm package` the chart directory (with `set_version` when it must change),
        then unpack the archive into the tree the artifact is made from."""
        archive = await self.helm.package(chart_dir, tmp / "out", where, set_version, tmp)
        tree = tmp / "packaged"
        data = await asyncio.to_thread(archive.read_bytes)
        await asyncio.to_thread(helmpackage.unpack_chart, data, tree, where)
        return Built(
            name=name,
            revision=version,
            reason=CHART_PACKAGE_SUCCEEDED,
            message=f"packaged '{name}' chart with version '{version}'",
            tree=tree,
            values_files=tuple(values_files),
        )

    async def _download(
        self, source: Source, repo: api.HelmRepositorySpec, entry: helmindex.ChartVersion
    ) -> bytes:
        namespace = source.obj["metadata"]["namespace"]
        auth = await helmhttp.load_auth(self.client, namespace, repo)
        url = helmindex.chart_url(repo.url, entry.urls[0])
        what = f"chart '{entry.name}' version '{entry.version}'"
        try:
            data = await helmhttp.download(
                url,
                auth,
                timeout=repo.effective_timeout().seconds,
                limit=helmhttp.MAX_CHART_SIZE,
                send_credentials=auth.pass_credentials or helmindex.same_host(url, repo.url),
            )
        except helmhttp.FetchError as err:
            reason = conditions.AUTHENTICATION_FAILED if err.auth else helmpackage.CHART_PULL_ERROR
            raise ReconcileError(reason, f"failed to pull {what}: {err}") from err
        if entry.digest is not None and hashlib.sha256(data).hexdigest() != entry.digest.lower():
            raise ReconcileError(
                helmpackage.CHART_PULL_ERROR,
                f"failed to pull {what}: its sha256 does not match the digest in the index",
            )
        return data

    async def _index(self, source: Source, tmp: Path) -> helmindex.Index:
        """The parsed index of a HelmRepository artifact. Many charts read one index,
        and a large one takes seconds to parse: the last few are kept, by digest."""
        digest = (source.artifact.digest if source.artifact else None) or ""
        index = self._indexes.get(digest)
        if index is None:
            await self._unpack_source(source, tmp)
            data = await asyncio.to_thread((tmp / "index.yaml").read_bytes)
            index = await asyncio.to_thread(helmindex.parse_index, data)
            self._indexes[digest] = index
            while len(self._indexes) > INDEX_CACHE_SIZE:
                self._indexes.popitem(last=False)
        self._indexes.move_to_end(digest)
        return index

    async def _unpack_source(self, source: Source, dest: Path) -> None:
        try:
            await fetch(source.wire_artifact(), dest, self.store, outbound.current())
        except ArtifactUnavailable as err:
            raise ReconcileError(
                NO_SOURCE_ARTIFACT,
                f"artifact of {source.kind} '{source.name}' is not available: {err}",
            ) from err

    def _stored(self, status: api.HelmChartStatus) -> bool:
        path = status.artifact.path if status.artifact else ""
        return bool(path) and self.store.local_path(path) is not None


def _kept(status: api.HelmChartStatus, current: meta.Artifact) -> Built:
    name = status.observed_chart_name or ""
    revision = current.revision
    ready = status.condition(conditions.READY)
    reason = ready.reason if ready else CHART_PULL_SUCCEEDED
    message = ready.message if ready else f"chart '{name}' version '{revision}' is stored"
    return Built(
        name=name,
        revision=revision,
        reason=reason,
        message=message,
        tree=None,
        values_files=tuple(status.observed_values_files),
    )


def _ready_at(status: api.HelmChartStatus, generation: int) -> bool:
    ready = status.condition(conditions.READY)
    return ready is not None and ready.status == "True" and ready.observed_generation == generation


def _short_sha(revision: str) -> str:
    """The first 12 hex digits of a Git revision ('main@sha1:<hex>' or '<hex>') or of a
    Bucket's ('sha256:<hex>')."""
    return revision.rpartition(":")[2].rpartition("@")[2][:12]


def _with_metadata(version: str, parts: list[str]) -> str:
    if not parts:
        return version
    return version.partition("+")[0] + "+" + ".".join(parts)
