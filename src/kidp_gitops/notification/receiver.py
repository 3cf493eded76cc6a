"""The Receiver reconciler: compute the webhook path from the Secret's token, say Ready.

The path is `/hook/` and the hex SHA-256 of token + name + namespace, as Flux computes
it, so a path cannot be guessed without the token and changes when the token does. The
Secret is read again every `interval` (as Flux does) and whenever the Receiver changes.
Under the lockdown a resource in another namespace is refused (Stalled, AccessDenied);
the webhook server refuses it too, call by call (server.py).
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import ValidationError

from kidp_gitops.api import notification as api
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.notification import secrets
from kidp_gitops.runtime import conditions
from kidp_gitops.runtime.events import EventRecorder
from kidp_gitops.runtime.lifecycle import ObjectReconciler
from kidp_gitops.runtime.reconcile import Result, StalledError, WaitingError
from kidp_gitops.runtime.tenancy import Lockdown

KIND = "Receiver"
INVALID_SPEC = "InvalidSpec"
SECRET_NOT_FOUND = "SecretNotFound"
TOKEN_NOT_FOUND = "TokenNotFound"
UNSUPPORTED = ("gcr",)  # needs Google's OIDC token verification
SECRET_RETRY_SECONDS = 30.0


def webhook_path(token: str, name: str, namespace: str) -> str:
    return "/hook/" + hashlib.sha256(f"{token}{name}{namespace}".encode()).hexdigest()


def spec_of(obj: JSON) -> api.ReceiverSpec:
    try:
        return api.ReceiverSpec.model_validate(obj.get("spec") or {})
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise StalledError(INVALID_SPEC, f"invalid spec: {problems}") from err


async def token_of(reconciler: ObjectReconciler, namespace: str, spec: api.ReceiverSpec) -> str:
    try:
        data = await secrets.secret_data(reconciler.client, namespace, spec.secret_ref.name)
    except secrets.SecretProblem as err:
        raise WaitingError(SECRET_NOT_FOUND, str(err), SECRET_RETRY_SECONDS) from err
    token = data.get("token")
    if not token:
        raise WaitingError(
            TOKEN_NOT_FOUND,
            f"secret '{namespace}/{spec.secret_ref.name}' has no 'token' key",
            SECRET_RETRY_SECONDS,
        )
    return token


def check_resource(
    lockdown: Lockdown, namespace: str, ref: api.CrossNamespaceObjectReference
) -> None:
    """Refuse (AccessDenied) a resource outside the Receiver's namespace under lockdown."""
    lockdown.check_ref(namespace, ref.kind, ref.namespace or "", ref.name)


class ReceiverReconciler(ObjectReconciler):
    kind = KIND

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        events: EventRecorder,
        lockdown: Lockdown | None = None,
    ):
        super().__init__(client, resource, events)
        self.lockdown = lockdown or Lockdown()

    async def run(self, obj: JSON, status: dict[str, Any]) -> Result:
        meta = obj["metadata"]
        generation = meta.get("generation", 0)
        spec = spec_of(obj)
        if spec.type in UNSUPPORTED:
            raise StalledError(INVALID_SPEC, f"receiver type '{spec.type}' is not supported")
        for ref in spec.resources:
            check_resource(self.lockdown, meta["namespace"], ref)
        token = await token_of(self, meta["namespace"], spec)
        path = webhook_path(token, meta["name"], meta["namespace"])
        status["webhookPath"] = path
        conditions.mark_ready(
            status, conditions.SUCCEEDED, f"Receiver initialized for path: {path}", generation
        )
        return Result(requeue_after=spec.interval.seconds)
