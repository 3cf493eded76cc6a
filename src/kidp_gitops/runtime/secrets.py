"""Reading a Secret a controller's object refers to (Git credentials, registry
credentials, certificates): one GET, its `data` decoded to bytes.

A Secret that does not exist is a `RetryError` with Flux's AuthenticationFailed reason
and another try in 30 seconds, since someone may create it any moment. Errors name the
Secret, never a value.
"""

from __future__ import annotations

import base64

from kidp_gitops.kube.client import KubeClient
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.runtime import conditions
from kidp_gitops.runtime.reconcile import RetryError

MISSING_RETRY_AFTER = 30


async def data(client: KubeClient, namespace: str, name: str, missing: str) -> dict[str, bytes]:
    """The decoded `data` of Secret `namespace/name`; `missing` is the message when it
    is not found."""
    try:
        secret = await client.get(f"/api/v1/namespaces/{namespace}/secrets/{name}")
    except ApiError as err:
        if err.not_found:
            raise RetryError(
                conditions.AUTHENTICATION_FAILED, missing, retry_after=MISSING_RETRY_AFTER
            ) from err
        raise
    return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
