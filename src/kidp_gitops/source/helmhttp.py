"""Talking to an HTTP(S) Helm chart repository: its credentials and its downloads.

    auth = await load_auth(client, namespace, spec)     # from secretRef / certSecretRef
    data = await download(url, auth, timeout=60, limit=MAX_CHART_SIZE)

Credentials come from the HelmRepository's `secretRef` (username, password; the TLS keys
too, as Flux still accepts them there) and `certSecretRef` (tls.crt, tls.key, ca.crt, or
Flux's older certFile, keyFile, caFile), read by `runtime/credentials.py`.
`download` raises `FetchError`, whose `auth` flag says the server refused the credentials
(401/403) and whose message names the URL without any password. Bodies larger than
`limit` are refused while they stream, so a runaway server cannot fill the memory.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import aiohttp

from kidp_gitops.api import meta
from kidp_gitops.api import source as api
from kidp_gitops.kube.client import KubeClient
from kidp_gitops.runtime import conditions, credentials, outbound, secrets
from kidp_gitops.runtime.reconcile import ReconcileError
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

    basic: credentials.BasicAuth | None = None
    tls: ssl.SSLContext | None = None
    """None: the system's roots and no client certificate."""
    pass_credentials: bool = False

    def headers(self) -> dict[str, str]:
        """The Authorization header of the basic credentials, if any."""
        return {"Authorization": self.basic.header()} if self.basic is not None else {}


async def load_auth(client: KubeClient, namespace: str, spec: api.HelmRepositorySpec) -> RepoAuth:
    """The credentials the repository's secrets hold (an empty RepoAuth when none).

    As Flux: `certSecretRef` must hold a CA or a client certificate and, when set, is the
    only source of TLS; without it, TLS keys in `secretRef` (Flux's older way) are used.
    `ca.crt` adds to the system's roots (Flux's `WithSystemCertPool` for this kind)."""
    basic = await _secret(client, namespace, spec.secret_ref)
    try:
        tls = None
        if spec.cert_secret_ref is not None:
            where = f"{namespace}/{spec.cert_secret_ref.name}"
            data = await _secret(client, namespace, spec.cert_secret_ref)
            tls = credentials.from_secret(data, where, system_roots=True)
        where = f"{namespace}/{spec.secret_ref.name if spec.secret_ref else ''}"
        if tls is None and basic:
            tls = credentials.from_secret(basic, where, system_roots=True, required=False)
        return RepoAuth(
            basic=credentials.basic_auth(basic, where),
            tls=tls,
            pass_credentials=spec.pass_credentials,
        )
    except credentials.CredentialsError as err:
        raise ReconcileError(conditions.AUTHENTICATION_FAILED, str(err)) from err


async def _secret(
    client: KubeClient, namespace: str, ref: meta.LocalObjectReference | None
) -> dict[str, bytes]:
    if ref is None:
        return {}
    return await secrets.data(
        client, namespace, ref.name, f"secret '{namespace}/{ref.name}' not found"
    )


async def download(
    url: str,
    auth: RepoAuth,
    *,
    timeout: float,
    limit: int,
    send_credentials: bool = True,
    http: outbound.Outbound | None = None,
) -> bytes:
    """GET `url` with the repository's credentials (basic auth only when
    `send_credentials`), returning at most `limit` bytes of body; through `http`, the
    engine's outbound HTTP when None."""
    shown = display_url(url)
    headers = auth.headers() if send_credentials else {}
    http = http or outbound.current()
    try:
        async with http.request("GET", url, headers=headers, tls=auth.tls, timeout=timeout) as resp:
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
            return await outbound.read(resp, limit)
    except outbound.TooLarge as err:
        raise FetchError(f"GET {shown}: {err}") from err
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
