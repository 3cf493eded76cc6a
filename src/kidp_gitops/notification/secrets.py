"""Reading a Secret's keys, and turning a Provider's references into a `Destination`.

Errors name the Secret and the key, never a value.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from urllib.parse import quote, urlsplit, urlunsplit

import yaml

from kidp_gitops.api import notification as api
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.notification.providers import Destination


class SecretProblem(Exception):
    """A referenced Secret is missing or unusable; the message is safe to show."""


async def secret_data(client: KubeClient, namespace: str, name: str) -> dict[str, str]:
    try:
        secret = await client.get(f"/api/v1/namespaces/{namespace}/secrets/{name}")
    except ApiError as err:
        if err.not_found:
            raise SecretProblem(f"secret '{namespace}/{name}' not found") from None
        raise SecretProblem(f"cannot read secret '{namespace}/{name}': {err.reason}") from None
    data: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            data[key] = base64.b64decode(value).decode()
        except (ValueError, UnicodeDecodeError):
            raise SecretProblem(f"secret '{namespace}/{name}' key '{key}' is not text") from None
    for key, value in (secret.get("stringData") or {}).items():
        data.setdefault(key, str(value))
    return data


async def destination(client: KubeClient, provider: JSON) -> Destination:
    """Where the Provider sends to, with its credentials resolved (raises SecretProblem
    or ValidationError for a malformed spec)."""
    spec = api.ProviderSpec.model_validate(provider.get("spec") or {})
    namespace = provider["metadata"]["namespace"]
    address = spec.address or ""
    token: str | None = None
    headers: dict[str, str] = {}
    proxy = spec.proxy
    if spec.secret_ref is not None:
        data = await secret_data(client, namespace, spec.secret_ref.name)
        address = data.get("address", address).strip()
        token = data.get("token")
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
        username=spec.username,
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


def _tls(data: dict[str, str], where: str) -> ssl.SSLContext:
    ca = data.get("ca.crt") or data.get("caFile")
    try:
        context = ssl.create_default_context(cadata=ca) if ca else ssl.create_default_context()
        cert, key = data.get("tls.crt"), data.get("tls.key")
        if cert and key:
            # The ssl module loads client certificates from files only.
            with tempfile.TemporaryDirectory() as tmp:
                cert_path, key_path = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
                for path, text in ((cert_path, cert), (key_path, key)):
                    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                        f.write(text)
                context.load_cert_chain(cert_path, key_path)
    except (ssl.SSLError, ValueError) as err:
        raise SecretProblem(f"secret '{where}' holds no usable certificate: {err}") from None
    return context
