"""Reading a Secret's keys, and turning a Provider's references into a `Destination`.

Errors name the Secret and the key, never a value.
"""

from __future__ import annotations

import ssl
from urllib.parse import quote, urlsplit, urlunsplit

import yaml

from kidp_gitops.api import notification as api
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.notification.providers import Destination
from kidp_gitops.runtime import credentials, secrets


class SecretProblem(Exception):
    """A referenced Secret is missing or unusable; the message is safe to show."""


async def secret_data(client: KubeClient, namespace: str, name: str) -> dict[str, str]:
    try:
        found = await secrets.read(client, namespace, name)
    except ApiError as err:
        raise SecretProblem(f"cannot read secret '{namespace}/{name}': {err.reason}") from None
    if found is None:
        raise SecretProblem(f"secret '{namespace}/{name}' not found")
    data: dict[str, str] = {}
    for key, value in found.items():
        try:
            data[key] = value.decode()
        except UnicodeDecodeError:
            raise SecretProblem(f"secret '{namespace}/{name}' key '{key}' is not text") from None
    return data


async def destination(client: KubeClient, provider: JSON) -> Destination:
    """Where the Provider sends to, with its credentials resolved (raises SecretProblem
    or ValidationError for a malformed spec)."""
    spec = api.ProviderSpec.model_validate(provider.get("spec") or {})
    namespace = provider["metadata"]["namespace"]
    address = spec.address or ""
    token: str | None = None
    username, password = spec.username, None
    headers: dict[str, str] = {}
    proxy = spec.proxy
    if spec.secret_ref is not None:
        data = await secret_data(client, namespace, spec.secret_ref.name)
        address = data.get("address", address).strip()
        token = data.get("token")
        # As Flux: the Secret's `username` overrides spec.username; `password` goes
        # with it as basic authentication where the type takes it (alertmanager).
        username = data.get("username", username)
        password = data.get("password")
        proxy = data.get("proxy", proxy)
        if "headers" in data:
            headers = _headers(namespace, spec.secret_ref.name, data["headers"])
    if spec.proxy_secret_ref is not None:
        proxy = _proxy(
            await secret_data(client, namespace, spec.proxy_secret_ref.name),
            f"{namespace}/{spec.proxy_secret_ref.name}",
        )
    context = None
    if spec.cert_secret_ref is not None:
        data = await secret_data(client, namespace, spec.cert_secret_ref.name)
        context = _tls(data, f"{namespace}/{spec.cert_secret_ref.name}")
    return Destination(
        type=spec.type,
        address=address,
        token=token,
        headers=headers,
        channel=spec.channel,
        username=username,
        password=password,
        proxy=proxy or None,
        ssl_context=context,
        timeout=spec.effective_timeout().seconds,
        provider_uid=str(provider["metadata"].get("uid", "")),
    )


def _headers(namespace: str, name: str, text: str) -> dict[str, str]:
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        parsed = None
    if not isinstance(parsed, dict):
        raise SecretProblem(f"secret '{namespace}/{name}' key 'headers' is not a YAML map")
    return {str(k): str(v) for k, v in parsed.items()}


def _proxy(data: dict[str, str], where: str) -> str:
    address = data.get("address")
    if not address:
        raise SecretProblem(f"secret '{where}' has no 'address' key")
    user, password = data.get("username"), data.get("password")
    if not user:
        return address
    parts = urlsplit(address)
    auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    netloc = f"{auth}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _tls(data: dict[str, str], where: str) -> ssl.SSLContext | None:
    # As Flux's notification-controller: `ca.crt` replaces the system's roots (Flux's
    # default, not `WithSystemCertPool`), and the Secret must hold a CA or a client pair.
    try:
        return credentials.from_secret(data, where, system_roots=False)
    except credentials.CredentialsError as err:
        raise SecretProblem(str(err)) from None
