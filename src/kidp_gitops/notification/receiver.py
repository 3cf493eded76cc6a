"""The Receiver reconciler: compute the webhook path from the Secret's token, say Ready.

The path is `/hook/` and the hex SHA-256 of token + name + namespace, as Flux computes
it, so a path cannot be guessed without the token and changes when the token does. The
Secret is read again every `interval` (as Flux does) and whenever the Receiver changes.
Under the lockdown a resource in another namespace is refused (Stalled, AccessDenied);
the webhook server refuses it too, call by call (server.py).
"""

from __future__ import annotations

import hashlib

from pydantic import ValidationError

from kidp_gitops.api import notification as api
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.notification import secrets
from kidp_gitops.runtime import conditions, failures
from kidp_gitops.runtime.context import Context
from kidp_gitops.runtime.lifecycle import TypedReconciler
from kidp_gitops.runtime.reconcile import ReconcileError, Result, StalledError
from kidp_gitops.runtime.tenancy import Lockdown

KIND = "Receiver"
INVALID_SPEC = "InvalidSpec"
SECRET_NOT_FOUND = "SecretNotFound"
TOKEN_NOT_FOUND = "TokenNotFound"
SECRET_RETRY_SECONDS = 30.0
"""Someone may create the Secret, or its token, any moment."""

ERRORS: failures.Table[api.ReceiverSpec] = failures.Table(
    failures.wait(secrets.SecretProblem, after=SECRET_RETRY_SECONDS, reason=SECRET_NOT_FOUND),
    failures.wait(TOKEN_NOT_FOUND, after=SECRET_RETRY_SECONDS),
)


def webhook_path(token: str, name: str, namespace: str) -> str:
    return "/hook/" + hashlib.sha256(f"{token}{name}{namespace}".encode()).hexdigest()


def spec_of(obj: JSON) -> api.ReceiverSpec:
    """The spec of a Receiver read from the cache (the webhook server's)."""
    try:
        return api.ReceiverSpec.model_validate(obj.get("spec") or {})
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise StalledError(INVALID_SPEC, f"invalid spec: {problems}") from err


async def token_of(client: KubeClient, namespace: str, spec: api.ReceiverSpec) -> str:
    """The webhook token of the Receiver's Secret (raises `secrets.SecretProblem`, or
    TokenNotFound)."""
    data = await secrets.secret_data(client, namespace, spec.secret_ref.name)
    token = data.get("token")
    if not token:
        raise ReconcileError(
            TOKEN_NOT_FOUND, f"secret '{namespace}/{spec.secret_ref.name}' has no 'token' key"
        )
    return token


def check_resource(
    lockdown: Lockdown, namespace: str, ref: api.CrossNamespaceObjectReference
) -> None:
    """Refuse (AccessDenied) a resource outside the Receiver's namespace under lockdown."""
    lockdown.check_ref(namespace, ref.kind, ref.namespace or "", ref.name)


class ReceiverReconciler(TypedReconciler[api.Receiver, api.ReceiverStatus]):
    kind = KIND
    model = api.Receiver
    status_model = api.ReceiverStatus
    errors = ERRORS

    def __init__(self, ctx: Context, resource: Resource, receivers: Informer):
        super().__init__(ctx.client, resource, ctx.events, receivers)
        self.lockdown = ctx.lockdown

    async def run(self, obj: api.Receiver, status: api.ReceiverStatus) -> Result:
        spec = obj.spec
        for ref in spec.resources:
            check_resource(self.lockdown, obj.namespace, ref)
        token = await token_of(self.client, obj.namespace, spec)
        path = webhook_path(token, obj.name, obj.namespace)
        status.webhook_path = path
        conditions.mark_ready(
            status, conditions.SUCCEEDED, f"Receiver initialized for path: {path}", obj.generation
        )
        return Result(requeue_after=spec.interval.seconds)
