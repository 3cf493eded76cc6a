"""Answering a registry's 401: the credentials of a repository, read from a Docker config
(`.dockerconfigjson`), and the challenge flow of the distribution spec.

A 401 names the scheme in `WWW-Authenticate`: Basic is answered with the credentials;
Bearer (Docker Hub, GHCR, most registries) asks the token service named by `realm`, with
the credentials if any, for a token of the `scope` (`repository:<path>:pull`, or
`pull,push` to write) and sends it. The header that worked is kept for the rest of the
session. No message holds a credential.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import ssl
from dataclasses import dataclass, field

from kidp_gitops.oci.errors import AuthError
from kidp_gitops.oci.reference import DOCKER_HUB, DOCKER_HUB_API, Repository
from kidp_gitops.runtime import credentials, outbound


@dataclass(frozen=True)
class Credentials:
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __bool__(self) -> bool:
        return bool(self.username or self.password)

    def secrets(self) -> list[str]:
        return [self.password] if self.password else []


def from_dockerconfig(config: bytes, host: str) -> Credentials | None:
    """The credentials a `.dockerconfigjson` holds for `host`, if any."""
    try:
        auths = json.loads(config).get("auths") or {}
    except (ValueError, AttributeError):
        raise AuthError("the secret's .dockerconfigjson is not valid JSON") from None
    wanted = {host, f"https://{host}", f"http://{host}"}
    if host == DOCKER_HUB:
        wanted |= {"index.docker.io", "https://index.docker.io/v1/", DOCKER_HUB_API}
    for key, entry in auths.items() if isinstance(auths, dict) else ():
        if key.rstrip("/") not in wanted and key not in wanted:
            continue
        if not isinstance(entry, dict):
            continue
        username, password = entry.get("username"), entry.get("password")
        if entry.get("auth") and not (username and password):
            try:
                decoded = base64.b64decode(entry["auth"]).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                raise AuthError(f"the 'auth' entry for {host} is not base64") from None
            username, _, password = decoded.partition(":")
        return Credentials(username or None, password or None)
    return None


def dockerconfig(host: str, creds: Credentials) -> bytes:
    """A `.dockerconfigjson` holding `creds` for `host` (what `kidp create secret oci` and
    the tests write)."""
    auth = base64.b64encode(f"{creds.username or ''}:{creds.password or ''}".encode()).decode()
    entry = {"username": creds.username or "", "password": creds.password or "", "auth": auth}
    return json.dumps({"auths": {host: entry}}).encode()


class Authorizer:
    """The Authorization header of one repository, got by answering challenges."""

    def __init__(
        self,
        http: outbound.Outbound,
        repository: Repository,
        creds: Credentials | None,
        tls: ssl.SSLContext | None,
        timeout: float,
    ):
        self.http, self.repository = http, repository
        self.creds = creds or Credentials()
        self.tls, self.timeout = tls, timeout
        self.header: str | None = None

    def denied(self, status: int, action: str) -> AuthError:
        who = f"as '{self.creds.username}'" if self.creds.username else "without credentials"
        return AuthError(
            f"the registry {self.repository.host} refused to {action} {self.repository.canonical}"
            f" {who} (HTTP {status})"
        )

    async def answer(self, challenge: str, *, push: bool, action: str) -> None:
        """Set `header` from the challenge of a 401 (raises AuthError when it cannot)."""
        scheme, _, params_text = challenge.strip().partition(" ")
        if not scheme:
            raise self.denied(401, action)  # a 401 that names no way to log in
        if scheme.lower() == "basic":
            if not self.creds:
                raise self.denied(401, action)
            self.header = self._basic()
            return
        if scheme.lower() != "bearer":
            raise AuthError(
                f"the registry {self.repository.host} asks for an unsupported auth scheme"
                f" '{scheme}'"
            )
        params = dict(re.findall(r'(\w+)="([^"]*)"', params_text))
        realm = params.get("realm")
        if not realm:
            raise AuthError(f"the registry {self.repository.host} names no token realm")
        actions = "pull,push" if push else "pull"
        query = {"scope": f"repository:{self.repository.path}:{actions}"}
        if "service" in params:
            query["service"] = params["service"]
        headers = {"Authorization": self._basic()} if self.creds else {}
        async with self.http.request(
            "GET", realm, params=query, headers=headers, tls=self.tls, timeout=self.timeout
        ) as resp:
            if resp.status in (401, 403):
                raise self.denied(resp.status, action)
            if resp.status != 200:
                raise AuthError(
                    f"the token service of {self.repository.host} answered HTTP {resp.status}"
                )
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = {}
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError(f"the token service of {self.repository.host} sent no token")
        self.header = credentials.bearer_header(token)

    def _basic(self) -> str:
        return credentials.basic_header(self.creds.username or "", self.creds.password or "")
