"""helm.toolkit.fluxcd.io/v2: HelmRelease.

A HelmRelease installs a chart (from a HelmChart made from its `chart` template, or
from `chartRef`) and keeps the release in the state its spec describes, running Helm's
install, upgrade, test, rollback and uninstall actions as needed.

Where kidp is more lenient than Flux, so that the PRD's manifests apply as written:
- `spec.interval` defaults to 1m (Flux requires it), the default of `flux create`;
- `spec.rollback.enable`, from Flux v1's helm-operator, is accepted. When true and
  `upgrade.remediation` is not given, a failed upgrade is rolled back to the last
  successful release (no retries), as the helm-operator did; an explicit
  `upgrade.remediation` always wins. See `HelmReleaseSpec.upgrade_remediation()`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from kidp_gitops.api import kustomize, meta, resources

GROUP = resources.HELM_GROUP
DEFAULT_INTERVAL = meta.Duration("1m")
DEFAULT_TIMEOUT = meta.Duration("5m")
DEFAULT_MAX_HISTORY = 5
DEFAULT_RETRY_INTERVAL = meta.Duration("5m")
"""The wait before retrying a failed action under RetryOnFailure, as Flux's."""

CRDsPolicy = Literal["Skip", "Create", "CreateReplace"]
ServerSideApply = Literal["enabled", "disabled", "auto"]
"""Helm's --server-side for upgrade and rollback; auto follows the release's last action."""


# --- the chart --------------------------------------------------------------------------


class ChartSourceReference(meta.SpecModel):
    """The source holding the chart, in the given namespace or else the release's."""

    api_version: str | None = None
    kind: Literal["HelmRepository", "GitRepository", "Bucket"]
    name: meta.ObjectName
    namespace: meta.NamespaceName | None = None


class ChartVerification(meta.SpecModel):
    """How to verify an OCI chart's signature."""

    provider: Literal["cosign", "notation"] = meta.defaulted("cosign")
    secret_ref: meta.LocalObjectReference | None = None


class HelmChartTemplateSpec(meta.SpecModel):
    """The spec of the HelmChart made for this release."""

    chart: Annotated[str, Field(min_length=1, max_length=2048)]
    """Name of the chart in a HelmRepository, or its path in a Git or Bucket source."""
    version: str = meta.defaulted("*")
    """Semver range of the chart version; ignored for Git and Bucket sources."""
    source_ref: ChartSourceReference
    interval: meta.Duration | None = None
    """How often to check the source; the release's interval when omitted."""
    reconcile_strategy: Literal["ChartVersion", "Revision"] = meta.defaulted("ChartVersion")
    values_files: list[str] = Field(default_factory=list)
    values_file: str | None = None
    """Deprecated: use valuesFiles."""
    ignore_missing_values_files: bool = False
    verify: ChartVerification | None = None


class HelmChartTemplateMetadata(meta.SpecModel):
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class HelmChartTemplate(meta.SpecModel):
    """Template of the HelmChart the controller creates in the source's namespace."""

    metadata: HelmChartTemplateMetadata | None = None
    spec: HelmChartTemplateSpec


class ChartReference(meta.CrossNamespaceSourceReference):
    """A source object that holds the chart artifact itself."""

    kind: Literal["OCIRepository", "HelmChart", "ExternalArtifact"]


# --- actions ----------------------------------------------------------------------------


class InstallRemediation(meta.SpecModel):
    """What to do when an install fails: uninstall, then retry."""

    retries: int = 0
    """Attempts after the first failure; negative means without end."""
    ignore_test_failures: bool | None = None
    remediate_last_failure: bool | None = None
    """Uninstall after the last failure too; false when omitted."""


class UpgradeRemediation(meta.SpecModel):
    """What to do when an upgrade fails: roll back (or uninstall), then retry."""

    retries: int = 0
    """Attempts after the first failure; negative means without end."""
    ignore_test_failures: bool | None = None
    remediate_last_failure: bool | None = None
    """Remediate after the last failure too; true when omitted and retries > 0."""
    strategy: Literal["rollback", "uninstall"] | None = None
    """How to remediate; rollback when omitted."""

    def must_remediate_last_failure(self) -> bool:
        if self.remediate_last_failure is None:
            return self.retries > 0
        return self.remediate_last_failure

    def effective_strategy(self) -> str:
        return self.strategy or "rollback"


