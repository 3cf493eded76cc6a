"""The kinds the faces show and act on, and the names people type for them.

`ALL` is the table of `api/resources.py` at each kind's storage version: one table for
the API types, the CRDs, the CLI and the dashboard. It is plain data, so building the
command tree, `--help` and TAB completion read it without loading the pydantic models.
`lookup` accepts what kubectl and flux accept: the kind, its plural, singular or short
name, in any case ("ks", "Kustomization", "gitrepositories"). `parse_ref` reads
`Kind/name` and `Kind/namespace/name` references, as `--for` and `--source` take them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from kidp_gitops.api import resources
from kidp_gitops.views.errors import ViewError

JSON = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    kind: str
    group: str
    version: str
    plural: str
    short_names: tuple[str, ...] = ()

    @classmethod
    def served(cls, info: resources.ResourceInfo) -> Kind:
        """The kind at the version it is stored in."""
        return cls(info.kind, info.group, info.storage_version, info.plural, info.short_names)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    def path(self, namespace: str | None, name: str | None = None) -> str:
        """The collection path (cluster-wide when no namespace) or an object's path."""
        base = f"/apis/{self.group}/{self.version}"
        if namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        return f"{base}/{quote(name, safe='')}" if name else base

    @property
    def names(self) -> tuple[str, ...]:
        return (self.kind.lower(), self.plural, *self.short_names)


ALL: tuple[Kind, ...] = tuple(Kind.served(info) for info in resources.ALL)
_BY_KIND = {k.kind: k for k in ALL}

GIT_REPOSITORY = _BY_KIND["GitRepository"]
HELM_REPOSITORY = _BY_KIND["HelmRepository"]
HELM_CHART = _BY_KIND["HelmChart"]
OCI_REPOSITORY = _BY_KIND["OCIRepository"]
BUCKET = _BY_KIND["Bucket"]
EXTERNAL_ARTIFACT = _BY_KIND["ExternalArtifact"]
ARTIFACT_GENERATOR = _BY_KIND["ArtifactGenerator"]
KUSTOMIZATION = _BY_KIND["Kustomization"]
HELM_RELEASE = _BY_KIND["HelmRelease"]
PROVIDER = _BY_KIND["Provider"]
ALERT = _BY_KIND["Alert"]
RECEIVER = _BY_KIND["Receiver"]
IMAGE_REPOSITORY = _BY_KIND["ImageRepository"]
IMAGE_POLICY = _BY_KIND["ImagePolicy"]
IMAGE_UPDATE_AUTOMATION = _BY_KIND["ImageUpdateAutomation"]

SOURCES = (GIT_REPOSITORY, OCI_REPOSITORY, BUCKET, HELM_REPOSITORY, HELM_CHART, EXTERNAL_ARTIFACT)
APPLIERS = (KUSTOMIZATION, HELM_RELEASE)
# In the order a reader follows the flow of data: sources, appliers, alerts and where they
# go, receivers, then the image automation (the dashboard lists kinds this way).
IN_FLOW_ORDER = (
    *SOURCES,
    ARTIFACT_GENERATOR,
    *APPLIERS,
    ALERT,
    PROVIDER,
    RECEIVER,
    IMAGE_REPOSITORY,
    IMAGE_POLICY,
    IMAGE_UPDATE_AUTOMATION,
)

GROUPS = resources.GROUPS
is_ours = resources.is_ours


def lookup(name: str) -> Kind:
    """The kind a person means by `name`; a ViewError listing the kinds otherwise."""
    wanted = name.lower()
    for kind in ALL:
        if wanted in kind.names:
            return kind
    known = ", ".join(k.kind for k in ALL)
    raise ViewError(f"unknown kind {name!r}: expected one of {known}")


def by_kind(kind: str) -> Kind | None:
    return _BY_KIND.get(kind)


@dataclass(frozen=True)
class Ref:
    kind: Kind
    name: str
    namespace: str | None = None


def parse_ref(text: str, *, name_required: bool = True) -> Ref:
    """`Kind/name`, `Kind/namespace/name` (or just `Kind` when no name is required)."""
    parts = text.split("/")
    if len(parts) > 3 or not parts[0] or (name_required and len(parts) < 2):
        raise ViewError(f"{text!r} is not a reference: write Kind/name or Kind/namespace/name")
    kind = lookup(parts[0])
    if len(parts) == 1:
        return Ref(kind, "")
    if len(parts) == 2:
        return Ref(kind, parts[1])
    return Ref(kind, parts[2], parts[1])


def condition(obj: JSON, type_: str = "Ready") -> JSON:
    """The condition of that type on the object's status, or {}."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}


def revision(obj: JSON) -> str:
    """The revision a person wants to see: the artifact of a source, what an applier
    last applied (or attempted)."""
    status = obj.get("status") or {}
    artifact = status.get("artifact") or {}
    if artifact.get("revision"):
        return str(artifact["revision"])
    history = status.get("history") or []
    if history and isinstance(history[0], dict) and history[0].get("chartVersion"):
        return str(history[0]["chartVersion"])
    # Image kinds: the image a policy chose, the commit an automation pushed.
    for key in ("latestImage", "lastPushCommit"):
        if status.get(key):
            return str(status[key])
    return str(status.get("lastAppliedRevision") or status.get("lastAttemptedRevision") or "")


def suspended(obj: JSON) -> bool:
    return bool((obj.get("spec") or {}).get("suspend"))


def object_id(obj: JSON) -> str:
    """`Kind/namespace/name`, for messages."""
    meta = obj.get("metadata") or {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')}/{where}{meta.get('name')}"
