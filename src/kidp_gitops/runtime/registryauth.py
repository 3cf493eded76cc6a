"""Talking to a container (OCI) registry as someone: the credentials of a pull Secret and
the registry's 401 challenge, answered once for every client of a registry.

Where it fits: the image controllers list tags and read manifest digests
(`image/registry.py`); an OCIRepository pulls manifests and blobs. Both ask a registry
for a repository with the same credentials in the same way, so that way lives here,
below the controllers. Requests go out through `runtime/outbound.py`.

    creds = registryauth.from_pull_secret(data, "ghcr.io", "ns/name")   # None: anonymous
    session = registryauth.Session(http, "ghcr.io", "repository:org/app:pull", creds,
                                   tls=context, timeout=60)
    async with session.request("GET", url, headers={"Accept": ...}) as resp:
        ...  # a 401 or 403 here: the registry refused these credentials

The flow (Docker's token authentication, which the OCI distribution spec defers to):

- a request goes with the `Authorization` the registry last accepted (none at first);
- a 401 names a scheme in `WWW-Authenticate`. `Basic`: the request again with the
  credentials (none: refused). `Bearer realm="…",service="…",scope="…"`: a GET of the
  realm with `service` and `scope` (the challenge's, else the session's), with the
  credentials as basic auth when there are any, for a `token` (or `access_token`);
  the request again with it. One challenge per request: a second 401 is the answer;
- the token is kept for the session's later requests (the pages of a listing, the
  blobs of a pull) and earned again when the registry challenges once more.

Errors are `AuthError`, whose message names the registry and never a credential; its
`status` is set (401, 403) when the registry or its token service refused the
credentials, so the caller can say so in its own words. A token service's answer is
read up to `MAX_TOKEN_RESPONSE` bytes: it is the registry's to choose, so hostile.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from kidp_gitops.runtime import credentials, outbound

DOCKER_HUB = "docker.io"
"""Docker Hub's canonical name; its pull secrets may name it by any of `_HUB_KEYS`."""
_HUB_KEYS = {"index.docker.io", "https://index.docker.io/v1/", "registry-1.docker.io"}
MAX_TOKEN_RESPONSE = 1 << 20
"""Bytes of a token service's answer (a token is a few kilobytes)."""


