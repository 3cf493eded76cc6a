"""notification.toolkit.fluxcd.io: Provider and Alert (v1beta3, also served as v1beta2
and v1beta1, the PRD's) and Receiver (v1).

A Provider is somewhere to send events (Slack, a Git host's commit status, a webhook);
an Alert chooses which events go to which Provider; a Receiver is a webhook endpoint
that asks for the reconciliation of the objects it lists.

Older versions are served with the newest schema (a superset of theirs), converted by
rewriting apiVersion only, so the PRD's v1beta1 Alert applies as written.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self, get_args

from pydantic import ConfigDict, Field, model_validator

from kidp_gitops.api import meta, resources

GROUP = resources.NOTIFICATION_GROUP

ProviderType = Literal[
    "slack",
    "discord",
    "msteams",
    "rocket",
    "generic",
    "generic-hmac",
    "github",
    "gitlab",
    "gitea",
    "bitbucketserver",
    "bitbucket",
    "azuredevops",
    "googlechat",
    "googlepubsub",
    "webex",
    "sentry",
    "azureeventhub",
    "telegram",
    "lark",
    "matrix",
    "opsgenie",
    "alertmanager",
    "grafana",
    "githubdispatch",
    "pagerduty",
    "datadog",
    "nats",
]

ReceiverType = Literal[
    "generic",
    "generic-hmac",
    "github",
    "gitlab",
    "bitbucket",
    "harbor",
    "dockerhub",
    "quay",
    "gcr",
    "nexus",
    "acr",
    "cdevents",
]

SENDS_TO: tuple[str, ...] = (
    "generic",
    "generic-hmac",
    "slack",
    "rocket",
    "discord",
    "msteams",
    "googlechat",
    "alertmanager",
    "github",
    "gitlab",
)
"""The Provider types kidp sends to (notification/providers.py); the others Flux knows
are refused (api/refused.py)."""
RECEIVES_FROM: tuple[str, ...] = tuple(t for t in get_args(ReceiverType) if t != "gcr")
"""The Receiver types kidp verifies; gcr needs Google's OIDC token verification."""

EventSourceKind = Literal[
    "Bucket",
    "GitRepository",
    "Kustomization",
    "HelmRelease",
    "HelmChart",
    "HelmRepository",
    "ImageRepository",
    "ImagePolicy",
    "ImageUpdateAutomation",
    "OCIRepository",
    "ArtifactGenerator",
    "ExternalArtifact",
]


class CrossNamespaceObjectReference(meta.SpecModel):
    """Flux objects by kind and name; '*' matches every name (and, as namespace, every
    namespace)."""

    api_version: str | None = None
    kind: EventSourceKind
    name: Annotated[str, Field(min_length=1, max_length=253)]
    namespace: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    """The referrer's namespace when omitted."""
    match_labels: dict[str, str] = Field(default_factory=dict)
    """Labels the objects must carry; needs name '*'."""


class ReceiverResource(CrossNamespaceObjectReference):
    """An object a Receiver reconciles, optionally filtered by a CEL expression."""

    filter: str | None = None
    """CEL expression deciding whether to reconcile the object (refused)."""


class OIDCValidation(meta.SpecModel):
    expression: str
    message: str


class OIDCVariable(meta.SpecModel):
    name: str
    expression: str


class OIDCProvider(meta.SpecModel):
    """An OIDC issuer whose tokens authenticate the webhook (refused)."""

    issuer_url: Annotated[str, Field(alias="issuerURL", pattern=r"^https?://")]
    audience: str | None = None
    validations: Annotated[list[OIDCValidation], Field(min_length=1)]
    variables: list[OIDCVariable] = Field(default_factory=list)


# --- Provider ---------------------------------------------------------------------------


_GIT_PROVIDERS = ("github", "gitlab", "gitea", "bitbucketserver", "bitbucket", "azuredevops")


