"""What both faces do to a GitOps object, as flux does it: reconcile now, suspend, resume.

    reconcile   set the annotation `reconcile.fluxcd.io/requestedAt` to a fresh value
                (`stamp`); the controller reports that value back in
                `status.lastHandledReconcileAt` once it handled the request
    suspend     `spec.suspend: true`: the controller leaves the object (and what it
                applied) alone
    resume      `spec.suspend: false`, then a reconcile request

Each writes one merge patch through the client the face holds (the CLI's, or the
engine's for the dashboard) and lets the API server's error through: the CLI words it
as one line, the dashboard as an HTTP status. Waiting for the controller is the CLI's
(`cli/reconcile.py`); the dashboard watches the result arrive in its cache instead.
"""

from __future__ import annotations

import datetime
import time
from typing import TYPE_CHECKING, Any

from kidp_gitops.api.wellknown import REQUESTED_AT
from kidp_gitops.views import kinds
from kidp_gitops.views.errors import ViewError

if TYPE_CHECKING:
    from kidp_gitops.kube import KubeClient

JSON = dict[str, Any]


def stamp() -> str:
    """A requestedAt value: RFC 3339 with nanosecond digits, as flux writes it."""
    ns = time.time_ns()
    now = datetime.datetime.fromtimestamp(ns // 10**9, datetime.UTC)
    return f"{now:%Y-%m-%dT%H:%M:%S}.{ns % 10**9:09d}Z"


async def request_reconcile(client: KubeClient, kind: kinds.Kind, namespace: str, name: str) -> str:
    """Ask the controller to reconcile the object now; the value it will report back."""
    value = stamp()
    patch = {"metadata": {"annotations": {REQUESTED_AT: value}}}
    await client.patch(kind.path(namespace, name), patch)
    return value


async def set_suspended(
    client: KubeClient, kind: kinds.Kind, namespace: str, name: str, suspended: bool
) -> None:
    """Suspend (True) or resume (False) the object's reconciliation."""
    await client.patch(kind.path(namespace, name), {"spec": {"suspend": suspended}})


async def resume(client: KubeClient, kind: kinds.Kind, namespace: str, name: str) -> str:
    """Resume the object and ask for a reconcile now; the value to wait for."""
    await set_suspended(client, kind, namespace, name, False)
    return await request_reconcile(client, kind, namespace, name)


def producer_of(obj: JSON) -> tuple[kinds.Kind, str, str]:
    """What writes an ExternalArtifact (its `spec.sourceRef`, an ArtifactGenerator for
    kidp's): kind, namespace, name. Reconciling that is reconciling the artifact."""
    ref = (obj.get("spec") or {}).get("sourceRef") or {}
    kind = kinds.by_kind(str(ref.get("kind")))
    if not ref.get("name") or kind is None:
        raise ViewError(f"{kinds.object_id(obj)} has no producer kidp can reconcile")
    return kind, ref.get("namespace") or obj["metadata"]["namespace"], str(ref["name"])


def source_of(obj: JSON) -> tuple[kinds.Kind, str, str]:
    """The source an applier reads from: kind, namespace, name."""
    spec = obj.get("spec") or {}
    ref = spec.get("sourceRef") or ((spec.get("chart") or {}).get("spec") or {}).get("sourceRef")
    ref = ref or spec.get("chartRef")
    if not ref:
        raise ViewError(f"{kinds.object_id(obj)} names no source")
    kind = kinds.by_kind(str(ref.get("kind")))
    if kind is None:
        raise ViewError(f"{kinds.object_id(obj)} reads from a {ref.get('kind')}: not served yet")
    return kind, ref.get("namespace") or obj["metadata"]["namespace"], str(ref["name"])