class ActionStrategy(meta.SpecModel):
    """What to do after a failed install or upgrade."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.retryInterval) || self.name == 'RetryOnFailure'",
                    "message": ".retryInterval can only be set when .name is 'RetryOnFailure'",
                }
            ]
        }
    )

    name: Literal["RemediateOnFailure", "RetryOnFailure"]
    """RemediateOnFailure follows `remediation`; RetryOnFailure leaves the failed release
    as it is and retries it (by an upgrade) every `retryInterval`, never Stalled."""
    retry_interval: meta.Duration | None = None
    """5m when omitted; only with RetryOnFailure."""


class Install(meta.SpecModel):
    """Options of Helm install."""

    timeout: meta.Duration | None = None
    """The release's timeout when omitted."""
    remediation: InstallRemediation | None = None
    disable_wait: bool = False
    disable_wait_for_jobs: bool = False
    disable_hooks: bool = False
    disable_open_api_validation: bool = False
    replace: bool = False
    skip_crds: bool = False
    """Deprecated: use crds: Skip."""
    crds: CRDsPolicy | None = None
    """What to do with the chart's crds/ directory; Create when omitted."""
    create_namespace: bool = False
    disable_schema_validation: bool = False
    """Skip the chart's values.schema.json (helm --skip-schema-validation)."""
    disable_take_ownership: bool | None = None
    """Do not take ownership of existing objects; kidp never does (false is refused)."""
    server_side_apply: bool | None = None
    """Helm's --server-side for install; Helm's default (true) when omitted."""
    strategy: ActionStrategy | None = None


class Upgrade(meta.SpecModel):
    """Options of Helm upgrade."""

    timeout: meta.Duration | None = None
    remediation: UpgradeRemediation | None = None
    disable_wait: bool = False
    disable_wait_for_jobs: bool = False
    disable_hooks: bool = False
    disable_open_api_validation: bool = False
    force: bool = False
    """Replace objects instead of patching them."""
    preserve_values: bool = False
    cleanup_on_fail: bool = False
    crds: CRDsPolicy | None = None
    """What to do with the chart's crds/ directory; Create when omitted, as
    helm-controller 1.6 applies it (its API docs say Skip)."""
    disable_schema_validation: bool = False
    """Skip the chart's values.schema.json (helm --skip-schema-validation)."""
    disable_take_ownership: bool | None = None
    """Do not take ownership of existing objects; kidp never does (false is refused)."""
    server_side_apply: ServerSideApply | None = None
    """Helm's --server-side for upgrade; auto when omitted."""
    strategy: ActionStrategy | None = None
    chart_name_change_strategy: Literal["InPlaceUpdate", "Reinstall"] | None = None


class TestFilter(meta.SpecModel):
    name: Annotated[str, Field(min_length=1, max_length=253)]
    exclude: bool = False


class Test(meta.SpecModel):
    """Options of Helm test, run after install and upgrade when enabled."""

    enable: bool = False
    timeout: meta.Duration | None = None
    ignore_failures: bool = False
    filters: list[TestFilter] | None = None


class Rollback(meta.SpecModel):
    """Options of Helm rollback."""

    enable: bool | None = None
    """kidp extension, from Flux v1's helm-operator: roll back a failed upgrade. Used
    only when upgrade.remediation is not given."""
    timeout: meta.Duration | None = None
    disable_wait: bool = False
    disable_wait_for_jobs: bool = False
    disable_hooks: bool = False
    recreate: bool = False
    force: bool = False
    cleanup_on_fail: bool = False
    server_side_apply: ServerSideApply | None = None
    """Helm's --server-side for rollback; auto when omitted."""


class Uninstall(meta.SpecModel):
    """Options of Helm uninstall."""

    timeout: meta.Duration | None = None
    disable_hooks: bool = False
    keep_history: bool = False
    disable_wait: bool = False
    deletion_propagation: Literal["background", "foreground", "orphan"] = meta.defaulted(
        "background"
    )


class IgnoreRule(meta.SpecModel):
    """JSON pointers to leave out of drift detection."""

    paths: list[str]
    target: kustomize.Selector | None = None


class DriftDetection(meta.SpecModel):
    """How to treat differences between the release manifest and the cluster."""

    mode: Literal["enabled", "warn", "disabled"] | None = None
    """enabled corrects drift, warn only reports it; disabled when omitted."""
    ignore: list[IgnoreRule] = Field(default_factory=list)

    def effective_mode(self) -> str:
        return self.mode or "disabled"


