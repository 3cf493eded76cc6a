"""The HelmRepository reconciler: a chart repository's index, published as an artifact.

    credentials → GET <url>/index.yaml → (same revision? done) → valid index? → artifact → Ready

The revision is the sha256 of the index as served; an unchanged index costs one GET, no
parse and no write. The artifact is a tarball holding `index.yaml`, read by the HelmChart
reconciler to choose a chart version. A failure keeps the last good artifact in the
status and says why, with Flux's reasons (IndexationFailed, AuthenticationFailed,
URLInvalid). A repository of `type: oci` has no index: it is Ready once its URL is valid,
and its HelmCharts read the registry (`source/helmoci.py`).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from kidp_gitops.api import meta
from kidp_gitops.api import source as api
from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.runtime import conditions
from kidp_gitops.runtime.context import Context
from kidp_gitops.runtime.lifecycle import TypedReconciler
from kidp_gitops.runtime.reconcile import ReconcileError, Result, StalledError
from kidp_gitops.runtime.workqueue import jittered
from kidp_gitops.source import helmhttp, helmindex, helmoci, newartifact
from kidp_gitops.storage.artifacts import Artifact, ArtifactStore

KIND = "HelmRepository"
INDEX_FILE = "index.yaml"
INDEXATION_FAILED = "IndexationFailed"
URL_INVALID = "URLInvalid"
INVALID_SPEC = "InvalidSpec"


class HelmRepositoryReconciler(TypedReconciler[api.HelmRepository, api.HelmRepositoryStatus]):
    kind = KIND
    model = api.HelmRepository
    status_model = api.HelmRepositoryStatus

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

    async def run(self, obj: api.HelmRepository, status: api.HelmRepositoryStatus) -> Result:
        spec = obj.spec
        check_spec(spec)
        if spec.is_oci:
            # Nothing to fetch: HelmCharts read the registry themselves (as Flux, whose
            # OCI HelmRepositories hold no artifact).
            helmoci.check_url(spec)
            status.artifact = None
            status.url = None
            conditions.mark_ready(
                status, conditions.SUCCEEDED, "Helm repository is ready", obj.generation
            )
            return Result(requeue_after=jittered(spec.effective_interval().seconds))
        auth = await helmhttp.load_auth(self.client, obj.namespace, spec)
        data = await self.fetch_index(spec, auth)
        revision = helmindex.revision(data)
        message = f"stored artifact: revision '{revision}'"
        if newartifact.unchanged(self.store, status, revision):
            conditions.mark_ready(status, conditions.SUCCEEDED, message, obj.generation)
            return Result(requeue_after=jittered(spec.effective_interval().seconds))

        await self.check_index(spec, data)
        artifact = await asyncio.to_thread(
            self.store_index, obj.namespace, obj.name, data, revision
        )
        status.url = artifact.url
        shown = helmindex.display_url(spec.url)
        newartifact.record(
            self,
            obj,
            status,
            meta.Artifact.model_validate(artifact.status()),
            message,
            event=f"stored fetched index of {len(data)} bytes from '{shown}'",
        )
        return Result(requeue_after=jittered(spec.effective_interval().seconds))

    async def finalize(self, obj: JSON) -> None:
        meta = obj["metadata"]
        await asyncio.to_thread(self.store.remove_object, KIND, meta["namespace"], meta["name"])

    async def fetch_index(self, spec: api.HelmRepositorySpec, auth: helmhttp.RepoAuth) -> bytes:
        try:
            return await helmhttp.download(
                _index_url(spec),
                auth,
                timeout=spec.effective_timeout().seconds,
                limit=helmindex.MAX_INDEX_SIZE,
            )
        except helmhttp.FetchError as err:
            reason = conditions.AUTHENTICATION_FAILED if err.auth else INDEXATION_FAILED
            raise ReconcileError(reason, f"failed to fetch Helm repository index: {err}") from err

    async def check_index(self, spec: api.HelmRepositorySpec, data: bytes) -> None:
        """Refuse what is not an index (only a new revision is read: it takes a while,
        so off the event loop)."""
        try:
            await asyncio.to_thread(helmindex.parse_index, data)
        except helmindex.InvalidIndex as err:
            shown = helmindex.display_url(_index_url(spec))
            raise ReconcileError(INDEXATION_FAILED, f"{shown}: {err}") from err

    def store_index(self, namespace: str, name: str, data: bytes, revision: str) -> Artifact:
        tmp = Path(tempfile.mkdtemp(dir=self.workdir, prefix="index-"))
        try:
            (tmp / INDEX_FILE).write_bytes(data)
            return self.store.archive(KIND, namespace, name, tmp, [INDEX_FILE], revision)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _index_url(spec: api.HelmRepositorySpec) -> str:
    return spec.url.rstrip("/") + "/" + INDEX_FILE


def check_spec(spec: api.HelmRepositorySpec) -> None:
    """Refuse, Stalled, an HTTP(S) repository's URL without a host."""
    if spec.is_oci:
        return
    parts = urlsplit(spec.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StalledError(
            URL_INVALID, f"invalid URL '{helmindex.display_url(spec.url)}': need http(s)://host/…"
        )
