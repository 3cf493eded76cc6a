"""Talking to an HTTP(S) Helm chart repository: its credentials and its downloads.

    auth = await load_auth(client, namespace, spec)     # from secretRef / certSecretRef
    data = await download(url, auth, timeout=60, limit=MAX_CHART_SIZE)

Credentials come from the HelmRepository's `secretRef` (username, password; the TLS keys
too, as Flux still accepts them there) and `certSecretRef` (tls.crt, tls.key, ca.crt).
`download` raises `FetchError`, whose `auth` flag says the server refused the credentials
(401/403) and whose message names the URL without any password. Bodies larger than
`limit` are refused while they stream, so a runaway server cannot fill the memory.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from kidp_gitops.api import meta
from kidp_gitops.api import source as api
from kidp_gitops.kube.client import KubeClient
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.runtime import conditions
from kidp_gitops.runtime.reconcile import ReconcileError, RetryError
from kidp_gitops.source.helmindex import display_url

MAX_CHART_SIZE = 10 * 1024 * 1024
"""The largest chart archive accepted, as Flux's default (--helm-chart-max-size)."""


class FetchError(Exception):
    """A download failed; `str(err)` is a message without credentials."""

    def __init__(self, message: str, *, auth: bool = False, status: int | None = None):
        super().__init__(message)
        self.auth = auth
        self.status = status


@dataclass(frozen=True)
class RepoAuth:
    """What a HelmRepository authenticates with. `repr` never shows the secrets."""

    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    ca_cert: bytes | None = field(default=None, repr=False)
    cert: bytes | None = field(default=None, repr=False)
    key: bytes | None = field(default=None, repr=False)
    pass_credentials: bool = False

    def headers(self) -> dict[str, str]:
        """The Authorization header of the basic credentials, if any."""
        if self.username is None or self.password is None:
            return {}
        return {"Authorization": aiohttp.encode_basic_auth(self.username, self.password)}


async def load_auth(client: KubeClient, namespace: str, spec: api.HelmRepositorySpec) -> RepoAuth:
    """The credentials the repository's secrets hold (an empty RepoAuth when none)."""
    basic = await _secret(client, namespace, spec.secret_ref)
    tls = await _secret(client, namespace, spec.cert_secret_ref)
    username, password = _text(basic, "username"), _text(basic, "password")
    if (username is None) != (password is None):
        name = spec.secret_ref.name if spec.secret_ref else ""
        raise ReconcileError(
            conditions.AUTHENTICATION_FAILED,
            f"secret '{namespace}/{name}' must hold both 'username' and 'password'",
        )
    # certSecretRef wins; secretRef's TLS keys are Flux's older spelling.
    merged = {**{k: v for k, v in basic.items() if k in _TLS_KEYS}, **tls}
    if ("tls.crt" in merged) != ("tls.key" in merged):
        raise ReconcileError(
            conditions.AUTHENTICATION_FAILED,
            "a client certificate needs both 'tls.crt' and 'tls.key' in the secret",
        )
    return RepoAuth(
        username=username,
        password=password,
        ca_cert=merged.get("ca.crt"),
        cert=merged.get("tls.crt"),
        key=merged.get("tls.key"),
        pass_credentials=spec.pass_credentials,
    )


_TLS_KEYS = ("tls.crt", "tls.key", "ca.crt")


async def _secret(
    client: KubeClient, namespace: str, ref: meta.LocalObjectReference | None
) -> dict[str, bytes]:
    if ref is None:
        return {}
    try:
        secret = await client.get(f"/api/v1/namespaces/{namespace}/secrets/{ref.name}")
    except ApiError as err:
        if err.not_found:
            raise RetryError(
                conditions.AUTHENTICATION_FAILED,
                f"secret '{namespace}/{ref.name}' not found",
                retry_after=30,
            ) from err
        raise
    return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}


def _text(data: dict[str, bytes], key: str) -> str | None:
    value = data.get(key)
    return value.decode() if value is not None else None


def ssl_context(auth: RepoAuth) -> ssl.SSLContext | None:
    """A TLS context trusting `ca.crt` (besides the system's roots) and presenting the
    client certificate; None when the defaults do."""
    if auth.ca_cert is None and auth.cert is None:
        return None
    try:
        context = ssl.create_default_context()
        if auth.ca_cert is not None:
            context.load_verify_locations(cadata=auth.ca_cert.decode())
        if auth.cert is not None and auth.key is not None:
            # The ssl module reads a client key only from a file: a private one, gone at once.
            with tempfile.TemporaryDirectory(prefix="kidp-tls-") as tmp:
                cert, key = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
                for path, content in ((cert, auth.cert), (key, auth.key)):
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as f:
                        f.write(content)
                context.load_cert_chain(cert, key)
    except (ssl.SSLError, ValueError, UnicodeDecodeError) as err:
        raise ReconcileError(
            conditions.AUTHENTICATION_FAILED,
            f"the TLS data in the secret is not usable: {type(err).__name__}",
        ) from err
    return context


async def download(
    url: str,
    auth: RepoAuth,
    *,
    timeout: float,
    limit: int,
    send_credentials: bool = True,
) -> bytes:
    """GET `url` with the repository's credentials (basic auth only when
    `send_credentials`), returning at most `limit` bytes of body."""
    shown = display_url(url)
    context = ssl_context(auth)
    headers = auth.headers() if send_credentials else {}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http,
            http.get(url, headers=headers, ssl=context if context is not None else True) as resp,
        ):
            if resp.status in (401, 403):
                hint = (
                    "the server rejected the username/password"
                    if headers
                    else "the server asks for credentials and none were sent"
                )
                raise FetchError(
                    f"GET {shown}: HTTP {resp.status}: {hint}", auth=True, status=resp.status
                )
            if resp.status != 200:
                raise FetchError(f"GET {shown}: HTTP {resp.status}", status=resp.status)
            if resp.content_length is not None and resp.content_length > limit:
                raise FetchError(f"GET {shown}: {resp.content_length} bytes is over {limit}")
            body = bytearray()
            async for chunk in resp.content.iter_chunked(64 * 1024):
                body += chunk
                if len(body) > limit:
                    raise FetchError(f"GET {shown}: the response is larger than {limit} bytes")
            return bytes(body)
    except TimeoutError as err:
        raise FetchError(f"GET {shown}: no complete answer within {timeout:g}s") from err
    except aiohttp.ClientSSLError as err:
        raise FetchError(
            f"GET {shown}: TLS failed ({_reason(err)}); if the server's certificate is"
            " signed by a private authority, put it in the certSecretRef secret as ca.crt"
        ) from err
    except (aiohttp.ClientError, OSError) as err:
        raise FetchError(f"GET {shown}: {_reason(err).replace(url, shown)}") from err


def _reason(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text.replace("\n", " ")