class ValuesReference(meta.SpecModel):
    """A ConfigMap or Secret holding values, and where to merge them."""

    kind: Literal["Secret", "ConfigMap"]
    name: meta.ObjectName
    values_key: Annotated[str, Field(max_length=253, pattern=r"^[\-._a-zA-Z0-9]+$")] | None = None
    """Data key holding the values; 'values.yaml' when omitted."""
    target_path: (
        Annotated[str, Field(max_length=250, pattern=r"^([a-zA-Z0-9_\-.\\\/]|\[[0-9]{1,5}\])+$")]
        | None
    ) = None
    """Dotted path to merge a single value at; the root when omitted."""
    optional: bool = False
    literal: bool = False
    """Merge the value at targetPath as a string, as `helm --set-literal` (refused when
    true: not implemented)."""

    def effective_values_key(self) -> str:
        return self.values_key or "values.yaml"


class KustomizePostRenderer(meta.SpecModel):
    """Kustomize patches and images applied to the rendered manifests."""

    patches: list[kustomize.Patch] = Field(default_factory=list)
    patches_strategic_merge: list[meta.FreeForm] = Field(default_factory=list)
    """Deprecated: use patches."""
    patches_json6902: list[kustomize.JSON6902Patch] = Field(default_factory=list)
    """Deprecated: use patches."""
    images: list[kustomize.Image] = Field(default_factory=list)


class PostRenderer(meta.SpecModel):
    kustomize: KustomizePostRenderer | None = None


class DependencyReference(meta.NamespacedObjectReference):
    """A HelmRelease that must be ready before this one."""

    ready_expr: str | None = None
    """A CEL expression deciding readiness in place of the Ready condition (refused)."""


class WaitStrategy(meta.SpecModel):
    name: Literal["poller", "legacy"]
    """poller waits by kstatus (Helm's watcher), legacy by Helm's older checks."""


# --- HelmRelease ------------------------------------------------------------------------


