"""The GitRepository reconciler: the PRD's Source Controller.

    credentials → ls-remote → (unchanged? done) → fetch → includes → ignore → artifact → Ready

An unchanged remote costs one ls-remote and no write: the revision, the ignore rules,
the includes and the sparse paths are compared with what the last artifact was built
from. A failure keeps the last good artifact in the status (consumers go on using it)
and says why in the Ready condition, with Flux's reasons.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from kidp_gitops.api import source as api
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.runtime import conditions, lifecycle, secrets
from kidp_gitops.runtime.events import EventRecorder
from kidp_gitops.runtime.lifecycle import ObjectReconciler
from kidp_gitops.runtime.reconcile import (
    ReconcileError,
    Result,
    StalledError,
    WaitingError,
)
from kidp_gitops.runtime.workqueue import jittered
from kidp_gitops.source import git
from kidp_gitops.source.ignore import IgnoreRules
from kidp_gitops.storage.artifacts import ArtifactStore
from kidp_gitops.vcs import giterrors

KIND = "GitRepository"
INCLUDE_UNAVAILABLE = "IncludeUnavailable"
INVALID_SPEC = "InvalidSpec"
URL_INVALID = "URLInvalid"
NEW_ARTIFACT = "NewArtifact"


class GitRepositoryReconciler(ObjectReconciler):
    kind = KIND

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        events: EventRecorder,
        git_client: git.Git,
        store: ArtifactStore,
        workdir: Path,
    ):
        super().__init__(client, resource, events)
        self.git = git_client
        self.store = store
        self.workdir = workdir

    async def run(self, obj: JSON, status: dict[str, Any]) -> Result:
        meta = obj["metadata"]
        namespace, generation = meta["namespace"], meta.get("generation", 0)
        spec = _spec(obj)
        auth = await self._auth(namespace, spec)
        ref = _ref(spec)
        timeout = spec.timeout.seconds
        try:
            revision = await self.git.ls_remote(spec.url, auth, ref, timeout=timeout)
        except giterrors.GitError as err:
            raise _reconcile_error(err) from err
        includes = await self._included_artifacts(namespace, spec)
        wanted = _observed(spec, includes)
        current = status.get("artifact") or {}
        if (
            current.get("revision") == str(revision)
            and all(status.get(k) == v for k, v in wanted.items())
            and self.store.local_path(current.get("path", "")) is not None
        ):
            conditions.mark_ready(
                status,
                conditions.SUCCEEDED,
                f"stored artifact for revision '{revision}'",
                generation,
            )
            return Result(requeue_after=jittered(spec.interval.seconds))

        conditions.mark_reconciling(
            status,
            conditions.PROGRESSING,
            f"building artifact: new upstream revision '{revision}'",
            generation,
        )
        tmp = Path(tempfile.mkdtemp(dir=self.workdir, prefix="checkout-"))
        try:
            tree = tmp / "tree"
            try:
                checkout = await self.git.fetch(
                    spec.url,
                    auth,
                    git.Ref(commit=revision.sha) if ref.kind == "semver" else ref,
                    tree,
                    sparse=spec.sparse_checkout,
                    submodules=spec.recurse_submodules,
                    timeout=timeout,
                )
            except giterrors.GitError as err:
                raise _reconcile_error(err) from err
            for include, included in zip(spec.include, includes, strict=True):
                self._copy_include(include, included, tree)
            files = IgnoreRules(tree, spec.ignore).files(tree)
            artifact = self.store.archive(
                KIND,
                namespace,
                meta["name"],
                tree,
                files,
                _revision_string(revision, checkout.revision),
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

        changed = (
            current.get("digest") != artifact.digest or current.get("revision") != artifact.revision
        )
        status["artifact"] = artifact.status()
        status.update(wanted)
        message = f"stored artifact for revision '{artifact.revision}'"
        conditions.mark_ready(status, conditions.SUCCEEDED, message, generation)
        if changed:
            self.events.record(
                obj, "Normal", NEW_ARTIFACT, message, {f"{api.GROUP}/revision": artifact.revision}
            )
        return Result(requeue_after=jittered(spec.interval.seconds))

    async def finalize(self, obj: JSON) -> None:
        meta = obj["metadata"]
        self.store.remove_object(KIND, meta["namespace"], meta["name"])

    async def _auth(self, namespace: str, spec: api.GitRepositorySpec) -> git.Auth | None:
        if spec.secret_ref is None:
            return None
        name = spec.secret_ref.name
        missing = f"secret '{namespace}/{name}' not found"
        return git.Auth.from_secret(await secrets.data(self.client, namespace, name, missing))

    async def _included_artifacts(
        self, namespace: str, spec: api.GitRepositorySpec
    ) -> list[dict[str, Any]]:
        found = []
        for include in spec.include:
            name = include.repository.name
            try:
                other = await self.client.get(self.resource.path(namespace, name))
            except ApiError as err:
                if err.not_found:
                    raise WaitingError(
                        INCLUDE_UNAVAILABLE,
                        f"included GitRepository '{name}' not found",
                        retry_after=10,
                    ) from err
                raise
            artifact = (other.get("status") or {}).get("artifact")
            if not artifact or self.store.local_path(artifact.get("path", "")) is None:
                raise WaitingError(
                    INCLUDE_UNAVAILABLE,
                    f"included GitRepository '{name}' has no artifact yet",
                    retry_after=10,
                )
            found.append(artifact)
        return found

    def _copy_include(
        self, include: api.GitRepositoryInclude, artifact: dict[str, Any], tree: Path
    ) -> None:
        unpacked = tree.parent / f"include-{include.repository.name}"
        self.store.extract(artifact["path"], unpacked)
        source = _inside(unpacked, include.from_path or ".")
        target = _inside(tree, include.effective_to_path())
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True)
        elif source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _spec(obj: JSON) -> api.GitRepositorySpec:
    spec = lifecycle.parse(api.GitRepository, obj).spec
    if spec is None:
        raise StalledError(INVALID_SPEC, "spec.url is required")
    return spec


def _ref(spec: api.GitRepositorySpec) -> git.Ref:
    r = spec.ref
    if r is None:
        return git.Ref()  # the remote's default branch
    return git.Ref(branch=r.branch, tag=r.tag, semver=r.semver, name=r.name, commit=r.commit)


def _observed(spec: api.GitRepositorySpec, includes: list[dict[str, Any]]) -> dict[str, Any]:
    """What the artifact is built from besides the revision, in status field names."""
    return {
        "observedIgnore": spec.ignore,
        "observedRecurseSubmodules": spec.recurse_submodules,
        "observedInclude": [i.model_dump(by_alias=True, exclude_none=True) for i in spec.include],
        "observedSparseCheckout": list(spec.sparse_checkout),
        "includedArtifacts": includes,
    }


def _revision_string(resolved: git.Revision, checked_out: git.Revision) -> str:
    return str(resolved if resolved.sha == checked_out.sha else checked_out)


def _inside(root: Path, rel: str) -> Path:
    """`root/rel`, refusing a path that leaves `root`."""
    target = (root / rel).resolve()
    if not target.is_relative_to(root.resolve()):
        raise StalledError(INVALID_SPEC, f"include path '{rel}' leaves the repository")
    return target


def _reconcile_error(err: giterrors.GitError) -> ReconcileError:
    if isinstance(err, giterrors.InvalidURL | giterrors.InvalidRef):
        return StalledError(
            URL_INVALID if isinstance(err, giterrors.InvalidURL) else INVALID_SPEC, str(err)
        )
    return ReconcileError(err.reason, str(err))