class AuthError(Exception):
    """The registry's challenge could not be answered; `status` is the HTTP status when
    the registry or its token service refused the credentials."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Credentials:
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __bool__(self) -> bool:
        return bool(self.username or self.password)

    def secrets(self) -> list[str]:
        """What must never appear in a message."""
        return [self.password] if self.password else []


def from_pull_secret(data: Mapping[str, bytes], host: str, where: str) -> Credentials | None:
    """The credentials image pull Secret `where` (type `kubernetes.io/dockerconfigjson`,
    or the older `kubernetes.io/dockercfg`; its decoded data) holds for `host`; None when
    it names no such host."""
    if ".dockerconfigjson" in data:
        entries = _json(data[".dockerconfigjson"], ".dockerconfigjson", where).get("auths")
    elif ".dockercfg" in data:
        entries = _json(data[".dockercfg"], ".dockercfg", where)  # hosts at the top level
    else:
        raise AuthError(
            f"secret '{where}' has no .dockerconfigjson (create it with type"
            " kubernetes.io/dockerconfigjson)"
        )
    if not isinstance(entries, dict):
        raise AuthError(f"secret '{where}': the registries it names are not a JSON object")
    wanted = {host, f"https://{host}", f"http://{host}"}
    if host == DOCKER_HUB:
        wanted |= _HUB_KEYS
    for key, entry in entries.items():
        if key.rstrip("/") not in wanted and key not in wanted:
            continue
        if not isinstance(entry, dict):
            continue
        username, password = entry.get("username"), entry.get("password")
        if entry.get("auth") and not (username and password):
            try:
                decoded = base64.b64decode(entry["auth"], validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError, TypeError):
                raise AuthError(
                    f"secret '{where}': the 'auth' of {key} is not base64 of user:password"
                ) from None
            username, _, password = decoded.partition(":")
        return Credentials(username or None, password or None)
    return None


def origin_of(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of `url`, as browsers compare origins (default ports filled)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _json(raw: bytes, key: str, where: str) -> dict[str, Any]:
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise AuthError(f"secret '{where}': its {key} is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise AuthError(f"secret '{where}': its {key} is not a JSON object")
    return parsed


class Session:
    """Requests to one registry (`host`, as shown in messages; `origin`, its
    `scheme://host[:port]`) for one `scope` (Docker's `repository:<path>:pull`) as one
    identity, with the repository's TLS and timeout. The `Authorization` goes only to
    `origin`; the credentials also to the token service the registry names, over https
    (or plain http when the registry itself is plain http)."""

    def __init__(
        self,
        http: outbound.Outbound,
        host: str,
        scope: str,
        creds: Credentials | None = None,
        *,
        origin: str,
        tls: ssl.SSLContext | None = None,
        timeout: float,
    ):
        self.http, self.host, self.scope = http, host, scope
        self.origin = origin_of(origin)
        self.creds = creds or Credentials()
        self.tls, self.timeout = tls, timeout
        self.authorization: str | None = None
        """The `Authorization` the registry last accepted."""

    @contextlib.asynccontextmanager
    async def request(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None, **kwargs: Any
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The registry's answer to `method url`, after answering at most one challenge.
        Other arguments go to `Outbound.request` (params, data)."""
        if origin_of(url) != self.origin:
            # Another host (a registry's blob store): neither its challenge nor our token.
            async with self._send(method, url, headers=dict(headers or {}), **kwargs) as resp:
                yield resp
                return
        challenge = ""
        for attempt in range(2):
            sent = dict(headers or {})
            if self.authorization:
                sent["Authorization"] = self.authorization
            async with self._send(method, url, headers=sent, **kwargs) as resp:
                if resp.status != 401 or attempt == 1:
                    yield resp
                    return
                challenge = resp.headers.get("WWW-Authenticate", "")
            self.authorization = await self._answer(challenge)

    def _send(
        self, method: str, url: str, **kwargs: Any
    ) -> contextlib.AbstractAsyncContextManager[aiohttp.ClientResponse]:
        return self.http.request(method, url, tls=self.tls, timeout=self.timeout, **kwargs)

    async def _answer(self, challenge: str) -> str:
        """The `Authorization` that answers the registry's challenge."""
        scheme, _, text = challenge.strip().partition(" ")
        basic = credentials.basic_header(self.creds.username or "", self.creds.password or "")
        if scheme.lower() == "basic":
            if not self.creds:
                raise AuthError(f"the registry {self.host} asks for credentials", status=401)
            return basic
        if scheme.lower() != "bearer":
            raise AuthError(f"the registry {self.host} asks for an unsupported scheme '{scheme}'")
        params = dict(re.findall(r'(\w+)="([^"]*)"', text))
        realm = params.get("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise AuthError(f"the registry {self.host} names no token service (realm)")
        if self.creds and realm.startswith("http://") and self.origin[0] == "https":
            # The registry is https: plain http would show the password to the network.
            raise AuthError(
                f"the registry {self.host} names a token service over plain http;"
                " refusing to send it credentials"
            )
        query = {k: params[k] for k in ("service", "scope") if k in params}
        query.setdefault("scope", self.scope)
        headers = {"Authorization": basic} if self.creds else {}
        async with self._send("GET", realm, params=query, headers=headers) as resp:
            if resp.status in (401, 403):
                raise AuthError(
                    f"the token service of {self.host} refused the credentials", resp.status
                )
            if resp.status != 200:
                raise AuthError(f"the token service of {self.host} answered HTTP {resp.status}")
            try:
                body = json.loads(await outbound.read(resp, MAX_TOKEN_RESPONSE))
            except outbound.TooLarge as err:
                raise AuthError(f"the token service of {self.host}: {err}") from None
            except ValueError:
                body = None
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError(f"the token service of {self.host} sent no token")
        return credentials.bearer_header(token)
