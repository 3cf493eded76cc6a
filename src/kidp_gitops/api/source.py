"""source.toolkit.fluxcd.io/v1: GitRepository, HelmRepository, HelmChart, OCIRepository and
Bucket and ExternalArtifact.

Sources fetch something from outside the cluster and publish it as an Artifact for the
appliers (Kustomization, HelmRelease) to consume.

Where kidp is more lenient than Flux, so that the PRD's manifests apply as written:
- a GitRepository may omit `spec` altogether (the controller reports it Stalled), and
  `spec.interval` defaults to 1m, the default of `flux create`'s --interval flag.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from kidp_gitops.api import meta, resources

GROUP = resources.SOURCE_GROUP
DEFAULT_INTERVAL = meta.Duration("1m")


# --- GitRepository ----------------------------------------------------------------------


class GitRepositoryRef(meta.SpecModel):
    """The Git reference to check out. Precedence: commit, name, semver, tag, branch."""

    branch: str | None = None
    """Branch to check out; the remote's default branch when no field is set."""
    tag: str | None = None
    semver: str | None = None
    """A semver range, resolved against the repository's tags."""
    name: str | None = None
    """A full reference name, e.g. 'refs/heads/main' or 'refs/pull/420/head'."""
    commit: str | None = None
    """A commit SHA; with `branch`, the branch is cloned shallowly to find it."""


class GitRepositoryVerification(meta.SpecModel):
    """How to verify commit or tag signatures."""

    mode: Literal["head", "HEAD", "Tag", "TagAndHEAD"] = meta.defaulted("HEAD")
    """What to verify: the HEAD commit, the tag, or both ('head' is an old spelling)."""
    secret_ref: meta.LocalObjectReference
    """Secret holding the trusted public keys (.asc for PGP, .sshpub for SSH)."""


class GitRepositoryInclude(meta.SpecModel):
    """Another GitRepository's artifact to copy into this one's."""

    repository: meta.LocalObjectReference
    from_path: str | None = None
    """Path to copy from; the artifact's root when omitted."""
    to_path: str | None = None
    """Path to copy to; the referenced repository's name when omitted."""

    def effective_to_path(self) -> str:
        return self.to_path or self.repository.name


class GitRepositorySpec(meta.SpecModel):
    """A Git repository to fetch and publish as an artifact."""

    url: Annotated[str, Field(pattern=r"^(http|https|ssh)://.*$")]
    """Repository address, HTTP(S) or SSH."""
    secret_ref: meta.LocalObjectReference | None = None
    """Credentials: username/password or bearerToken for HTTPS, identity and known_hosts
    for SSH."""
    provider: Literal["generic", "aws", "azure", "github"] | None = None
    """Who provides the credentials; 'generic' (secretRef) when omitted."""
    service_account_name: str | None = None
    """ServiceAccount to authenticate as, for the 'azure' and 'aws' providers."""
    interval: meta.Duration = meta.defaulted(DEFAULT_INTERVAL)
    """How often to check the repository for changes (kidp: defaults to 1m)."""
    timeout: meta.TimeoutDuration = meta.defaulted(meta.TimeoutDuration("60s"))
    """Timeout of Git operations such as clone."""
    ref: GitRepositoryRef | None = None
    """The reference to follow; the remote's default branch (its HEAD) when omitted."""
    verify: GitRepositoryVerification | None = None
    proxy_secret_ref: meta.LocalObjectReference | None = None
    """Secret with the proxy (address, username, password) to reach the Git server."""
    ignore: str | None = None
    """Paths to leave out of the artifact, in .gitignore format."""
    suspend: bool = False
    recurse_submodules: bool = False
    """Also clone the repository's submodules."""
    include: list[GitRepositoryInclude] = Field(default_factory=list)
    sparse_checkout: list[str] = Field(default_factory=list)
    """Directories to check out; the whole tree when empty."""


