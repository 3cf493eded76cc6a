"""Fields our CRDs accept (Flux's schemas have them) but kidp does not implement yet.

Accepting such a field and going on would tell the user in the status that all is well
while the cluster differs from what was asked: a Kustomization's `spec.ignore` ignored
would put back what the user asked to be left alone. So an object that sets one
is refused as a whole — Stalled, reason `UnsupportedField`, the message naming the field — by every
controller (`runtime.lifecycle`) and by `kidp validate`, from this one table.

    refused_fields(kind, obj) -> list[Refused]     the refused fields `obj` sets

A path goes through a list with `[]` (`spec.valuesFrom[].literal`): each item is checked,
and what is returned names the item (`spec.valuesFrom[1].literal`). A field whose only
value we implement is our own behaviour lists that value as `allowed`: setting it to
that value is accepted, any other is refused. An empty list or map counts as not set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kidp_gitops.api import notification

UNSUPPORTED_FIELD = "UnsupportedField"


@dataclass(frozen=True)
class Refused:
    path: str
    """Dotted path of the field in the object, as a user writes it (`spec.ignore`;
    `[]` for every item of a list, `[1]` for one)."""
    why: str
    allowed: tuple[Any, ...] = ()
    """Values that ask for what kidp does anyway, so they are not refused."""

    def message(self) -> str:
        return f"{self.path} is set, but kidp-gitops does not support it: {self.why}"


_OWNERSHIP = (
    "kidp's Helm actions never take ownership of objects another release or tool made "
    "(as with true); taking ownership is not implemented"
)
_CLOUD = (
    "credentials from a cloud provider's identity are not implemented; 'generic' reads them "
    "from the Secrets the object names"
)
_PROXY = "a proxy for outbound connections is not implemented"
_SIGNATURES = "signature verification (cosign, notation) is not implemented"
_CEL_HEALTH = (
    "health checks by CEL expression are not implemented for Helm releases "
    "(a Kustomization's healthCheckExprs are)"
)

FIELDS: dict[str, tuple[Refused, ...]] = {
    "GitRepository": (
        # Accepting it would report unverified commits as if their signatures were checked.
        Refused("spec.verify", "commit and tag signature verification is not implemented"),
        Refused("spec.proxySecretRef", _PROXY),
        Refused(
            "spec.provider",
            "credentials from a cloud provider's identity or a GitHub App are not implemented;"
            " 'generic' reads them from spec.secretRef",
            allowed=("generic",),
        ),
        Refused(
            "spec.serviceAccountName",
            "a cloud provider's workload identity is not implemented (Flux reads this field"
            " only for spec.provider azure); give credentials in spec.secretRef",
        ),
    ),
    "HelmRepository": (Refused("spec.provider", _CLOUD, allowed=("generic",)),),
    "HelmChart": (Refused("spec.verify", _SIGNATURES),),
    "Kustomization": (
        Refused("spec.buildMetadata", "kustomize build metadata annotations are not implemented"),
        Refused("spec.decryption.provider", "only SOPS exists", allowed=("sops",)),
        Refused(
            "spec.decryption.serviceAccountName",
            "decrypting with a cloud key service's workload identity is not implemented; "
            "age and OpenPGP keys come from spec.decryption.secretRef",
        ),
        Refused("spec.ignore", "ignore rules for drift detection and apply are not implemented"),
    ),
    "HelmRelease": (
        Refused(
            "spec.commonMetadata",
            "labels and annotations on every object of the release are not implemented",
        ),
        Refused("spec.healthCheckExprs", _CEL_HEALTH),
        Refused("spec.install.disableTakeOwnership", _OWNERSHIP, allowed=(True,)),
        Refused("spec.upgrade.disableTakeOwnership", _OWNERSHIP, allowed=(True,)),
        Refused(
            "spec.upgrade.chartNameChangeStrategy",
            "what happens when the chart's name changes is not chosen by this field yet",
        ),
        Refused(
            "spec.postRenderStrategy",
            "helm v4's CLI sends hooks and manifests to the post-renderers together "
            "(combined, Flux's default); nohooks and separate are not implemented",
            allowed=("combined",),
        ),
        Refused(
            "spec.valuesFrom[].literal",
            "values are merged at targetPath as Helm's --set parses them; --set-literal is "
            "not implemented",
            allowed=(False,),
        ),
        Refused("spec.chart.spec.verify", _SIGNATURES),
        Refused(
            "spec.waitStrategy.name",
            "only poller (kstatus, Helm's watcher) is implemented; Helm's legacy wait is not",
            allowed=("poller",),
        ),
    ),
    "OCIRepository": (
        Refused("spec.provider", _CLOUD, allowed=("generic",)),
        Refused("spec.verify", _SIGNATURES),
        Refused("spec.proxySecretRef", _PROXY),
    ),
    "ImageRepository": (
        Refused("spec.provider", _CLOUD, allowed=("generic",)),
        Refused("spec.proxySecretRef", _PROXY),
    ),
    "Provider": (
        Refused(
            "spec.type",
            "sending to this service is not implemented; kidp sends to "
            + ", ".join(notification.SENDS_TO),
            allowed=notification.SENDS_TO,
        ),
        Refused(
            "spec.serviceAccountName",
            "a cloud provider's workload identity for notifications is not implemented",
        ),
    ),
    "Bucket": (
        Refused(
            "spec.provider",
            "only S3-compatible servers with static keys ('generic', or 'aws' with"
            " spec.secretRef) are implemented; Google Cloud Storage and Azure Blob are not",
            allowed=("generic", "aws"),
        ),
        Refused(
            "spec.sts", "temporary credentials from a Security Token Service are not implemented"
        ),
        Refused(
            "spec.serviceAccountName",
            "workload identity is not implemented; give static keys in spec.secretRef",
        ),
        Refused("spec.proxySecretRef", "a proxy for buckets is not implemented"),
    ),
    "Receiver": (
        Refused("spec.oidcProviders", "authenticating webhooks by OIDC tokens is not implemented"),
        Refused(
            "spec.type",
            "gcr needs Google's OIDC token verification, which is not implemented",
            allowed=notification.RECEIVES_FROM,
        ),
    ),
    "ImageUpdateAutomation": (
        Refused(
            "spec.git.push.refspec",
            "pushing a refspec besides the branch is not implemented",
        ),
        Refused(
            "spec.update.strategy",
            "only the Setters strategy (image policy markers) exists",
            allowed=("Setters",),
        ),
        Refused(
            "spec.git.commit.signingKey",
            "signing commits (OpenPGP or SSH) is not implemented; kidp would push them unsigned",
        ),
    ),
}


STORAGE_NAMESPACE = Refused(
    "spec.storageNamespace",
    "helm v4's CLI stores a release in the namespace it installs to (one --namespace); "
    "a storage namespace apart from the release's (spec.targetNamespace, else the "
    "HelmRelease's own) is not implemented",
)
"""Allowed only with the value of another field, so not in `FIELDS`: `refused_fields`
checks it itself."""


def refused_fields(kind: str, obj: dict[str, Any]) -> list[Refused]:
    """The refused fields of `kind` that `obj` (as JSON) sets to something not allowed,
    each named by its concrete path."""
    found: list[Refused] = []
    for rule in FIELDS.get(kind, ()):
        for path, value in _values(obj, rule.path.split("."), []):
            if _is_set(value) and not any(_same(value, a) for a in rule.allowed):
                found.append(Refused(".".join(path), rule.why, rule.allowed))
    if kind == "HelmRelease" and _storage_apart(obj):
        found.append(STORAGE_NAMESPACE)
    return found


def _storage_apart(obj: dict[str, Any]) -> bool:
    """Whether a HelmRelease stores its release in a namespace apart from the release's
    (unknown, as in a repository file without a namespace, is not apart)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict) or not spec.get("storageNamespace"):
        return False
    metadata = obj.get("metadata")
    own = metadata.get("namespace") if isinstance(metadata, dict) else None
    release = spec.get("targetNamespace") or own
    return bool(release) and spec["storageNamespace"] != release


def values_at(obj: dict[str, Any], path: str) -> list[tuple[str, Any]]:
    """Every (concrete path, value) that a path as written above reaches in `obj`."""
    return [(".".join(p), v) for p, v in _values(obj, path.split("."), [])]


def _values(value: Any, parts: list[str], done: list[str]) -> list[tuple[list[str], Any]]:
    """Every (concrete path, value) that `parts` reaches from `value`."""
    if not parts:
        return [(done, value)]
    head, rest = parts[0], parts[1:]
    name, through_list = (head[:-2], True) if head.endswith("[]") else (head, False)
    if not isinstance(value, dict) or value.get(name) is None:
        return []
    child = value[name]
    if not through_list:
        return _values(child, rest, [*done, name])
    if not isinstance(child, list):
        return []
    return [
        found
        for index, item in enumerate(child)
        for found in _values(item, rest, [*done, f"{name}[{index}]"])
    ]


def _is_set(value: Any) -> bool:
    return value is not None and value != [] and value != {}


def _same(value: Any, allowed: Any) -> bool:
    # True == 1 in Python; a bool field allows only a bool.
    return type(value) is type(allowed) and value == allowed
