"""Trust between two local control planes: one accepts the service-account tokens of the
other, as a remote cluster trusts a management cluster for Flux's workload identity
(`spec.kubeConfig.configMapRef`, provider `generic`).

Each control plane's service-account issuer is its own API server's URL, which serves
the issuer's discovery document and keys (`/.well-known/openid-configuration`,
`/openid/v1/jwks`), readable without credentials (`publish_discovery`: the role
Kubernetes ships for it, bound to unauthenticated users). A control plane started with
`Trust` gets an AuthenticationConfiguration (structured authentication, GA in
Kubernetes 1.34) with one JWT authenticator for the other's issuer: a token of the other
cluster with one of `audiences` becomes the user `<prefix><sub>` —
`management:system:serviceaccount:<namespace>:<name>` — to whom this cluster's RBAC
grants what it grants.

    issuer = management.issuer()                         after management.up()
    remote = DevCluster(path, trust=Trust(issuer))       its API server trusts it
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kidp_gitops.kube.client import KubeClient
from kidp_gitops.kube.mapper import RestMapper
from kidp_gitops.kube.ssa import Policy, ResourceManager

FILE = "authentication.yaml"
PREFIX = "management:"
DISCOVERY_BINDING = "kidp-devcluster:service-account-issuer-discovery"


@dataclass(frozen=True)
class Issuer:
    """A control plane's service-account issuer: its URL and the CA of its TLS."""

    url: str
    ca: str = field(repr=False)


@dataclass(frozen=True)
class Trust:
    issuer: Issuer
    audiences: tuple[str, ...] = ()
    """Accepted audiences; empty: the trusting API server's own URL (the audience Flux
    requests when the ConfigMap names none: its `address`)."""
    prefix: str = PREFIX
    """Of the usernames the tokens become (the `sub` claim after it)."""


def write_config(path: Path, trust: Trust, own_server: str) -> None:
    """The AuthenticationConfiguration of a control plane at `own_server` that trusts
    `trust.issuer` (0600: not a secret, but nobody else's to change)."""
    config: dict[str, Any] = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AuthenticationConfiguration",
        "jwt": [
            {
                "issuer": {
                    "url": trust.issuer.url,
                    "audiences": list(trust.audiences or (own_server,)),
                    "certificateAuthority": trust.issuer.ca,
                },
                "claimMappings": {"username": {"claim": "sub", "prefix": trust.prefix}},
            }
        ],
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)


async def publish_discovery(kube: KubeClient, manager_name: str) -> None:
    """Let anyone read this control plane's issuer discovery and keys, as a cloud
    cluster publishes them: what another API server fetches before it trusts a token."""
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": DISCOVERY_BINDING},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "system:service-account-issuer-discovery",
        },
        "subjects": [
            {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Group",
                "name": "system:unauthenticated",
            }
        ],
    }
    manager = ResourceManager(kube, RestMapper(kube), Policy(manager_name))
    path = f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{DISCOVERY_BINDING}"
    await manager.put(binding, path)
