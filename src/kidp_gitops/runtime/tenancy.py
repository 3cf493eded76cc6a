"""Multi-tenancy lockdown: the rules every controller applies to a tenant's object.

Flux's controllers each take the same three flags; here one `Lockdown` is built from
them once and handed to every controller, so no controller can forget one:

    --no-cross-namespace-refs    a reference to an object in another namespace (a source,
                                 a chart, a provider, an event source, a repository) is
                                 refused: Stalled, reason AccessDenied, a Warning event
    --no-remote-bases            kustomize may not fetch bases from outside the source
    --default-service-account    an object that names no service account acts as this
                                 one of its own namespace, so RBAC decides what it may do
    --default-kubeconfig-service-account
                                 a workload identity ConfigMap (`kubeConfig.configMapRef`)
                                 that names no service account sends a token of this one
                                 of the object's namespace, never the engine's own (after
                                 --default-service-account, which serves for both)

    lockdown.check_ref(own_namespace, kind, namespace, name)   raises StalledError
    lockdown.user(namespace, named) -> str | None              the user to act as
    lockdown.client(client, namespace, named) -> KubeClient    impersonating it

What is refused with and without lockdown is listed in docs/security.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from kidp_gitops.kube.client import KubeClient, service_account_user
from kidp_gitops.runtime.reconcile import StalledError

ACCESS_DENIED = "AccessDenied"


class AccessDenied(StalledError):
    """A reference the lockdown does not allow; retrying cannot help."""

    def __init__(self, message: str) -> None:
        super().__init__(ACCESS_DENIED, message)


@dataclass(frozen=True)
class Lockdown:
    """The multi-tenancy flags of Flux's controllers (all off: Flux's defaults)."""

    no_cross_namespace_refs: bool = False
    no_remote_bases: bool = False
    default_service_account: str | None = None
    default_kubeconfig_service_account: str | None = None

    def kubeconfig_account(self, named: str | None, acting: str | None) -> str | None:
        """The service account whose token a workload identity ConfigMap sends (of the
        object's namespace): the ConfigMap's `named` one, else
        --default-kubeconfig-service-account (Flux's order), else the account the object
        acts as (`acting`, its spec.serviceAccountName, else --default-service-account).
        None, the engine's own, only for an object that acts as the engine: Flux lends
        its controller's identity there too, but an object held to a tenant's account
        must not send the engine's token to an address the tenant chose."""
        return (
            named
            or self.default_kubeconfig_service_account
            or acting
            or self.default_service_account
        )

    def check_ref(self, own_namespace: str, kind: str, namespace: str, name: str) -> None:
        """Refuse `kind/namespace/name` from an object in `own_namespace` under lockdown
        (an empty namespace means the object's own)."""
        if self.no_cross_namespace_refs and namespace and namespace != own_namespace:
            raise AccessDenied(
                f"can't access '{kind}/{namespace}/{name}', "
                "cross-namespace references have been blocked"
            )

    def user(self, namespace: str, named: str | None) -> str | None:
        """The user an object in `namespace` acts as: its own service account, else the
        default one; None (the engine itself) when there is neither."""
        account = named or self.default_service_account
        return service_account_user(namespace, account) if account else None

    def client(self, client: KubeClient, namespace: str, named: str | None) -> KubeClient:
        """`client` acting as the object's service account (itself when there is none)."""
        user = self.user(namespace, named)
        return client.impersonate(user) if user else client
