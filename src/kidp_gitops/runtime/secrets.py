"""Reading a Secret (or a ConfigMap) a controller's object refers to (Git credentials,
registry credentials, certificates, decryption keys, values, variables): one GET, its
data decoded to bytes, in one place.

    found = await secrets.read(client, namespace, name)              # None: not there
    found = await secrets.read(client, namespace, name, "ConfigMap")
    data = await secrets.data(client, namespace, name, missing)      # missing: retried

`read` leaves what a missing object means to its caller (an optional reference, a
build error, a Provider that cannot send). `data` is the credentials' case: a Secret
that does not exist is a `RetryError` with Flux's AuthenticationFailed reason and
another try in 30 seconds, since someone may create it any moment. Errors name the
object, never a value.
"""

from __future__ import annotations

import base64
from typing import Literal

from kidp_gitops.kube.client import KubeClient
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.runtime import conditions
from kidp_gitops.runtime.reconcile import RetryError

MISSING_RETRY_AFTER = 30

Kind = Literal["Secret", "ConfigMap"]


async def read(
    client: KubeClient, namespace: str, name: str, kind: Kind = "Secret"
) -> dict[str, bytes] | None:
    """The data of Secret (or ConfigMap) `namespace/name` as bytes, None when it does not
    exist; other API errors are raised. A Secret's `data` is base64, a ConfigMap's `data`
    text; a ConfigMap's `binaryData` is not read (Flux reads it for neither values nor
    variables)."""
    plural = "secrets" if kind == "Secret" else "configmaps"
    try:
        found = await client.get(f"/api/v1/namespaces/{namespace}/{plural}/{name}")
    except ApiError as err:
        if err.not_found:
            return None
        raise
    if kind == "Secret":
        return {k: base64.b64decode(v) for k, v in (found.get("data") or {}).items()}
    return {k: str(v).encode() for k, v in (found.get("data") or {}).items()}


async def data(client: KubeClient, namespace: str, name: str, missing: str) -> dict[str, bytes]:
    """The decoded `data` of Secret `namespace/name`; `missing` is the message when it
    is not found."""
    found = await read(client, namespace, name)
    if found is None:
        raise RetryError(conditions.AUTHENTICATION_FAILED, missing, retry_after=MISSING_RETRY_AFTER)
    return found
