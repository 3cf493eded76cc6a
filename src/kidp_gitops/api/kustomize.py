"""kustomize.toolkit.fluxcd.io/v1: Kustomization, and the kustomize pieces (patches,
images, selectors) that HelmRelease post-renderers share.

A Kustomization builds a path of a source artifact with kustomize, decrypts and
substitutes, applies the result with server-side apply, prunes what left Git and waits
for health. Its inventory records what it applied, in Flux's entry format.

Beyond Flux, and documented on the fields:
- `dependsOn[].kind` may name a HelmRelease (Flux only waits for Kustomizations);
- `validation` (removed in Flux v1) is accepted so older manifests apply; it changes
  nothing, because every apply is dry-run on the server first.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from kidp_gitops.api import meta, resources

GROUP = resources.KUSTOMIZE_GROUP


# --- kustomize pieces -------------------------------------------------------------------


class Selector(meta.SpecModel):
    """Objects selected by group, version, kind, namespace, name and selectors; all given
    conditions must hold."""

    group: str | None = None
    version: str | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    annotation_selector: str | None = None
    """A label-selector expression matched against annotations."""
    label_selector: str | None = None


class Patch(meta.SpecModel):
    """A strategic-merge or JSON 6902 patch, inline, and the objects it applies to."""

    patch: str
    target: Selector | None = None


class Image(meta.SpecModel):
    """A replacement for an image's name, tag or digest."""

    name: str
    """The image name as written in the manifests, without tag."""
    new_name: str | None = None
    new_tag: str | None = None
    digest: str | None = None
    """Replaces the tag; newTag is then ignored."""


class JSON6902(meta.SpecModel):
    """One JSON 6902 operation."""

    op: Literal["test", "remove", "add", "replace", "move", "copy"]
    path: str
    from_: str | None = None
    value: meta.JSONValue = None


class JSON6902Patch(meta.SpecModel):
    """JSON 6902 operations and the objects they apply to."""

    patch: list[JSON6902]
    target: Selector


# --- Kustomization ----------------------------------------------------------------------


class KustomizationSourceReference(meta.CrossNamespaceSourceReference):
    kind: Literal["OCIRepository", "GitRepository", "Bucket", "ExternalArtifact"]


class DependencyReference(meta.SpecModel):
    """An object that must be ready before this Kustomization reconciles."""

    name: meta.ObjectName
    namespace: meta.NamespaceName | None = None
    """Namespace of the dependency; this Kustomization's when omitted."""
    kind: Literal["Kustomization", "HelmRelease"] = "Kustomization"
    """kidp extension: the dependency may be a HelmRelease. Flux has no such field and
    only waits for Kustomizations."""
    ready_expr: str | None = None
    """A CEL expression that decides readiness in place of the Ready condition."""


class CommonMetadata(meta.SpecModel):
    """Labels and annotations set on every applied object."""

    annotations: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)


class Decryption(meta.SpecModel):
    """How to decrypt Secrets before applying them."""

    provider: Literal["sops"]
    service_account_name: str | None = None
    """ServiceAccount to authenticate to cloud KMS as."""
    secret_ref: meta.LocalObjectReference | None = None
    """Secret with the private keys (age, OpenPGP) or cloud KMS credentials."""


class SubstituteReference(meta.SpecModel):
    """A ConfigMap or Secret whose data keys are substitution variables."""

    kind: Literal["Secret", "ConfigMap"]
    name: meta.ObjectName
    optional: bool = meta.defaulted(False)
    """Proceed as if empty when the object does not exist."""


class PostBuild(meta.SpecModel):
    """What to do with the built manifests before applying them."""

    substitute: dict[str, str] = Field(default_factory=dict)
    """Variables for ${var} substitution."""
    substitute_from: list[SubstituteReference] = Field(default_factory=list)
    substitute_strategy: Literal["WithVariables", "Always"] | None = None
    """WithVariables (when omitted) substitutes only when at least one variable is
    defined; Always substitutes also without any, so `${var:=default}` takes effect."""

    def substitutes(self, variables: int) -> bool:
        """Whether to substitute, given how many variables were resolved."""
        return variables > 0 or self.substitute_strategy == "Always"


class CustomHealthCheck(meta.SpecModel):
    """CEL expressions that tell the health of objects of one kind (or, without a
    kind, of every kind of the apiVersion's group; the version is ignored)."""

    api_version: str
    kind: str | None = None
    current: str
    """True when the object is healthy."""
    in_progress: str | None = None
    """True when the object is still progressing."""
    failed: str | None = None
    """True when the object has failed."""


class DriftIgnoreRule(meta.SpecModel):
    """JSON pointers to leave out of drift detection and apply."""

    paths: list[str]
    target: Selector | None = None
    """The objects the rule applies to; all when omitted."""


