"""source.extensions.fluxcd.io/v1beta1: ArtifactGenerator (Flux 2.7's source-watcher).

An ArtifactGenerator composes artifacts from the artifacts of other sources, or splits
one source into several: each of `spec.artifacts` is built by `copy` operations from the
sources (by alias) into a new tarball, published as an ExternalArtifact of the same name
in the generator's namespace.

    from: "@<alias>/<path or glob>"     to: "@artifact/<path>"     strategy: Overwrite |
    Merge (YAML, as Helm merges values files) | Extract (a .tgz / .tar.gz unpacked)

The patterns are Flux's CRD validation, so a manifest Flux refuses is refused here too.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from kidp_gitops.api import meta, resources

GROUP = resources.SOURCE_EXTENSIONS_GROUP

ALIAS = r"[a-z0-9]([a-z0-9_-]*[a-z0-9])?"
RECONCILE_ANNOTATION = f"{GROUP}/reconcile"
"""`Disabled` (any case) stops reconciliation, as `spec.suspend` does for other kinds."""
GENERATOR_LABEL = f"{GROUP}/generator"
"""Set on every ExternalArtifact a generator owns; the value is the generator's UID."""
ORIGIN_REVISION = "org.opencontainers.image.revision"
"""The artifact metadata key of `originRevision`."""


class GeneratorSourceReference(meta.SpecModel):
    """A source whose artifact the copy operations read, under an alias."""

    alias: Annotated[str, Field(pattern=f"^{ALIAS}$", max_length=63)]
    """The name the copy operations use (`@alias/...`); unique in the generator."""
    name: Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", max_length=253)]
    namespace: (
        Annotated[
            str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", min_length=1, max_length=63)
        ]
        | None
    ) = None
    """The source's namespace; the generator's when omitted."""
    kind: Literal["Bucket", "GitRepository", "OCIRepository", "HelmChart", "ExternalArtifact"]


class CopyOperation(meta.SpecModel):
    """Files of a source copied into the artifact, with `cp`'s semantics."""

    from_: Annotated[
        str, Field(alias="from", pattern=f"^@({ALIAS})/(.*)$", min_length=1, max_length=1024)
    ]
    """`@alias/path`: a file, a directory, or a glob."""
    to: Annotated[str, Field(pattern=r"^@(artifact)/(.*)$", min_length=1, max_length=1024)]
    """`@artifact/path`: a trailing slash names a directory."""
    exclude: Annotated[list[str], Field(max_length=100)] = Field(default_factory=list)
    """Globs of files to leave out (a pattern without '/' matches a file name at any depth)."""
    strategy: Literal["Overwrite", "Merge", "Extract"] | None = None
    """Overwrite (default) replaces; Merge merges YAML into the file already there;
    Extract unpacks tarballs."""

    def effective_strategy(self) -> str:
        return self.strategy or "Overwrite"


class OutputArtifact(meta.SpecModel):
    """One ExternalArtifact to generate."""

    name: Annotated[str, Field(min_length=1, max_length=253)]
    revision: Annotated[str, Field(pattern=f"^@({ALIAS})$", max_length=64)] | None = None
    """`@alias`: take that source's revision; `latest@<digest>` of the content when omitted."""
    origin_revision: Annotated[str, Field(pattern=f"^@({ALIAS})$", max_length=64)] | None = None
    """`@alias`: record that source's origin revision (its commit) in the artifact's
    metadata, as `org.opencontainers.image.revision`."""
    copy_: Annotated[list[CopyOperation], Field(alias="copy", min_length=1)]


class GeneratorCommonMetadata(meta.SpecModel):
    """Labels and annotations set on every generated ExternalArtifact."""

    annotations: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)


class ArtifactGeneratorSpec(meta.SpecModel):
    common_metadata: GeneratorCommonMetadata | None = None
    sources: Annotated[list[GeneratorSourceReference], Field(min_length=1, max_length=1000)]
    path_pattern: Annotated[str, Field(pattern=f"^@({ALIAS})/(.*)$", max_length=1024)] | None = None
    """`@alias/apps/{app}`: one set of `artifacts` per matching directory, the captures
    (`{app}`) filled into their names (lowercased), copies and labels."""
    artifacts: Annotated[list[OutputArtifact], Field(min_length=1, max_length=1000)]


class ExternalArtifactReference(meta.StatusModel):
    """A generated ExternalArtifact and the digest of its artifact."""

    name: str
    namespace: str
    digest: str
    filename: str


class ArtifactGeneratorStatus(meta.ObjectStatus):
    inventory: list[ExternalArtifactReference] = Field(default_factory=list)
    observed_sources_digest: str | None = None
    """A hash of every source's artifact (digest, revision, URL) last built from."""


class ArtifactGenerator(meta.KubeObject[ArtifactGeneratorSpec, ArtifactGeneratorStatus]):
    """Artifacts composed from (or split out of) other sources' artifacts."""

    RESOURCE = resources.ARTIFACT_GENERATOR
