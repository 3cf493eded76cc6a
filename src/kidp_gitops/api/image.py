"""image.toolkit.fluxcd.io/v1 (also served as v1beta2, and ImageUpdateAutomation as
v1beta1, with the same schema): ImageRepository, ImagePolicy and ImageUpdateAutomation.

An ImageRepository scans a registry for tags; an ImagePolicy picks the latest one by a
rule; an ImageUpdateAutomation writes the picked images into the manifests in Git
(setter comments) and commits and pushes the change. The v1beta1 automation the PRD uses
is served with the v1 schema, a superset of it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from kidp_gitops.api import meta, resources, source

GROUP = resources.IMAGE_GROUP


# --- ImageRepository --------------------------------------------------------------------


class ImageRepositorySpec(meta.SpecModel):
    """A container image repository to scan for tags."""

    image: str
    """The image, e.g. 'ghcr.io/org/app'."""
    interval: meta.Duration
    """How often to scan."""
    timeout: meta.TimeoutDuration | None = None
    """Timeout of a scan; the interval when omitted."""
    secret_ref: meta.LocalObjectReference | None = None
    """A docker-registry Secret with the registry credentials."""
    proxy_secret_ref: meta.LocalObjectReference | None = None
    service_account_name: Annotated[str, Field(max_length=253)] | None = None
    """ServiceAccount whose image pull secrets to use."""
    cert_secret_ref: meta.LocalObjectReference | None = None
    suspend: bool = False
    access_from: meta.AccessFrom | None = None
    exclusion_list: Annotated[list[str], Field(max_length=25)] = meta.defaulted(["^.*\\.sig$"])
    """Regular expressions of tags to leave out."""
    provider: Literal["generic", "aws", "azure", "gcp"] = meta.defaulted("generic")
    insecure: bool = False
    """Allow plain HTTP to the registry."""

    def effective_timeout(self) -> meta.Duration:
        timeout = self.timeout or self.interval
        return timeout if timeout.seconds >= 1 else meta.Duration("1s")


class ScanResult(meta.StatusModel):
    revision: str | None = None
    tag_count: int
    scan_time: datetime | None = None
    latest_tags: list[str] = Field(default_factory=list)


class ImageRepositoryStatus(meta.ObjectStatus):
    canonical_image_name: str | None = None
    """The image with the implied parts spelled out, e.g. 'docker.io/library/alpine'."""
    last_scan_result: ScanResult | None = None
    observed_exclusion_list: list[str] = Field(default_factory=list)


class ImageRepository(meta.KubeObject[ImageRepositorySpec, ImageRepositoryStatus]):
    """A container image repository, scanned for tags."""

    RESOURCE = resources.IMAGE_REPOSITORY


# --- ImagePolicy ------------------------------------------------------------------------


class SemVerPolicy(meta.SpecModel):
    range: str
    """The highest tag within this semver range wins."""


class OrderPolicy(meta.SpecModel):
    order: Literal["asc", "desc"] = meta.defaulted("asc")
    """'asc' picks the last tag in order, 'desc' the first."""


class ImagePolicyChoice(meta.SpecModel):
    """The rule picking the latest tag; exactly one is set."""

    semver: SemVerPolicy | None = None
    alphabetical: OrderPolicy | None = None
    numerical: OrderPolicy | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        chosen = [rule for rule in (self.semver, self.alphabetical, self.numerical) if rule]
        if len(chosen) != 1:
            raise ValueError("set exactly one of semver, alphabetical or numerical")
        return self


class TagFilter(meta.SpecModel):
    pattern: str | None = None
    """Regular expression the tags must match."""
    extract: str | None = None
    """Capture-group template of the part of the tag to compare, e.g. '$ts'."""


class ImageRef(meta.StatusModel):
    name: str
    tag: str
    digest: str | None = None


class ImagePolicySpec(meta.SpecModel):
    """How to pick the latest image from an ImageRepository."""

    image_repository_ref: meta.NamespacedObjectReference
    policy: ImagePolicyChoice
    filter_tags: TagFilter | None = None
    digest_reflection_policy: Literal["Always", "IfNotPresent", "Never"] = meta.defaulted("Never")
    """When to record the digest of the picked image."""
    interval: meta.Duration | None = None
    """How often to refresh the digest; only with digestReflectionPolicy: Always."""
    suspend: bool = False
    """Pick no new image while set (v1 and v1beta2 have it)."""


class ImagePolicyStatus(meta.ObjectStatus):
    latest_ref: ImageRef | None = None
    observed_previous_ref: ImageRef | None = None
    latest_image: str | None = None
    """Deprecated: see latestRef."""
    observed_previous_image: str | None = None
    """Deprecated: see observedPreviousRef."""


class ImagePolicy(meta.KubeObject[ImagePolicySpec, ImagePolicyStatus]):
    """The latest image of a repository, by a rule."""

    RESOURCE = resources.IMAGE_POLICY


# --- ImageUpdateAutomation --------------------------------------------------------------


class AutomationSourceReference(meta.CrossNamespaceSourceReference):
    kind: Literal["GitRepository"] = meta.defaulted("GitRepository")


class GitCheckout(meta.SpecModel):
    ref: source.GitRepositoryRef
    """The reference to clone; the GitRepository's own when checkout is omitted."""


