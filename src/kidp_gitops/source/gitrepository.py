"""The GitRepository reconciler: the PRD's Source Controller.

    credentials → ls-remote → (unchanged? done) → fetch → includes → ignore → artifact → Ready

An unchanged remote costs one ls-remote and no write: the revision, the ignore rules,
the includes and the sparse paths are compared with what the last artifact was built
from. A failure keeps the last good artifact in the status (consumers go on using it)
and says why in the Ready condition, with Flux's reasons.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from kidp_gitops.api import meta
from kidp_gitops.api import source as api
from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.proc import background
from kidp_gitops.runtime import conditions, credentials, failures, secrets
from kidp_gitops.runtime import status as typed_status
from kidp_gitops.runtime.context import Context
from kidp_gitops.runtime.lifecycle import TypedReconciler
from kidp_gitops.runtime.reconcile import ReconcileError, Result, StalledError
from kidp_gitops.runtime.workqueue import jittered
from kidp_gitops.source import git
from kidp_gitops.source.ignore import IgnoreRules
from kidp_gitops.storage.artifacts import Artifact, ArtifactStore
from kidp_gitops.vcs import giterrors

KIND = "GitRepository"
INCLUDE_UNAVAILABLE = "IncludeUnavailable"
INVALID_SPEC = "InvalidSpec"
URL_INVALID = "URLInvalid"
NEW_ARTIFACT = "NewArtifact"
INCLUDE_RETRY_SECONDS = 10.0
"""A safety net: the controller watches the repositories it includes."""

ERRORS: failures.Table[api.GitRepositorySpec] = failures.Table(
    failures.wait(INCLUDE_UNAVAILABLE, after=INCLUDE_RETRY_SECONDS),
    failures.stall(giterrors.InvalidURL, reason=URL_INVALID),
    failures.stall(giterrors.InvalidRef, reason=INVALID_SPEC),
    failures.backoff(giterrors.GitError),
    # Unusable TLS keys in secretRef: Flux retries (AuthenticationFailed), as for git's own.
    failures.backoff(credentials.CredentialsError, reason=conditions.AUTHENTICATION_FAILED),
)


class GitRepositoryReconciler(TypedReconciler[api.GitRepository, api.GitRepositoryStatus]):
    kind = KIND
    model = api.GitRepository
    status_model = api.GitRepositoryStatus
    errors = ERRORS

    def __init__(
        self,
        ctx: Context,
        resource: Resource,
        repositories: Informer,
        git_client: git.Git,
        store: ArtifactStore,
        workdir: Path,
    ):
        super().__init__(ctx.client, resource, ctx.events, repositories)
        self.git = git_client
        self.store = store
        self.workdir = workdir

    async def run(self, obj: api.GitRepository, status: api.GitRepositoryStatus) -> Result:
        spec = obj.spec
        if spec is None:
            raise StalledError(INVALID_SPEC, "spec.url is required")
        auth = await self._auth(obj.namespace, spec)
        ref = _ref(spec)
        timeout = spec.timeout.seconds
        revision = await self.git.ls_remote(spec.url, auth, ref, timeout=timeout)
        includes = await self._included_artifacts(obj.namespace, spec)
        current = status.artifact
        if (
            current is not None
            and current.revision == str(revision)
            and _built_from(status) == _wanted(spec, includes)
            and self.store.local_path(current.path) is not None
        ):
            conditions.mark_ready(
                status,
                conditions.SUCCEEDED,
                f"stored artifact for revision '{revision}'",
                obj.generation,
            )
            return Result(requeue_after=jittered(spec.interval.seconds))

        conditions.mark_reconciling(
            status,
            conditions.PROGRESSING,
            f"building artifact: new upstream revision '{revision}'",
            obj.generation,
        )
        tmp = Path(tempfile.mkdtemp(dir=self.workdir, prefix="checkout-"))
        try:
            tree = tmp / "tree"
            # The ls-remote above is the listing: the fetch does not ask for it again.
            checkout = await self.git.fetch(
                spec.url,
                auth,
                ref,
                tree,
                sparse=spec.sparse_checkout,
                submodules=spec.recurse_submodules,
                timeout=timeout,
                resolved=revision,
            )
            # Copies, ignore rules, tar, gzip, hash: tree work, off the shared event loop.
            stored = await asyncio.to_thread(
                self._package,
                obj,
                spec,
                includes,
                tree,
                _revision_string(revision, checkout.revision),
            )
        finally:
            background.discard(tmp)

        artifact = meta.Artifact.model_validate(stored.status())
        changed = (
            current is None
            or current.digest != artifact.digest
            or current.revision != artifact.revision
        )
        status.artifact = artifact
        status.observed_ignore = spec.ignore
        status.observed_recurse_submodules = spec.recurse_submodules
        status.observed_include = list(spec.include)
        status.observed_sparse_checkout = list(spec.sparse_checkout)
        status.included_artifacts = includes
        message = f"stored artifact for revision '{artifact.revision}'"
        conditions.mark_ready(status, conditions.SUCCEEDED, message, obj.generation)
        if changed:
            self.event(
                obj, "Normal", NEW_ARTIFACT, message, {f"{api.GROUP}/revision": artifact.revision}
            )
        return Result(requeue_after=jittered(spec.interval.seconds))

    def _package(
        self,
        obj: api.GitRepository,
        spec: api.GitRepositorySpec,
        includes: list[meta.Artifact],
        tree: Path,
        revision: str,
    ) -> Artifact:
        """The checked-out tree, with its includes and without what `ignore` drops,
        stored as the artifact (in a worker thread)."""
        for include, included in zip(spec.include, includes, strict=True):
            self._copy_include(include, included, tree)
        files = IgnoreRules(tree, spec.ignore).files(tree)
        return self.store.archive(KIND, obj.namespace, obj.name, tree, files, revision)

    async def finalize(self, obj: JSON) -> None:
        meta = obj["metadata"]
        await asyncio.to_thread(self.store.remove_object, KIND, meta["namespace"], meta["name"])

    async def _auth(self, namespace: str, spec: api.GitRepositorySpec) -> git.Auth | None:
        if spec.secret_ref is None:
            return None
        name = spec.secret_ref.name
        missing = f"secret '{namespace}/{name}' not found"
        data = await secrets.data(self.client, namespace, name, missing)
        where = f"{namespace}/{name}"
        return git.Auth.from_secret(
            data, credentials.tls_data(data, where, legacy=credentials.LEGACY_GIT)
        )

    async def _included_artifacts(
        self, namespace: str, spec: api.GitRepositorySpec
    ) -> list[meta.Artifact]:
        found = []
        for include in spec.include:
            name = include.repository.name
            try:
                other = await self.client.get(self.resource.path(namespace, name))
            except ApiError as err:
                if err.not_found:
                    raise ReconcileError(
                        INCLUDE_UNAVAILABLE, f"included GitRepository '{name}' not found"
                    ) from err
                raise
            artifact = status_of(other).artifact
            if artifact is None or self.store.local_path(artifact.path) is None:
                raise ReconcileError(
                    INCLUDE_UNAVAILABLE, f"included GitRepository '{name}' has no artifact yet"
                )
            found.append(artifact)
        return found

    def _copy_include(
        self, include: api.GitRepositoryInclude, artifact: meta.Artifact, tree: Path
    ) -> None:
        unpacked = tree.parent / f"include-{include.repository.name}"
        self.store.extract(artifact.path, unpacked)
        source = _inside(unpacked, include.from_path or ".")
        target = _inside(tree, include.effective_to_path())
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True)
        elif source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def status_of(obj: JSON) -> api.GitRepositoryStatus:
    """The status of a GitRepository read from the API server."""
    return typed_status.parse(api.GitRepositoryStatus, obj.get("status") or {})


def _ref(spec: api.GitRepositorySpec) -> git.Ref:
    r = spec.ref
    if r is None:
        return git.Ref()  # the remote's default branch
    return git.Ref(branch=r.branch, tag=r.tag, semver=r.semver, name=r.name, commit=r.commit)


def _wanted(spec: api.GitRepositorySpec, includes: list[meta.Artifact]) -> tuple[object, ...]:
    """What the artifact is built from besides the revision."""
    return (
        spec.ignore,
        spec.recurse_submodules,
        list(spec.include),
        list(spec.sparse_checkout),
        includes,
    )


def _built_from(status: api.GitRepositoryStatus) -> tuple[object, ...]:
    """What the stored artifact was built from besides the revision (as `_wanted`)."""
    return (
        status.observed_ignore,
        status.observed_recurse_submodules,
        status.observed_include,
        status.observed_sparse_checkout,
        status.included_artifacts,
    )


def _revision_string(resolved: git.Revision, checked_out: git.Revision) -> str:
    return str(resolved if resolved.sha == checked_out.sha else checked_out)


def _inside(root: Path, rel: str) -> Path:
    """`root/rel`, refusing a path that leaves `root`."""
    target = (root / rel).resolve()
    if not target.is_relative_to(root.resolve()):
        raise StalledError(INVALID_SPEC, f"include path '{rel}' leaves the repository")
    return target