class KustomizationSpec(meta.SpecModel):
    """A path of a source, built with kustomize and applied to the cluster."""

    source_ref: KustomizationSourceReference
    path: str | None = None
    """Directory of the kustomization.yaml (or plain manifests); the source root when
    omitted."""
    interval: meta.Duration
    """How often to reconcile, also when nothing changed, to correct drift."""
    retry_interval: meta.Duration | None = None
    """How soon to retry after a failure; the interval when omitted."""
    timeout: meta.Duration | None = None
    """Deadline of build, apply and health checks; see effective_timeout()."""
    prune: bool
    """Delete objects that were applied before but are no longer in the source."""
    deletion_policy: Literal["MirrorPrune", "Delete", "WaitForTermination", "Orphan"] | None = None
    """What deleting this Kustomization does to its objects; MirrorPrune follows prune."""
    wait: bool = False
    """Wait for every applied object to become healthy (healthChecks are then ignored)."""
    health_checks: list[meta.NamespacedObjectKindReference] = Field(default_factory=list)
    health_check_exprs: list[CustomHealthCheck] = Field(default_factory=list)
    depends_on: list[DependencyReference] = Field(default_factory=list)
    service_account_name: meta.AccountName | None = None
    """ServiceAccount to impersonate when applying."""
    kube_config: meta.KubeConfigReference | None = None
    """Apply to a remote cluster instead."""
    target_namespace: meta.NamespaceName | None = None
    """Namespace set on every namespaced object."""
    name_prefix: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    name_suffix: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    common_metadata: CommonMetadata | None = None
    patches: list[Patch] = Field(default_factory=list)
    images: list[Image] = Field(default_factory=list)
    components: list[str] = Field(default_factory=list)
    """Paths of kustomize Components, relative to `path`."""
    ignore_missing_components: bool = False
    post_build: PostBuild | None = None
    decryption: Decryption | None = None
    force: bool = meta.defaulted(False)
    """Recreate objects whose update fails on an immutable field."""
    suspend: bool = False
    ignore: list[DriftIgnoreRule] = Field(default_factory=list)
    """JSON pointers to leave out of drift detection and apply (refused)."""
    build_metadata: list[Literal["originAnnotations", "transformerAnnotations"]] = Field(
        default_factory=list
    )
    """kustomize build metadata to annotate objects with (refused)."""
    validation: Literal["none", "client", "server"] | None = None
    """Deprecated (removed in Flux v1), accepted and ignored: kidp always dry-runs on the
    server before applying."""

    def effective_path(self) -> str:
        return self.path or "./"

    def effective_timeout(self) -> meta.Duration:
        """The timeout, or as Flux computes it: the interval less 30s; never under 30s."""
        seconds = self.timeout.seconds if self.timeout else self.interval.seconds - 30
        if seconds < 30:
            return meta.Duration("30s")
        return self.timeout if self.timeout else meta.Duration.from_seconds(seconds)

    def effective_retry_interval(self) -> meta.Duration:
        return self.retry_interval or self.interval

    def effective_deletion_policy(self) -> str:
        return self.deletion_policy or "MirrorPrune"


class ResourceRef(meta.StatusModel):
    """An applied object: id '<namespace>_<name>_<group>_<kind>' and its version."""

    id: str
    v: str

    @classmethod
    def of(cls, namespace: str, name: str, group: str, kind: str, version: str) -> ResourceRef:
        # Flux writes the colons of a name (RBAC: `system:auth-delegator`) as `__`.
        return cls(id=f"{namespace}_{name.replace(':', '__')}_{group}_{kind}", v=version)

    def _parts(self) -> list[str]:
        # Namespaces, groups and kinds hold no '_': split off the first and the last two.
        namespace, _, rest = self.id.partition("_")
        parts = rest.rsplit("_", 2)
        if len(parts) != 3 or not parts[0] or not parts[2]:
            raise ValueError(f"inventory id {self.id!r} is not <namespace>_<name>_<group>_<kind>")
        return [namespace, parts[0].replace("__", ":"), parts[1], parts[2]]

    @property
    def namespace(self) -> str:
        return self._parts()[0]

    @property
    def name(self) -> str:
        return self._parts()[1]

    @property
    def group(self) -> str:
        return self._parts()[2]

    @property
    def kind(self) -> str:
        return self._parts()[3]


class ResourceInventory(meta.StatusModel):
    entries: list[ResourceRef] = Field(default_factory=list)


class KustomizationStatus(meta.ObjectStatus):
    last_applied_revision: str | None = None
    """Revision of the source artifact last applied successfully."""
    last_applied_origin_revision: str | None = None
    last_attempted_revision: str | None = None
    last_applied_digest: str | None = None
    """kidp extension: sha256 of the objects last applied, as built and labelled (the
    values of Secrets left out). A restarted engine that builds the same objects for
    the same revision and generation compares them with the cluster instead of
    applying them again."""
    inventory: ResourceInventory | None = None


class Kustomization(meta.KubeObject[KustomizationSpec, KustomizationStatus]):
    """A path of a source artifact, kept applied to the cluster."""

    RESOURCE = resources.KUSTOMIZATION
