"""The ConfigMap of `spec.kubeConfig.configMapRef`: a remote cluster reached by workload
identity, its keys read as Flux documents them (fluxcd/pkg apis/meta `KubeConfigKey*`).

    provider             aws | azure | gcp | generic; required
    address              the remote API server; required for generic (https only,
                         `https://` added when no scheme, `:443` when no port)
    ca.crt               PEM CA of the remote API server; absent: the system's roots
    audiences            one per line; absent or empty: the address as written
    serviceAccountName   the service account of the object's namespace whose token is
                         sent; absent: the lockdown's default, else the engine's own
    cluster              a cloud provider's cluster resource; not used by generic

Only `generic` is implemented: the remote API server trusts this cluster's service
account issuer (a JWT authenticator), so a token of this cluster's TokenRequest API is
the credential. aws, azure and gcp exchange such a token at a cloud provider's API for
one of their own, which cannot be exercised without that cloud: refused by name
(`Unsupported`), by the engine (Stalled, `UnsupportedField`) and by `kidp validate`.

Pure: the engine (`runtime.workloadidentity`) and `kidp validate` both read through
`parse`. Errors are `ValueError`s whose message names the ConfigMap and the key, and
quotes only the provider's value (never the CA).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from kidp_gitops.api.meta import SUBDOMAIN

PROVIDER = "provider"
ADDRESS = "address"
CA = "ca.crt"
AUDIENCES = "audiences"
SERVICE_ACCOUNT = "serviceAccountName"
CLUSTER = "cluster"

GENERIC = "generic"
CLOUDS = ("aws", "azure", "gcp")


class Invalid(ValueError):
    """A key is missing or unusable: fixing the ConfigMap fixes it."""


class Unsupported(ValueError):
    """A provider kidp does not implement (aws, azure, gcp) or does not know."""


@dataclass(frozen=True)
class Settings:
    """How to reach the remote of a `generic` ConfigMap."""

    address: str
    """`https://host:port`, lowercase: what the client connects to."""
    audiences: tuple[str, ...]
    ca: bytes | None = field(default=None, repr=False)
    service_account: str | None = None


def parse(where: str, data: Mapping[str, str]) -> Settings:
    """The settings of ConfigMap `where` (`namespace/name`) with `data`."""
    described = f"kubeConfig ConfigMap '{where}'"
    provider = (data.get(PROVIDER) or "").strip()
    if not provider:
        raise Invalid(f"{described} has no '{PROVIDER}' key")
    if provider in CLOUDS:
        raise Unsupported(
            f"{described} sets {PROVIDER} '{provider}': workload identity of a cloud "
            f"provider (aws, azure, gcp) is not implemented, only '{GENERIC}' (OIDC trust "
            "between clusters) or spec.kubeConfig.secretRef. Nothing meant for the remote "
            "cluster reaches this one"
        )
    if provider != GENERIC:
        raise Unsupported(
            f"{described} sets {PROVIDER} '{provider}', which is none of "
            f"{', '.join((*CLOUDS, GENERIC))}"
        )
    written = (data.get(ADDRESS) or "").strip()
    if not written:
        raise Invalid(f"{described} has no '{ADDRESS}' key, which provider '{GENERIC}' requires")
    address = canonical_address(written, described)
    audiences = tuple(a.strip() for a in (data.get(AUDIENCES) or "").split("\n") if a.strip()) or (
        written,
    )
    ca = (data.get(CA) or "").strip()
    if ca and "-----BEGIN CERTIFICATE-----" not in ca:
        raise Invalid(f"{described} has a '{CA}' that is not a PEM certificate")
    account = (data.get(SERVICE_ACCOUNT) or "").strip() or None
    if account is not None and (len(account) > 253 or not re.fullmatch(SUBDOMAIN, account)):
        # It becomes a path of the TokenRequest API: a name, never a path of its own.
        raise Invalid(f"{described} has a '{SERVICE_ACCOUNT}' that is not a service account name")
    return Settings(address, audiences, ca.encode() if ca else None, account)


def canonical_address(address: str, described: str) -> str:
    """`https://host:port` of `address` (Flux's `auth.ParseClusterAddress`: a missing
    scheme is https, a missing port 443, the host lowercase, a path dropped)."""
    if not address.startswith("http"):
        address = f"https://{address}"
    try:
        parts = urllib.parse.urlsplit(address)
        port = parts.port
    except ValueError as err:
        raise Invalid(f"{described} has an '{ADDRESS}' that is not a URL") from err
    if parts.scheme != "https":
        raise Invalid(f"{described} has an '{ADDRESS}' that is not https")
    if parts.username is not None or parts.password is not None or not parts.hostname:
        # Credentials in the URL would reach logs and status unmasked.
        raise Invalid(f"{described} has an '{ADDRESS}' with credentials or without a host")
    host = parts.hostname.lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"https://{host}:{port or 443}"