class CommitUser(meta.SpecModel):
    name: str | None = None
    email: str


class SigningKey(meta.SpecModel):
    """The key to sign commits with (refused: signing is not implemented)."""

    secret_ref: meta.LocalObjectReference
    """Secret whose 'git.asc' key holds the ASCII-armoured OpenPGP key pair."""
    type: Literal["gpg", "ssh"] | None = None
    """The kind of key; gpg when omitted."""


class CommitSpec(meta.SpecModel):
    author: CommitUser
    signing_key: SigningKey | None = None
    message_template: str | None = None
    """Go template of the commit message, given the details of the change."""
    message_template_values: dict[str, str] = Field(default_factory=dict)


class PushSpec(meta.SpecModel):
    branch: str | None = None
    """Branch to push to, created from the checkout branch when missing."""
    refspec: str | None = None
    options: dict[str, str] = Field(default_factory=dict)
    """Git push options."""


class GitSpec(meta.SpecModel):
    checkout: GitCheckout | None = None
    commit: CommitSpec
    push: PushSpec | None = None
    """Where to push; back to the checkout branch when omitted."""


class UpdateStrategy(meta.SpecModel):
    strategy: Literal["Setters"] = meta.defaulted("Setters")
    path: str | None = None
    """Directory of the manifests to update; the repository root when omitted."""


class ImageUpdateAutomationSpec(meta.SpecModel):
    """Write the latest images into Git: what to update, and how to commit and push."""

    source_ref: AutomationSourceReference
    git: GitSpec | None = None
    interval: meta.Duration
    policy_selector: meta.LabelSelector | None = None
    """The ImagePolicies to apply; all in the namespace when omitted."""
    update: UpdateStrategy = meta.defaulted(UpdateStrategy())
    suspend: bool = False


class ImageUpdateAutomationStatus(meta.ObjectStatus):
    last_automation_run_time: datetime | None = None
    last_push_commit: str | None = None
    last_push_time: datetime | None = None
    observed_policies: dict[str, ImageRef] = Field(default_factory=dict)
    observed_source_revision: str | None = None


# Named first: the class statement then fits on one line, which pydantic (reading field
# docstrings from the source on Python < 3.13) needs.
_AutomationObject = meta.KubeObject[ImageUpdateAutomationSpec, ImageUpdateAutomationStatus]


class ImageUpdateAutomation(_AutomationObject):
    """Image updates committed and pushed to Git."""

    RESOURCE = resources.IMAGE_UPDATE_AUTOMATION
