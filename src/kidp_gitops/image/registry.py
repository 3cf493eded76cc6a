"""The tags of an image repository, read with the Docker Registry HTTP API v2.

    ref = parse_image("ghcr.io/org/app")
    tags = await list_tags(ref, Credentials(...), insecure=False, tls=None, timeout=30)

`GET /v2/<name>/tags/list?n=<page>` follows the `Link: <...>; rel="next"` header page by
page, or, when a full page comes without one, asks for the tags after the last (`last=`).
A 401 names the scheme in `WWW-Authenticate`: Basic retries with the credentials;
Bearer asks the token service named by `realm` (with the credentials, if any) for a
token of the `scope` and retries with it. Errors are `RegistryError`s whose message
never holds a credential, and whose `reason` is a Flux reason.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin

import aiohttp

from kidp_gitops.runtime import credentials, outbound

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
PAGE_SIZE = 1000
MAX_PAGES = 1000

AUTHENTICATION_FAILED = "AuthenticationFailed"
READ_FAILED = "ReadOperationFailed"
INVALID_IMAGE = "ImageURLInvalid"


class RegistryError(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class ImageName:
    """An image repository: `host` as the registry is reached, `path` inside it."""

    host: str
    path: str

    @property
    def canonical(self) -> str:
        return f"{self.host}/{self.path}"

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.host == DOCKER_HUB else self.host


@dataclass(frozen=True)
class Credentials:
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def secrets(self) -> list[str]:
        return [self.password] if self.password else []


_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")


def parse_image(image: str) -> ImageName:
    """The repository an `ImageRepository.spec.image` names (no tag or digest allowed)."""
    text = image.strip()
    if not text or "://" in text or "@" in text:
        raise RegistryError(INVALID_IMAGE, f"'{image}' is not an image name (no scheme, no digest)")
    first, _, rest = text.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    else:
        host, path = DOCKER_HUB, text
    if host in ("index.docker.io", "registry-1.docker.io"):
        host = DOCKER_HUB
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        raise RegistryError(INVALID_IMAGE, f"image '{image}' must not have a tag")
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not all(_COMPONENT.match(part) for part in path.split("/")):
        raise RegistryError(INVALID_IMAGE, f"'{image}' is not a valid image name")
    return ImageName(host, path)


def credentials_from_dockerconfig(config: bytes, host: str) -> Credentials | None:
    """The credentials a `.dockerconfigjson` holds for `host`, if any."""
    try:
        auths = json.loads(config).get("auths") or {}
    except (ValueError, AttributeError):
        raise RegistryError(
            AUTHENTICATION_FAILED, "the secret's .dockerconfigjson is not valid JSON"
        ) from None
    wanted = {host, f"https://{host}", f"http://{host}"}
    if host == DOCKER_HUB:
        wanted |= {"index.docker.io", "https://index.docker.io/v1/", DOCKER_HUB_API}
    for key, entry in auths.items():
        if key.rstrip("/") not in wanted and key not in wanted:
            continue
        if not isinstance(entry, dict):
            continue
        username, password = entry.get("username"), entry.get("password")
        if entry.get("auth") and not (username and password):
            decoded = base64.b64decode(entry["auth"]).decode("utf-8", "replace")
            username, _, password = decoded.partition(":")
        return Credentials(username or None, password or None)
    return None


async def list_tags(
    image: ImageName,
    credentials: Credentials | None,
    *,
    insecure: bool = False,
    tls: ssl.SSLContext | None = None,
    timeout: float = 60.0,
    page_size: int = PAGE_SIZE,
    http: outbound.Outbound | None = None,
) -> list[str]:
    """Every tag of the repository, in the order the registry lists them (through
    `http`, the engine's outbound HTTP when None)."""
    scheme = "http" if insecure else "https"
    base = f"{scheme}://{image.api_host}"
    url: str | None = f"{base}/v2/{image.path}/tags/list?{urlencode({'n': page_size})}"
    creds = credentials or Credentials()
    tags: list[str] = []
    session = _Session(http or outbound.current(), image, creds, tls, timeout)
    try:
        for _ in range(MAX_PAGES):
            if url is None:
                break
            body, link = await session.get(url)
            page = [t for t in body.get("tags") or [] if isinstance(t, str)]
            if page and page[-1] in tags:
                break  # a registry that ignores `last` sends the same page again
            tags.extend(page)
            url = _next_page(base, url, link)
            if url is None and page and len(page) >= page_size:
                # No Link header, but a full page: ask for what follows the last tag,
                # as the distribution spec allows (`last`).
                query = urlencode({"n": page_size, "last": page[-1]})
                url = f"{base}/v2/{image.path}/tags/list?{query}"
    except TimeoutError:
        raise RegistryError(
            READ_FAILED, f"timed out after {timeout:g}s listing the tags of {image.canonical}"
        ) from None
    except aiohttp.ClientError as err:
        message = _scrub(str(err), creds.secrets())
        raise RegistryError(
            READ_FAILED, f"cannot list the tags of {image.canonical}: {message}"
        ) from None
    return tags


MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


async def manifest_digest(
    image: ImageName,
    tag: str,
    credentials: Credentials | None,
    *,
    insecure: bool = False,
    tls: ssl.SSLContext | None = None,
    timeout: float = 60.0,
    http: outbound.Outbound | None = None,
) -> str:
    """The digest of the manifest `tag` names (`HEAD /v2/<name>/manifests/<tag>`)."""
    scheme = "http" if insecure else "https"
    url = f"{scheme}://{image.api_host}/v2/{image.path}/manifests/{tag}"
    creds = credentials or Credentials()
    session = _Session(http or outbound.current(), image, creds, tls, timeout)
    try:
        for attempt in range(2):
            headers = {"Accept": MANIFEST_TYPES}
            if session.authorization:
                headers["Authorization"] = session.authorization
            async with session.request("HEAD", url, headers=headers) as resp:
                if resp.status == 401 and attempt == 0:
                    session.authorization = await session._authorize(
                        resp.headers.get("WWW-Authenticate", "")
                    )
                    continue
                if resp.status in (401, 403):
                    raise RegistryError(AUTHENTICATION_FAILED, session._denied(resp.status))
                digest = resp.headers.get("Docker-Content-Digest")
                if resp.status != 200 or not digest:
                    raise RegistryError(
                        READ_FAILED,
                        f"cannot read the digest of {image.canonical}:{tag}: HTTP {resp.status}",
                    )
                return digest
    except TimeoutError:
        raise RegistryError(
            READ_FAILED, f"timed out after {timeout:g}s reading {image.canonical}:{tag}"
        ) from None
    except aiohttp.ClientError as err:
        message = _scrub(str(err), creds.secrets())
        raise RegistryError(
            READ_FAILED, f"cannot read {image.canonical}:{tag}: {message}"
        ) from None
    raise RegistryError(AUTHENTICATION_FAILED, session._denied(401))


class _Session:
    """One listing or lookup: remembers the Authorization header the registry accepted,
    and sends every request with the repository's TLS and timeout."""

    def __init__(
        self,
        http: outbound.Outbound,
        image: ImageName,
        creds: Credentials,
        tls: ssl.SSLContext | None,
        timeout: float,
    ):
        self.http, self.image, self.creds = http, image, creds
        self.tls, self.timeout = tls, timeout
        self.authorization: str | None = None

    def request(
        self, method: str, url: str, **kwargs: Any
    ) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
        return self.http.request(method, url, tls=self.tls, timeout=self.timeout, **kwargs)

    async def get(self, url: str) -> tuple[dict[str, Any], str | None]:
        for attempt in range(2):
            headers = {"Accept": "application/json"}
            if self.authorization:
                headers["Authorization"] = self.authorization
            async with self.request("GET", url, headers=headers) as resp:
                if resp.status == 401 and attempt == 0:
                    self.authorization = await self._authorize(
                        resp.headers.get("WWW-Authenticate", "")
                    )
                    continue
                if resp.status in (401, 403):
                    raise RegistryError(AUTHENTICATION_FAILED, self._denied(resp.status))
                if resp.status == 404:
                    raise RegistryError(
                        READ_FAILED, f"repository {self.image.canonical} not found (HTTP 404)"
                    )
                if resp.status != 200:
                    raise RegistryError(
                        READ_FAILED,
                        f"listing the tags of {self.image.canonical} failed: HTTP {resp.status}",
                    )
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    raise RegistryError(
                        READ_FAILED, f"{self.image.canonical}: the tag list is not JSON"
                    ) from None
                if not isinstance(body, dict):
                    raise RegistryError(
                        READ_FAILED, f"{self.image.canonical}: the tag list is not an object"
                    )
                return body, resp.headers.get("Link")
        raise RegistryError(AUTHENTICATION_FAILED, self._denied(401))

    def _denied(self, status: int) -> str:
        who = f"as '{self.creds.username}'" if self.creds.username else "without credentials"
        return (
            f"the registry {self.image.host} refused to list {self.image.canonical} {who}"
            f" (HTTP {status}): check the credentials in spec.secretRef"
        )

    def _basic(self) -> str:
        return credentials.basic_header(self.creds.username or "", self.creds.password or "")

    async def _authorize(self, challenge: str) -> str:
        scheme, _, params_text = challenge.strip().partition(" ")
        if scheme.lower() == "basic":
            if not (self.creds.username or self.creds.password):
                raise RegistryError(AUTHENTICATION_FAILED, self._denied(401))
            return self._basic()
        if scheme.lower() != "bearer":
            raise RegistryError(
                AUTHENTICATION_FAILED,
                f"the registry {self.image.host} asks for an unsupported auth scheme '{scheme}'",
            )
        params = dict(re.findall(r'(\w+)="([^"]*)"', params_text))
        realm = params.get("realm")
        if not realm:
            raise RegistryError(
                AUTHENTICATION_FAILED, f"the registry {self.image.host} names no token realm"
            )
        query = {k: params[k] for k in ("service", "scope") if k in params}
        query.setdefault("scope", f"repository:{self.image.path}:pull")
        headers = {}
        if self.creds.username or self.creds.password:
            headers["Authorization"] = self._basic()
        async with self.request("GET", realm, params=query, headers=headers) as resp:
            if resp.status in (401, 403):
                raise RegistryError(AUTHENTICATION_FAILED, self._denied(resp.status))
            if resp.status != 200:
                raise RegistryError(
                    AUTHENTICATION_FAILED,
                    f"the token service of {self.image.host} answered HTTP {resp.status}",
                )
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = {}
        token = (body or {}).get("token") or (body or {}).get("access_token")
        if not isinstance(token, str) or not token:
            raise RegistryError(
                AUTHENTICATION_FAILED, f"the token service of {self.image.host} sent no token"
            )
        return credentials.bearer_header(token)


def _next_page(base: str, current: str, link: str | None) -> str | None:
    if not link:
        return None
    match = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', link)
    if match is None:
        return None
    target = urljoin(base + "/", match.group(1))
    return None if target == current else target


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
