"""The kinds the CLI shows and acts on, and the names people type for them.

`ALL` is the kinds of the API types (`api.kinds.ALL_KINDS`) at their storage version,
written out here so that building the command tree, `--help` and TAB completion do not
load the pydantic models (see `cli/__init__.py`); `tests/unit/cli/test_kinds.py` holds
it equal to the API types, so the CLI serves exactly what the CRDs serve. `lookup`
accepts what kubectl and flux accept: the kind, its plural, singular or short name, in
any case ("ks", "Kustomization", "gitrepositories"). `parse_ref` reads `Kind/name` and
`Kind/namespace/name` references, as `--for` and `--source` take them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from kidp_gitops.cli.errors import CliError


@dataclass(frozen=True)
class Kind:
    kind: str
    group: str
    version: str
    plural: str
    short_names: tuple[str, ...] = ()

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


_SOURCE = "source.toolkit.fluxcd.io"
_NOTIFICATION = "notification.toolkit.fluxcd.io"
_IMAGE = "image.toolkit.fluxcd.io"

ALL: tuple[Kind, ...] = (
    Kind("GitRepository", _SOURCE, "v1", "gitrepositories", ("gitrepo",)),
    Kind("HelmRepository", _SOURCE, "v1", "helmrepositories", ("helmrepo",)),
    Kind("HelmChart", _SOURCE, "v1", "helmcharts", ("hc",)),
    Kind("Kustomization", "kustomize.toolkit.fluxcd.io", "v1", "kustomizations", ("ks",)),
    Kind("HelmRelease", "helm.toolkit.fluxcd.io", "v2", "helmreleases", ("hr",)),
    Kind("Provider", _NOTIFICATION, "v1beta3", "providers"),
    Kind("Alert", _NOTIFICATION, "v1beta3", "alerts"),
    Kind("Receiver", _NOTIFICATION, "v1", "receivers"),
    Kind("ImageRepository", _IMAGE, "v1beta2", "imagerepositories", ("imgrepo", "imagerepo")),
    Kind("ImagePolicy", _IMAGE, "v1beta2", "imagepolicies", ("imgpol", "imagepol")),
    Kind(
        "ImageUpdateAutomation",
        _IMAGE,
        "v1beta2",
        "imageupdateautomations",
        ("iua", "imgupd", "imgauto"),
    ),
)
_BY_KIND = {k.kind: k for k in ALL}
_GROUPS = frozenset(k.group for k in ALL)

GIT_REPOSITORY = _BY_KIND["GitRepository"]
HELM_REPOSITORY = _BY_KIND["HelmRepository"]
HELM_CHART = _BY_KIND["HelmChart"]
KUSTOMIZATION = _BY_KIND["Kustomization"]
HELM_RELEASE = _BY_KIND["HelmRelease"]

SOURCES = (GIT_REPOSITORY, HELM_REPOSITORY, HELM_CHART)
APPLIERS = (KUSTOMIZATION, HELM_RELEASE)


def lookup(name: str) -> Kind:
    """The kind a person means by `name`; a CliError listing the kinds otherwise."""
    wanted = name.lower()
    for kind in ALL:
        if wanted in kind.names:
            return kind
    known = ", ".join(k.kind for k in ALL)
    raise CliError(f"unknown kind {name!r}: expected one of {known}")


def by_kind(kind: str) -> Kind | None:
    return _BY_KIND.get(kind)


def is_ours(api_version: str) -> bool:
    """Whether the apiVersion belongs to a group kidp serves (any version), as
    `api.kinds.is_ours` says."""
    return api_version.partition("/")[0] in _GROUPS


@dataclass(frozen=True)
class Ref:
    kind: Kind
    name: str
    namespace: str | None = None


def parse_ref(text: str, *, name_required: bool = True) -> Ref:
    """`Kind/name`, `Kind/namespace/name` (or just `Kind` when no name is required)."""
    parts = text.split("/")
    if len(parts) > 3 or not parts[0] or (name_required and len(parts) < 2):
        raise CliError(f"{text!r} is not a reference: write Kind/name or Kind/namespace/name")
    kind = lookup(parts[0])
    if len(parts) == 1:
        return Ref(kind, "")
    if len(parts) == 2:
        return Ref(kind, parts[1])
    return Ref(kind, parts[2], parts[1])


def condition(obj: dict[str, Any], type_: str = "Ready") -> dict[str, Any]:
    """The condition of that type on the object's status, or {}."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}


def revision(obj: dict[str, Any]) -> str:
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


def suspended(obj: dict[str, Any]) -> bool:
    return bool((obj.get("spec") or {}).get("suspend"))


def object_id(obj: dict[str, Any]) -> str:
    """`Kind/namespace/name`, for messages."""
    meta = obj.get("metadata") or {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')}/{where}{meta.get('name')}"