class GitRepositoryStatus(meta.ObjectStatus):
    artifact: meta.Artifact | None = None
    included_artifacts: list[meta.Artifact] = Field(default_factory=list)
    observed_ignore: str | None = None
    observed_recurse_submodules: bool | None = None
    observed_include: list[GitRepositoryInclude] = Field(default_factory=list)
    observed_sparse_checkout: list[str] = Field(default_factory=list)
    source_verification_mode: str | None = None
    """The verification mode last used."""


class GitRepository(meta.KubeObject[GitRepositorySpec | None, GitRepositoryStatus]):
    """A Git repository, published as an artifact at every new revision."""

    RESOURCE = resources.GIT_REPOSITORY

    spec: GitRepositorySpec | None = None


# --- HelmRepository ---------------------------------------------------------------------


class HelmRepositorySpec(meta.SpecModel):
    """A Helm repository: an HTTP(S) index, or an OCI registry."""

    url: Annotated[str, Field(pattern=r"^(http|https|oci)://.*$")]
    secret_ref: meta.LocalObjectReference | None = None
    """Credentials (username and password)."""
    cert_secret_ref: meta.LocalObjectReference | None = None
    """Secret with a client certificate (tls.crt, tls.key) and/or a CA (ca.crt)."""
    pass_credentials: bool = False
    """Send the credentials to hosts other than the URL's too (chart URLs elsewhere)."""
    interval: meta.Duration | None = None
    """How often to fetch the index; 1m when omitted."""
    insecure: bool = False
    """Allow plain HTTP to an OCI registry."""
    timeout: meta.TimeoutDuration | None = None
    """Timeout of index fetches and OCI operations; 60s when omitted."""
    suspend: bool = False
    access_from: meta.AccessFrom | None = None
    type: Literal["default", "oci"] | None = None
    """'oci' for an OCI registry (the URL then starts with oci://)."""
    provider: Literal["generic", "aws", "azure", "gcp"] = meta.defaulted("generic")
    """Who provides OCI credentials."""

    @model_validator(mode="after")
    def _oci_url(self) -> Self:
        if self.type == "oci" and not self.url.startswith("oci://"):
            raise ValueError("a HelmRepository of type 'oci' needs a url starting with oci://")
        return self

    @property
    def is_oci(self) -> bool:
        return self.type == "oci"

    def effective_interval(self) -> meta.Duration:
        return self.interval or DEFAULT_INTERVAL

    def effective_timeout(self) -> meta.TimeoutDuration:
        return self.timeout or meta.TimeoutDuration("60s")


class HelmRepositoryStatus(meta.ObjectStatus):
    url: str | None = None
    """Where the latest artifact can be fetched."""
    artifact: meta.Artifact | None = None


class HelmRepository(meta.KubeObject[HelmRepositorySpec, HelmRepositoryStatus]):
    """A Helm chart repository, whose index is published as an artifact."""

    RESOURCE = resources.HELM_REPOSITORY


# --- HelmChart --------------------------------------------------------------------------


class HelmChartSourceReference(meta.SpecModel):
    """The source holding the chart, in the HelmChart's namespace."""

    api_version: str | None = None
    kind: Literal["HelmRepository", "GitRepository", "Bucket"]
    name: str


class OIDCIdentityMatch(meta.SpecModel):
    """Regular expressions a keyless (OIDC) signature's identity must match."""

    issuer: str
    subject: str


class OCIRepositoryVerification(meta.SpecModel):
    """How to verify the signature of an OCI artifact."""

    provider: Literal["cosign", "notation"] = meta.defaulted("cosign")
    secret_ref: meta.LocalObjectReference | None = None
    """Secret holding the trusted public keys."""
    match_oidc_identity: list[OIDCIdentityMatch] = Field(
        default_factory=list, alias="matchOIDCIdentity"
    )
    """Keyless (OIDC) identities to accept; Flux spells the field with OIDC in capitals."""
    trusted_root_secret_ref: meta.LocalObjectReference | None = None
    """Secret with a Sigstore trusted root, for keyless verification."""


