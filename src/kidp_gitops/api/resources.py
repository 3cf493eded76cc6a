"""The one table of the kinds kidp serves: group, kind, plural, short names, versions.

Where it fits: each API type (`api/source.py`, …) takes its `RESOURCE` from here, the
CRDs are generated from those, and the faces (`views/kinds.py`: the names people type,
the paths they act on) read the same rows. This module is plain data, no pydantic, so
that `kidp --help` and TAB completion can read it without loading the API types.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE_GROUP = "source.toolkit.fluxcd.io"
KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
HELM_GROUP = "helm.toolkit.fluxcd.io"
NOTIFICATION_GROUP = "notification.toolkit.fluxcd.io"
IMAGE_GROUP = "image.toolkit.fluxcd.io"
SOURCE_EXTENSIONS_GROUP = "source.extensions.fluxcd.io"

_SOURCES = ("all", "fluxcd", "fluxcd-sources")
_APPLIERS = ("all", "fluxcd", "fluxcd-appliers")
_NOTIFICATIONS = ("all", "fluxcd", "fluxcd-notifications")
_IMAGES = ("all", "fluxcd", "fluxcd-images")


@dataclass(frozen=True)
class ResourceInfo:
    """How a kind is served: its group, names and versions."""

    group: str
    kind: str
    plural: str
    versions: tuple[str, ...]
    storage_version: str
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    deprecated_versions: tuple[str, ...] = ()

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"

    def api_version(self, version: str | None = None) -> str:
        return f"{self.group}/{version or self.storage_version}"

    def serves(self, api_version: str) -> bool:
        group, _, version = api_version.partition("/")
        return group == self.group and version in self.versions


GIT_REPOSITORY = ResourceInfo(
    SOURCE_GROUP, "GitRepository", "gitrepositories", ("v1",), "v1", ("gitrepo",), _SOURCES
)
HELM_REPOSITORY = ResourceInfo(
    SOURCE_GROUP, "HelmRepository", "helmrepositories", ("v1",), "v1", ("helmrepo",), _SOURCES
)
HELM_CHART = ResourceInfo(SOURCE_GROUP, "HelmChart", "helmcharts", ("v1",), "v1", ("hc",), _SOURCES)
OCI_REPOSITORY = ResourceInfo(
    SOURCE_GROUP,
    "OCIRepository",
    "ocirepositories",
    ("v1", "v1beta2"),
    "v1",
    ("ocirepo",),
    _SOURCES,
    deprecated_versions=("v1beta2",),
)
# Flux 2.9 serves v1 only; v1beta2 is served here too (deprecated, the same schema), so
# manifests written for Flux before 2.8 apply while `kidp migrate` moves them.
BUCKET = ResourceInfo(
    SOURCE_GROUP,
    "Bucket",
    "buckets",
    ("v1", "v1beta2"),
    "v1",
    (),
    _SOURCES,
    deprecated_versions=("v1beta2",),
)
# Flux 2.7: source-controller serves ExternalArtifact (artifacts other controllers
# produce); source-watcher serves ArtifactGenerator, which produces them.
EXTERNAL_ARTIFACT = ResourceInfo(
    SOURCE_GROUP, "ExternalArtifact", "externalartifacts", ("v1",), "v1", ("ea",), _SOURCES
)
ARTIFACT_GENERATOR = ResourceInfo(
    SOURCE_EXTENSIONS_GROUP,
    "ArtifactGenerator",
    "artifactgenerators",
    ("v1beta1",),
    "v1beta1",
    ("ag",),
    _SOURCES,
)
KUSTOMIZATION = ResourceInfo(
    KUSTOMIZE_GROUP, "Kustomization", "kustomizations", ("v1",), "v1", ("ks",), _APPLIERS
)
HELM_RELEASE = ResourceInfo(
    HELM_GROUP, "HelmRelease", "helmreleases", ("v2",), "v2", ("hr",), _APPLIERS
)
_NOTIFICATION_VERSIONS = ("v1beta3", "v1beta2", "v1beta1")
PROVIDER = ResourceInfo(
    NOTIFICATION_GROUP,
    "Provider",
    "providers",
    _NOTIFICATION_VERSIONS,
    "v1beta3",
    categories=_NOTIFICATIONS,
    deprecated_versions=("v1beta2", "v1beta1"),
)
ALERT = ResourceInfo(
    NOTIFICATION_GROUP,
    "Alert",
    "alerts",
    _NOTIFICATION_VERSIONS,
    "v1beta3",
    categories=_NOTIFICATIONS,
    deprecated_versions=("v1beta2", "v1beta1"),
)
RECEIVER = ResourceInfo(
    NOTIFICATION_GROUP, "Receiver", "receivers", ("v1",), "v1", categories=_NOTIFICATIONS
)
# Image automation went GA as v1 in Flux 2.7; v1beta2 is still served (deprecated, the same
# schema), and so is v1beta1 of ImageUpdateAutomation, the version the PRD writes.
_IMAGE_VERSIONS = ("v1", "v1beta2")
IMAGE_REPOSITORY = ResourceInfo(
    IMAGE_GROUP,
    "ImageRepository",
    "imagerepositories",
    _IMAGE_VERSIONS,
    "v1",
    ("imgrepo", "imagerepo"),
    _IMAGES,
    deprecated_versions=("v1beta2",),
)
IMAGE_POLICY = ResourceInfo(
    IMAGE_GROUP,
    "ImagePolicy",
    "imagepolicies",
    _IMAGE_VERSIONS,
    "v1",
    ("imgpol", "imagepol"),
    _IMAGES,
    deprecated_versions=("v1beta2",),
)
IMAGE_UPDATE_AUTOMATION = ResourceInfo(
    IMAGE_GROUP,
    "ImageUpdateAutomation",
    "imageupdateautomations",
    (*_IMAGE_VERSIONS, "v1beta1"),
    "v1",
    ("iua", "imgupd", "imgauto"),
    _IMAGES,
    deprecated_versions=("v1beta2", "v1beta1"),
)

ALL: tuple[ResourceInfo, ...] = (
    GIT_REPOSITORY,
    HELM_REPOSITORY,
    HELM_CHART,
    OCI_REPOSITORY,
    BUCKET,
    EXTERNAL_ARTIFACT,
    ARTIFACT_GENERATOR,
    KUSTOMIZATION,
    HELM_RELEASE,
    PROVIDER,
    ALERT,
    RECEIVER,
    IMAGE_REPOSITORY,
    IMAGE_POLICY,
    IMAGE_UPDATE_AUTOMATION,
)

GROUPS = frozenset(info.group for info in ALL)


def is_ours(api_version: str) -> bool:
    """Whether the apiVersion belongs to a group kidp serves (any version)."""
    return api_version.partition("/")[0] in GROUPS


# Kinds of Flux's API groups that Flux 2.9 serves and kidp does not (yet), with the one
# version Flux serves: `kidp validate` says so instead of calling them unknown, and
# `kidp migrate` moves old versions of them to it.
FLUX_ONLY: dict[tuple[str, str], str] = {}


def current_api_version(api_version: str, kind: str) -> str | None:
    """The apiVersion a Flux kind is written with today (kidp's storage version, or the
    version Flux serves for a kind kidp does not serve), or None for any other kind."""
    group = api_version.partition("/")[0]
    for info in ALL:
        if info.group == group and info.kind == kind:
            return info.api_version()
    version = FLUX_ONLY.get((group, kind))
    return f"{group}/{version}" if version else None
