"""The tags of an image repository, read with the Docker Registry HTTP API v2.

    ref = parse_image("ghcr.io/org/app")
    tags = await list_tags(ref, registryauth.Credentials(...), insecure=False, timeout=30)

`GET /v2/<name>/tags/list?n=<page>` follows the `Link: <...>; rel="next"` header page by
page, or, when a full page comes without one, asks for the tags after the last (`last=`).
The registry's 401 challenge (Basic, or a Bearer token from its token service) is
answered by `runtime/registryauth.py`, which an OCIRepository's pulls share. Errors are
`RegistryError`s whose message never holds a credential, and whose `reason` is a Flux
reason. A page of tags is read up to `MAX_PAGE_BYTES`: the registry is hostile.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin

import aiohttp

from kidp_gitops.runtime import outbound, registryauth

DOCKER_HUB = registryauth.DOCKER_HUB
DOCKER_HUB_API = "registry-1.docker.io"
PAGE_SIZE = 1000
MAX_PAGES = 1000
MAX_PAGE_BYTES = 16 << 20
"""A page of at most `PAGE_SIZE` tags of at most 128 characters each, with room to spare."""

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


async def list_tags(
    image: ImageName,
    credentials: registryauth.Credentials | None,
    *,
    insecure: bool = False,
    tls: ssl.SSLContext | None = None,
    timeout: float = 60.0,
    page_size: int = PAGE_SIZE,
    http: outbound.Outbound | None = None,
) -> list[str]:
    """Every tag of the repository, in the order the registry lists them (through
    `http`, the engine's outbound HTTP when None)."""
    base = f"{_scheme(insecure)}://{image.api_host}"
    url: str | None = f"{base}/v2/{image.path}/tags/list?{urlencode({'n': page_size})}"
    session = _session(image, credentials, tls, timeout, http)
    tags: list[str] = []
    async with _reading(session, image, "list the tags of", image.canonical):
        for _ in range(MAX_PAGES):
            if url is None:
                break
            body, link = await _page(session, image, url)
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
    credentials: registryauth.Credentials | None,
    *,
    insecure: bool = False,
    tls: ssl.SSLContext | None = None,
    timeout: float = 60.0,
    http: outbound.Outbound | None = None,
) -> str:
    """The digest of the manifest `tag` names (`HEAD /v2/<name>/manifests/<tag>`)."""
    url = f"{_scheme(insecure)}://{image.api_host}/v2/{image.path}/manifests/{tag}"
    session = _session(image, credentials, tls, timeout, http)
    shown = f"{image.canonical}:{tag}"
    async with (
        _reading(session, image, "read", shown),
        session.request("HEAD", url, headers={"Accept": MANIFEST_TYPES}) as resp,
    ):
        if resp.status in (401, 403):
            raise RegistryError(AUTHENTICATION_FAILED, _denied(session, image, resp.status))
        digest = resp.headers.get("Docker-Content-Digest")
        if resp.status != 200 or not digest:
            raise RegistryError(
                READ_FAILED, f"cannot read the digest of {shown}: HTTP {resp.status}"
            )
        return digest


def _scheme(insecure: bool) -> str:
    return "http" if insecure else "https"


def _session(
    image: ImageName,
    creds: registryauth.Credentials | None,
    tls: ssl.SSLContext | None,
    timeout: float,
    http: outbound.Outbound | None,
) -> registryauth.Session:
    return registryauth.Session(
        http or outbound.current(),
        image.host,
        f"repository:{image.path}:pull",
        creds,
        tls=tls,
        timeout=timeout,
    )


@asynccontextmanager
async def _reading(
    session: registryauth.Session, image: ImageName, action: str, shown: str
) -> AsyncIterator[None]:
    """The errors of talking to the registry, as `RegistryError`s without credentials."""
    try:
        yield
    except registryauth.AuthError as err:
        message = _denied(session, image, err.status) if err.status else str(err)
        raise RegistryError(AUTHENTICATION_FAILED, message) from None
    except TimeoutError:
        raise RegistryError(
            READ_FAILED, f"timed out after {session.timeout:g}s trying to {action} {shown}"
        ) from None
    except aiohttp.ClientError as err:
        message = _scrub(str(err), session.creds.secrets())
        raise RegistryError(READ_FAILED, f"cannot {action} {shown}: {message}") from None


async def _page(
    session: registryauth.Session, image: ImageName, url: str
) -> tuple[dict[str, Any], str | None]:
    """One page of the tag list, and its `Link` header."""
    async with session.request("GET", url, headers={"Accept": "application/json"}) as resp:
        if resp.status in (401, 403):
            raise RegistryError(AUTHENTICATION_FAILED, _denied(session, image, resp.status))
        if resp.status == 404:
            raise RegistryError(READ_FAILED, f"repository {image.canonical} not found (HTTP 404)")
        if resp.status != 200:
            raise RegistryError(
                READ_FAILED, f"listing the tags of {image.canonical} failed: HTTP {resp.status}"
            )
        try:
            body = json.loads(await outbound.read(resp, MAX_PAGE_BYTES))
        except outbound.TooLarge as err:
            raise RegistryError(READ_FAILED, f"{image.canonical}: a page of tags: {err}") from None
        except ValueError:
            raise RegistryError(
                READ_FAILED, f"{image.canonical}: the tag list is not JSON"
            ) from None
        if not isinstance(body, dict):
            raise RegistryError(READ_FAILED, f"{image.canonical}: the tag list is not an object")
        return body, resp.headers.get("Link")


def _denied(session: registryauth.Session, image: ImageName, status: int) -> str:
    who = f"as '{session.creds.username}'" if session.creds.username else "without credentials"
    return (
        f"the registry {image.host} refused to list {image.canonical} {who}"
        f" (HTTP {status}): check the credentials in spec.secretRef"
    )


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