class HelmChartSpec(meta.SpecModel):
    """A chart from a source, packaged and published as an artifact."""

    chart: str
    """Name of the chart in a HelmRepository, or its path in a Git or Bucket source."""
    version: str = meta.defaulted("*")
    """Semver range of the chart version; ignored for Git and Bucket sources."""
    source_ref: HelmChartSourceReference
    interval: meta.Duration
    """How often to check the source for updates."""
    reconcile_strategy: Literal["ChartVersion", "Revision"] = meta.defaulted("ChartVersion")
    """What makes a new artifact: a new chart version, or any new source revision."""
    values_files: list[str] = Field(default_factory=list)
    """Values files to merge, in order, in place of the chart's values.yaml."""
    values_file: str | None = None
    """Deprecated: use valuesFiles. Merged before them."""
    ignore_missing_values_files: bool = False
    suspend: bool = False
    access_from: meta.AccessFrom | None = None
    verify: OCIRepositoryVerification | None = None
    """Verify the chart's signature (OCI HelmRepository sources only)."""

    def all_values_files(self) -> list[str]:
        """The deprecated valuesFile first, then valuesFiles."""
        return ([self.values_file] if self.values_file else []) + self.values_files


class HelmChartStatus(meta.ObjectStatus):
    observed_source_artifact_revision: str | None = None
    observed_chart_name: str | None = None
    observed_values_files: list[str] = Field(default_factory=list)
    url: str | None = None
    artifact: meta.Artifact | None = None


class HelmChart(meta.KubeObject[HelmChartSpec, HelmChartStatus]):
    """A packaged Helm chart, published as an artifact."""

    RESOURCE = resources.HELM_CHART


# --- OCIRepository ----------------------------------------------------------------------


class OCIRepositoryRef(meta.SpecModel):
    """The artifact to pull. Precedence: digest, semver, tag; `latest` when none is set."""

    digest: str | None = None
    """A manifest digest, 'sha256:<hex>'."""
    semver: str | None = None
    """A semver range: the highest tag in it is pulled."""
    semver_filter: str | None = None
    """A regular expression the tags must match before the range is applied."""
    tag: str | None = None


class OCILayerSelector(meta.SpecModel):
    """Which layer of the artifact becomes the source's artifact, and how."""

    media_type: str | None = None
    """The first layer of this media type is selected; the first layer when omitted."""
    operation: Literal["extract", "copy"] | None = None
    """'extract' (default): unpack the layer's tarball; 'copy': store the layer as it is."""

    def effective_operation(self) -> str:
        return self.operation or "extract"


class OCIRepositorySpec(meta.SpecModel):
    """An OCI artifact in a container registry, published as an artifact."""

    url: Annotated[str, Field(pattern=r"^oci://.*$")]
    """The repository, oci://<host>/<path>."""
    ref: OCIRepositoryRef | None = None
    layer_selector: OCILayerSelector | None = None
    provider: Literal["generic", "aws", "azure", "gcp"] = meta.defaulted("generic")
    """Who provides the credentials; kidp serves 'generic' (secretRef, service account)."""
    secret_ref: meta.LocalObjectReference | None = None
    """A kubernetes.io/dockerconfigjson Secret with the registry's credentials."""
    verify: OCIRepositoryVerification | None = None
    service_account_name: str | None = None
    """A ServiceAccount whose imagePullSecrets hold the registry's credentials."""
    cert_secret_ref: meta.LocalObjectReference | None = None
    """Secret with a client certificate (tls.crt, tls.key) and/or a CA (ca.crt)."""
    proxy_secret_ref: meta.LocalObjectReference | None = None
    interval: meta.Duration
    """How often to check the registry for a new digest."""
    timeout: meta.TimeoutDuration = meta.defaulted(meta.TimeoutDuration("60s"))
    """Timeout of registry operations such as pulling."""
    ignore: str | None = None
    """Paths to leave out of the artifact, in .gitignore format (Flux's defaults when omitted)."""
    insecure: bool = False
    """Allow plain HTTP to the registry."""
    suspend: bool = False

    def effective_operation(self) -> str:
        return self.layer_selector.effective_operation() if self.layer_selector else "extract"


