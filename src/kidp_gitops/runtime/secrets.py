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
import ssl
from typing import Literal

from kidp_gitops.api import meta
from kidp_gitops.kube.client import KubeClient
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.runtime import conditions, credentials, registryauth
from kidp_gitops.runtime.reconcile import ReconcileError, RetryError, StalledError

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


async def registry_credentials(
    client: KubeClient,
    namespace: str,
    host: str,
    secret_ref: str | None,
    service_account: str | None,
) -> registryauth.Credentials | None:
    """The credentials for registry `host` that an object names, as Flux's source and image
    controllers look for them: its `spec.secretRef` (a pull Secret), then the
    imagePullSecrets of its `spec.serviceAccountName`; the first Secret with an entry for
    the host wins, None when none has one (anonymous)."""
    names: list[tuple[str, str]] = []
    if secret_ref:
        names.append((secret_ref, "spec.secretRef"))
    if service_account:
        for name in await _pull_secrets(client, namespace, service_account):
            names.append((name, f"imagePullSecret of '{service_account}'"))
    for name, field in names:
        where = f"{namespace}/{name}"
        found = await data(client, namespace, name, f"{field} secret '{where}' not found")
        try:
            creds = registryauth.from_pull_secret(found, host, where)
        except registryauth.AuthError as err:
            raise StalledError(conditions.AUTHENTICATION_FAILED, f"{field}: {err}") from err
        if creds is not None:
            return creds
    return None


async def _pull_secrets(client: KubeClient, namespace: str, account: str) -> list[str]:
    try:
        sa = await client.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}")
    except ApiError as err:
        if not err.not_found:
            raise
        raise ReconcileError(
            conditions.AUTHENTICATION_FAILED,
            f"spec.serviceAccountName '{namespace}/{account}' not found",
        ) from err
    return [
        str(s["name"])
        for s in sa.get("imagePullSecrets") or []
        if isinstance(s, dict) and s.get("name")
    ]


async def cert_tls(
    client: KubeClient, namespace: str, ref: meta.LocalObjectReference | None
) -> ssl.SSLContext | None:
    """The TLS of `spec.certSecretRef` (`ref`): `ca.crt` added to the system's
    roots, as Flux's OCI, bucket and image clients do, and a client certificate if the
    Secret holds one; None without a Secret. A Secret that is not usable is Stalled."""
    if ref is None:
        return None
    where = f"{namespace}/{ref.name}"
    found = await data(
        client, namespace, ref.name, f"spec.certSecretRef secret '{where}' not found"
    )
    try:
        return credentials.from_secret(found, where, system_roots=True)
    except credentials.CredentialsError as err:
        raise StalledError("InvalidSpec", f"spec.certSecretRef: {err}") from err