class ProviderSpec(meta.SpecModel):
    """Where and how to send events."""

    # Flux's rule: a commit status name is for the providers that set commit statuses.
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": " || ".join(f"self.type == '{t}'" for t in _GIT_PROVIDERS)
                    + " || !has(self.commitStatusExpr)",
                    "message": "spec.commitStatusExpr is only supported for the "
                    + ", ".join(f"'{t}'" for t in _GIT_PROVIDERS)
                    + " provider types",
                }
            ]
        }
    )

    type: ProviderType
    interval: meta.Duration | None = None
    """Deprecated and unused."""
    channel: Annotated[str, Field(max_length=2048)] | None = None
    username: Annotated[str, Field(max_length=2048)] | None = None
    address: Annotated[str, Field(max_length=2048)] | None = None
    """The endpoint; what it means depends on the type (a URL, a project, a topic)."""
    timeout: meta.TimeoutDuration | None = None
    """Timeout of sending an event; 15s when omitted."""
    proxy: Annotated[str, Field(max_length=2048, pattern=r"^(http|https)://.*$")] | None = None
    """Deprecated: use proxySecretRef."""
    proxy_secret_ref: meta.LocalObjectReference | None = None
    secret_ref: meta.LocalObjectReference | None = None
    """Secret with the credentials (address, token, username, password, headers)."""
    service_account_name: str | None = None
    cert_secret_ref: meta.LocalObjectReference | None = None
    """Secret with a CA (ca.crt) and/or client certificate (tls.crt, tls.key)."""
    suspend: bool = False
    commit_status_expr: str | None = None
    """CEL expression (over `event`, `alert`, `provider`) giving the name of the commit
    status (Git-host providers only)."""

    @model_validator(mode="after")
    def _commit_status_for_git_providers(self) -> Self:
        if self.commit_status_expr and self.type not in _GIT_PROVIDERS:
            raise ValueError(
                "spec.commitStatusExpr is only supported for the "
                + ", ".join(f"'{t}'" for t in _GIT_PROVIDERS)
                + " provider types"
            )
        return self

    def effective_timeout(self) -> meta.TimeoutDuration:
        return self.timeout or meta.TimeoutDuration("15s")


class Provider(meta.KubeObject[ProviderSpec, meta.ObjectStatus]):
    """A destination for events."""

    RESOURCE = resources.PROVIDER


# --- Alert ------------------------------------------------------------------------------


class AlertSpec(meta.SpecModel):
    """Which events to send to a Provider."""

    provider_ref: meta.LocalObjectReference
    event_severity: Literal["info", "error"] = meta.defaulted("info")
    """'error' sends only errors; 'info' sends everything."""
    event_sources: list[CrossNamespaceObjectReference]
    """The objects whose events are sent."""
    inclusion_list: list[str] = Field(default_factory=list)
    """Regular expressions; only messages matching one are sent."""
    exclusion_list: list[str] = Field(default_factory=list)
    """Regular expressions; messages matching one are dropped."""
    event_metadata: dict[str, str] = Field(default_factory=dict)
    """Metadata added to every event sent."""
    summary: Annotated[str, Field(max_length=255)] | None = None
    suspend: bool = False


class Alert(meta.KubeObject[AlertSpec, meta.ObjectStatus]):
    """A rule sending events of some objects to a Provider."""

    RESOURCE = resources.ALERT


# --- Receiver ---------------------------------------------------------------------------


class ReceiverSpec(meta.SpecModel):
    """A webhook that triggers reconciliations."""

    type: ReceiverType
    """Who sends the webhook; decides how it is authenticated and parsed."""
    interval: meta.Duration = meta.defaulted(meta.Duration("10m"))
    """How often to re-read the Secret."""
    events: list[str] = Field(default_factory=list)
    """Event types to act on, e.g. 'push' (GitHub) or 'Push Hook' (GitLab); all when
    empty."""
    resources: list[ReceiverResource]
    """The objects to reconcile when a webhook arrives."""
    resource_filter: str | None = None
    """CEL expression deciding, per resource, whether to reconcile it."""
    secret_ref: meta.LocalObjectReference
    """Secret whose 'token' key authenticates the webhook."""
    suspend: bool = False
    oidc_providers: list[OIDCProvider] = Field(default_factory=list)
    """OIDC issuers whose tokens authenticate the webhook (refused)."""


class ReceiverStatus(meta.ObjectStatus):
    webhook_path: str | None = None
    """The path of the webhook: '/hook/' and a digest of token, name and namespace."""


class Receiver(meta.KubeObject[ReceiverSpec, ReceiverStatus]):
    """A webhook endpoint requesting the reconciliation of Flux objects."""

    RESOURCE = resources.RECEIVER