class HelmReleaseSpec(meta.SpecModel):
    """A Helm release: the chart, its values, and how Helm's actions run."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "(has(self.chart) && !has(self.chartRef))"
                    " || (!has(self.chart) && has(self.chartRef))",
                    "message": "either chart or chartRef must be set",
                }
            ]
        }
    )

    chart: HelmChartTemplate | None = None
    chart_ref: ChartReference | None = None
    interval: meta.Duration = meta.defaulted(DEFAULT_INTERVAL)
    """How often to reconcile the release (kidp: defaults to 1m)."""
    kube_config: meta.KubeConfigReference | None = None
    suspend: bool = False
    release_name: Annotated[str, Field(min_length=1, max_length=53)] | None = None
    """'[targetNamespace-]name' when omitted."""
    target_namespace: meta.NamespaceName | None = None
    storage_namespace: meta.NamespaceName | None = None
    depends_on: list[DependencyReference] = Field(default_factory=list)
    """HelmReleases that must be ready first."""
    timeout: meta.Duration | None = None
    """Deadline of each Kubernetes operation of a Helm action; 5m when omitted."""
    max_history: int | None = None
    """Release revisions Helm keeps; 5 when omitted, 0 for all."""
    service_account_name: meta.AccountName | None = None
    persistent_client: bool | None = None
    """Reuse one Kubernetes client for a whole reconciliation; true when omitted."""
    drift_detection: DriftDetection | None = None
    install: Install | None = None
    upgrade: Upgrade | None = None
    test: Test | None = None
    rollback: Rollback | None = None
    uninstall: Uninstall | None = None
    values_from: list[ValuesReference] = Field(default_factory=list)
    values: meta.FreeForm | None = None
    """Values of the release, merged over valuesFrom."""
    post_renderers: list[PostRenderer] = Field(default_factory=list)
    """Kustomize patches and images over the rendered manifests, in order."""
    post_render_strategy: Literal["nohooks", "combined", "separate"] | None = None
    """How hooks reach the post-renderers: combined (helm v4's and Flux's default) only;
    the others are refused."""
    common_metadata: kustomize.CommonMetadata | None = None
    """Labels and annotations for every object of the release (refused)."""
    health_check_exprs: list[kustomize.CustomHealthCheck] = Field(default_factory=list)
    """CEL health checks per kind (refused: not implemented)."""
    wait_strategy: WaitStrategy | None = None

    @model_validator(mode="after")
    def _one_chart(self) -> Self:
        if (self.chart is None) == (self.chart_ref is None):
            raise ValueError("either chart or chartRef must be set, and not both")
        return self

    def effective_timeout(self) -> meta.Duration:
        return self.timeout or DEFAULT_TIMEOUT

    def effective_max_history(self) -> int:
        return DEFAULT_MAX_HISTORY if self.max_history is None else self.max_history

    def uses_persistent_client(self) -> bool:
        return True if self.persistent_client is None else self.persistent_client

    def chart_interval(self) -> meta.Duration:
        if self.chart is not None and self.chart.spec.interval is not None:
            return self.chart.spec.interval
        return self.interval

    def retry_after_failure(self, verb: Literal["install", "upgrade"]) -> meta.Duration | None:
        """The wait before retrying a failed `verb` when its strategy is RetryOnFailure;
        None when a failure is remediated (RemediateOnFailure, also when omitted)."""
        opts = self.install if verb == "install" else self.upgrade
        strategy = opts.strategy if opts is not None else None
        if strategy is None or strategy.name != "RetryOnFailure":
            return None
        return strategy.retry_interval or DEFAULT_RETRY_INTERVAL

    def install_remediation(self) -> InstallRemediation:
        if self.install is not None and self.install.remediation is not None:
            return self.install.remediation
        return InstallRemediation()

    def upgrade_remediation(self) -> UpgradeRemediation:
        """The upgrade remediation in force, honouring the helm-operator's
        `rollback.enable` when `upgrade.remediation` is not given."""
        if self.upgrade is not None and self.upgrade.remediation is not None:
            return self.upgrade.remediation
        if self.rollback is not None and self.rollback.enable:
            return UpgradeRemediation(remediate_last_failure=True, strategy="rollback")
        return UpgradeRemediation()


class TestHookStatus(meta.StatusModel):
    last_started: datetime | None = None
    last_completed: datetime | None = None
    phase: str | None = None


class Snapshot(meta.StatusModel):
    """A Helm release revision as the controller last saw it."""

    api_version: str | None = None
    digest: str
    name: str
    namespace: str
    version: int
    status: str
    chart_name: str
    chart_version: str
    config_digest: str
    first_deployed: datetime
    last_deployed: datetime
    deleted: datetime | None = None
    test_hooks: dict[str, TestHookStatus] | None = None
    oci_digest: str | None = None


class HelmReleaseStatus(meta.ObjectStatus):
    last_attempted_generation: int | None = None
    helm_chart: str | None = None
    """'<namespace>/<name>' of the HelmChart made for this release."""
    storage_namespace: str | None = None
    history: list[Snapshot] = Field(default_factory=list)
    """Release revisions, newest first, back to the last successful one."""
    last_attempted_release_action: Literal["install", "upgrade"] | None = None
    failures: int | None = None
    install_failures: int | None = None
    upgrade_failures: int | None = None
    last_attempted_revision: str | None = None
    last_attempted_revision_digest: str | None = None
    last_attempted_config_digest: str | None = None
    observed_post_renderers_digest: str | None = None
    """Digest of the post-renderers of the last successful install or upgrade."""
    last_handled_force_at: str | None = None
    last_handled_reset_at: str | None = None
    last_applied_revision: str | None = None
    """Deprecated: see history."""
    last_attempted_values_checksum: str | None = None
    """Deprecated: see lastAttemptedConfigDigest."""
    last_release_revision: int | None = None
    """Deprecated: see history."""


MAX_RELEASE_NAME = 53
"""Helm's limit on a release name."""


def shorten_release_name(name: str) -> str:
    """`name` if Helm accepts its length, else its first 40 characters, '-' and the first
    12 hex digits of its sha256 (53 in all), the way Flux shortens release names."""
    if len(name) <= MAX_RELEASE_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return f"{name[: MAX_RELEASE_NAME - len(digest) - 1]}-{digest}"


class HelmRelease(meta.KubeObject[HelmReleaseSpec, HelmReleaseStatus]):
    """A Helm release kept in the state its spec describes."""

    RESOURCE = resources.HELM_RELEASE

    def release_name(self) -> str:
        """`spec.releaseName`, else `[targetNamespace-]name`, shortened as Flux does when
        longer than Helm allows: its first 40 characters, '-', 12 hex of its sha256."""
        if self.spec.release_name:
            return self.spec.release_name
        if self.spec.target_namespace:
            return shorten_release_name(f"{self.spec.target_namespace}-{self.name}")
        return shorten_release_name(self.name)

    def release_namespace(self) -> str:
        return self.spec.target_namespace or self.namespace

    def storage_namespace(self) -> str:
        return self.spec.storage_namespace or self.namespace

    def helm_chart_name(self) -> str:
        """Name of the HelmChart the controller creates for this release."""
        return f"{self.namespace}-{self.name}"
