"""A source's artifact in its status, the one way for Git, OCI and Bucket sources.

    if newartifact.unchanged(store, status, revision): ...   # nothing to build again
    newartifact.record(reconciler, obj, status, artifact, message, event=...)

An artifact is unchanged when the status names one of the same revision whose file is
still in the store (a restarted engine with an empty store builds it again). A recorded
artifact marks the source Ready; the `NewArtifact` event is sent only when its digest or
revision differs from the one before, so a rebuild of the same content says nothing.
"""

from __future__ import annotations

from typing import Any

from kidp_gitops.api import meta
from kidp_gitops.api import source as api
from kidp_gitops.runtime import conditions
from kidp_gitops.runtime.lifecycle import TypedReconciler
from kidp_gitops.storage.artifacts import ArtifactStore

NEW_ARTIFACT = "NewArtifact"


SourceStatus = (
    api.GitRepositoryStatus | api.BucketStatus | api.OCIRepositoryStatus | api.HelmRepositoryStatus
)


def unchanged(store: ArtifactStore, status: SourceStatus, revision: str) -> bool:
    current = status.artifact
    return (
        current is not None
        and current.revision == revision
        and store.local_path(current.path) is not None
    )


def record(
    reconciler: TypedReconciler[Any, Any],
    obj: meta.KubeObject[Any, Any],
    status: SourceStatus,
    artifact: meta.Artifact,
    message: str,
    *,
    event: str | None = None,
) -> None:
    """Put `artifact` in `status` and mark it Ready with `message`; when the artifact is
    new, send `NewArtifact` with `event` (else the same message)."""
    current = status.artifact
    changed = current is None or (current.digest, current.revision) != (
        artifact.digest,
        artifact.revision,
    )
    status.artifact = artifact
    conditions.mark_ready(status, conditions.SUCCEEDED, message, obj.generation)
    if changed:
        reconciler.event(
            obj,
            "Normal",
            NEW_ARTIFACT,
            event or message,
            {f"{api.GROUP}/revision": artifact.revision},
        )