class OCIRepositoryStatus(meta.ObjectStatus):
    url: str | None = None
    """Where the latest artifact can be fetched."""
    artifact: meta.Artifact | None = None
    observed_ignore: str | None = None
    observed_layer_selector: OCILayerSelector | None = None


class OCIRepository(meta.KubeObject[OCIRepositorySpec, OCIRepositoryStatus]):
    """An OCI artifact, published as an artifact at every new digest."""

    RESOURCE = resources.OCI_REPOSITORY


# --- Bucket -----------------------------------------------------------------------------


class BucketSTSSpec(meta.SpecModel):
    """A Security Token Service to fetch temporary credentials from."""

    provider: Literal["aws", "ldap"]
    endpoint: Annotated[str, Field(pattern=r"^(http|https)://.*$")]
    secret_ref: meta.LocalObjectReference | None = None
    """Secret with the `username` and `password` of the 'ldap' provider."""
    cert_secret_ref: meta.LocalObjectReference | None = None


class BucketSpec(meta.SpecModel):
    """An object storage bucket, whose objects are published as an artifact."""

    provider: Literal["generic", "aws", "gcp", "azure"] = meta.defaulted("generic")
    """'generic': any S3-compatible API; 'aws' with static keys in secretRef is the same."""
    bucket_name: str
    endpoint: str
    """The server's address, host[:port]."""
    sts: BucketSTSSpec | None = None
    insecure: bool = False
    """Plain HTTP to the endpoint."""
    region: str | None = None
    """The region requests are signed for; us-east-1 when omitted."""
    prefix: str | None = None
    """Only the objects whose key starts with this (filtered by the server)."""
    secret_ref: meta.LocalObjectReference | None = None
    """Secret with the `accesskey` and `secretkey`."""
    service_account_name: str | None = None
    cert_secret_ref: meta.LocalObjectReference | None = None
    """Secret with a client certificate (tls.crt, tls.key) and/or a CA (ca.crt)."""
    proxy_secret_ref: meta.LocalObjectReference | None = None
    interval: meta.Duration
    """How often to list the bucket for changes."""
    timeout: meta.TimeoutDuration = meta.defaulted(meta.TimeoutDuration("60s"))
    """Timeout of the listing, and again of the download."""
    ignore: str | None = None
    """Objects to leave out, in .gitignore format, on top of the bucket's .sourceignore."""
    suspend: bool = False


class BucketStatus(meta.ObjectStatus):
    url: str | None = None
    """Where the latest artifact can be fetched."""
    artifact: meta.Artifact | None = None
    observed_ignore: str | None = None


class Bucket(meta.KubeObject[BucketSpec, BucketStatus]):
    """An object storage bucket, published as an artifact whenever its objects change."""

    RESOURCE = resources.BUCKET


# --- ExternalArtifact -------------------------------------------------------------------


class ExternalArtifactSpec(meta.SpecModel):
    """What produced the artifact (Flux 2.7, RFC-0012: another controller writes it)."""

    source_ref: meta.NamespacedObjectKindReference | None = None
    """The object the artifact was generated for (an ArtifactGenerator, for kidp's)."""


class ExternalArtifactStatus(meta.ObjectStatus):
    artifact: meta.Artifact | None = None


class ExternalArtifact(meta.KubeObject[ExternalArtifactSpec, ExternalArtifactStatus]):
    """An artifact a controller other than the source controller produced and stores
    (kidp's ArtifactGenerator); Kustomizations and HelmReleases read it as any source."""

    RESOURCE = resources.EXTERNAL_ARTIFACT

    spec: ExternalArtifactSpec = Field(default_factory=ExternalArtifactSpec)
