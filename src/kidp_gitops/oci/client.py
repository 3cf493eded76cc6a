"""A client of one repository of an OCI registry (the distribution spec's HTTP API v2).

    client = Client(repository, creds, insecure=False, tls=None, timeout=60)
    tags = await client.tags()                       # every tag, page by page
    digest = await client.resolve("v1.2.3")          # tag → manifest digest
    manifest = await client.manifest(digest)         # bounded, digest verified
    await client.blob_to_file(layer_digest, path, limit=...)   # streamed to disk
    await client.push_blob(data); await client.push_manifest("v1.2.3", body, media_type)

The registry's 401 challenge (Basic, or a Bearer token from its token service) is
answered by `runtime/registryauth.py`, which the image controllers share: one session for
reading (`pull` scope) and one for writing (`pull,push`). Registry content is hostile: a
manifest is read up to `MAX_MANIFEST_SIZE`, a tag page up to `MAX_TAG_PAGE_SIZE` (the whole
list up to `MAX_TAGS` and `MAX_TAG_BYTES`, only what is a tag by the grammar), a blob up
to the caller's limit, and everything fetched by digest is hashed and compared before it is
used. Blob bytes reach the disk in a worker thread, in batches, so a large layer never
holds the event loop that every controller shares. Errors are `OCIError`s (see
`oci/__init__.py`) whose messages name the registry and never a credential.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode, urljoin

import aiohttp

from kidp_gitops.oci.errors import AuthError, NotFound, OCIError
from kidp_gitops.oci.reference import DIGEST, Repository, is_tag
from kidp_gitops.runtime import outbound, registryauth
from kidp_gitops.runtime.registryauth import Credentials

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
MAX_MANIFEST_SIZE = 4 << 20
"""The distribution spec lets registries refuse manifests over 4 MiB; so do we, on read."""
MAX_TAG_PAGE_SIZE = 16 << 20
"""A page of at most `PAGE_SIZE` tags of at most 128 characters each, with room to spare."""
PAGE_SIZE = 1000
MAX_PAGES = 1000
MAX_TAGS = 100_000
"""Tags of one repository, over all pages: more is a registry feeding us without end."""
MAX_TAG_BYTES = 32 << 20
"""Bytes of the tag list over all pages."""
_WRITE_BATCH = 1 << 20
_INLINE = 64 << 10
"""Bodies up to this size are hashed and parsed on the event loop (a thread costs more)."""


@dataclass(frozen=True)
class Manifest:
    """A manifest as served: its bytes, their media type and digest, and the JSON."""

    data: bytes
    media_type: str
    digest: str
    body: dict[str, Any]


class Client:
    """One repository; remembers the Authorization header the registry accepted."""

    def __init__(
        self,
        repository: Repository,
        creds: Credentials | None = None,
        *,
        insecure: bool = False,
        tls: ssl.SSLContext | None = None,
        timeout: float = 60.0,
        http: outbound.Outbound | None = None,
    ):
        self.repository = repository
        self.http = http or outbound.current()
        self.tls, self.timeout = tls, timeout
        self.creds = creds or Credentials()
        self.base = (
            f"{'http' if insecure else 'https'}://{repository.api_host}/v2/{repository.path}"
        )
        scope = f"repository:{repository.path}"
        self._sessions = {
            push: registryauth.Session(
                self.http,
                repository.host,
                f"{scope}:pull,push" if push else f"{scope}:pull",
                creds,
                origin=self.base,
                tls=tls,
                timeout=timeout,
            )
            for push in (False, True)
        }

    # ---- reading ------------------------------------------------------------------------

    async def tags(self, page_size: int = PAGE_SIZE) -> list[str]:
        """Every tag, in the registry's order: the `Link` header page by page, or, when a
        full page comes without one, the tags after the last (`last=`), as the spec allows.
        At most MAX_TAGS tags in MAX_TAG_BYTES over all pages; what is not a tag by the
        spec's grammar is dropped (it would name another path under /v2/)."""
        first = f"{self.base}/tags/list?{urlencode({'n': page_size})}"
        url: str | None = first
        tags: list[str] = []
        seen: set[str] = set()
        budget = MAX_TAG_BYTES
        where = self.repository.canonical
        async with self._errors("list the tags of"):
            for _ in range(MAX_PAGES):
                if url is None:
                    break
                async with self._request("GET", url, action="list the tags of") as resp:
                    self._check(resp, "list the tags of")
                    if budget < MAX_TAG_PAGE_SIZE:
                        try:
                            data = await outbound.read(resp, budget)
                        except outbound.TooLarge:
                            raise OCIError(_tags_over(where, f"{MAX_TAG_BYTES} bytes")) from None
                    else:
                        data = await _bounded(resp, MAX_TAG_PAGE_SIZE, "tag list page")
                    link = resp.headers.get("Link")
                budget -= len(data)
                body = await _parse(data, "tag list")
                listed = body.get("tags") or []
                raw = [t for t in listed if isinstance(t, str)] if isinstance(listed, list) else []
                if raw and raw[-1] in seen:
                    break  # a registry that ignores `last` sends the same page again
                for tag in raw:
                    if tag not in seen and is_tag(tag):
                        seen.add(tag)
                        tags.append(tag)
                if len(tags) > MAX_TAGS:
                    raise OCIError(_tags_over(where, f"{MAX_TAGS} tags"))
                url = _next_page(url, link)
                if url is not None:
                    url = self._same_origin(url, "next tag list page")
                if url is None and raw and len(raw) >= page_size and is_tag(raw[-1]):
                    query = urlencode({"n": page_size, "last": raw[-1]})
                    url = f"{self.base}/tags/list?{query}"
        return tags

    async def resolve(self, ref: str) -> str:
        """The digest of the manifest `ref` (a tag or a digest) names."""
        url = f"{self.base}/manifests/{ref}"
        action = f"read {ref} of"
        async with self._errors(action):
            headers = {"Accept": ", ".join(MANIFEST_TYPES)}
            async with self._request("HEAD", url, action=action, headers=headers) as resp:
                self._check(resp, action)
                digest = resp.headers.get("Docker-Content-Digest")
            if digest and DIGEST.match(digest):
                return digest
        return (await self.manifest(ref)).digest  # a registry that sends no digest header

    async def manifest(self, ref: str) -> Manifest:
        """The manifest `ref` names, at most MAX_MANIFEST_SIZE bytes; when `ref` is a digest,
        the bytes must hash to it."""
        url = f"{self.base}/manifests/{ref}"
        action = f"read {ref} of"
        async with self._errors(action):
            headers = {"Accept": ", ".join(MANIFEST_TYPES)}
            async with self._request("GET", url, action=action, headers=headers) as resp:
                self._check(resp, action)
                data = await _bounded(resp, MAX_MANIFEST_SIZE, "manifest")
                media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        digest = await _sha256(data)
        if DIGEST.match(ref) and digest != ref:
            raise OCIError(f"{self.repository.canonical}@{ref}: the manifest does not match")
        body = await _parse(data, "manifest")
        media_type = str(body.get("mediaType") or media_type)
        return Manifest(data, media_type, digest, body)

    async def blob_to_file(self, digest: str, dest: Path, limit: int) -> int:
        """Stream the blob into `dest` (created), at most `limit` bytes, and check it hashes
        to `digest`; returns its size. The file is removed when anything fails."""
        if not DIGEST.match(digest):
            raise OCIError(f"{self.repository.canonical}: '{digest}' is not a sha256 digest")
        action = f"read blob {digest[:19]} of"
        sink = await asyncio.to_thread(_Sink.open, dest)
        try:
            async with self._errors(action):
                url = f"{self.base}/blobs/{digest}"
                async with self._request("GET", url, action=action) as resp:
                    self._check(resp, action)
                    _check_length(resp, limit, "blob")
                    batch = bytearray()
                    async for chunk in resp.content.iter_chunked(64 << 10):
                        batch += chunk
                        if sink.size + len(batch) > limit:
                            raise OCIError(
                                f"{self.repository.canonical}: blob {digest} is larger than"
                                f" the limit of {limit} bytes"
                            )
                        if len(batch) >= _WRITE_BATCH:
                            await asyncio.to_thread(sink.write, bytes(batch))
                            batch.clear()
                    await asyncio.to_thread(sink.write, bytes(batch))
            got = await asyncio.to_thread(sink.close)
            if got != digest:
                raise OCIError(f"{self.repository.canonical}: blob {digest} does not match")
            return sink.size
        except BaseException:
            await asyncio.to_thread(sink.discard)
            raise

    # ---- writing ------------------------------------------------------------------------

    async def has_blob(self, digest: str) -> bool:
        action = "push to"
        async with self._errors(action):
            url = f"{self.base}/blobs/{digest}"
            async with self._request("HEAD", url, action=action, push=True) as resp:
                if resp.status == 404:
                    return False
                self._check(resp, action)
                return True

    async def push_blob(self, data: bytes) -> str:
        """Upload `data` (monolithic: POST, then PUT with the digest) unless the registry
        has it; returns its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if await self.has_blob(digest):
            return digest
        action = "push to"
        async with self._errors(action):
            url = f"{self.base}/blobs/uploads/"
            async with self._request("POST", url, action=action, push=True) as resp:
                self._check(resp, action, expect=(202,))
                location = resp.headers.get("Location")
            if not location:
                raise OCIError(f"the registry {self.repository.host} sent no upload location")
            target = self._same_origin(urljoin(url, location), "upload location")
            target += ("&" if "?" in target else "?") + urlencode({"digest": digest})
            headers = {"Content-Type": "application/octet-stream"}
            async with self._request(
                "PUT", target, action=action, push=True, headers=headers, data=data
            ) as resp:
                self._check(resp, action, expect=(201, 202, 204))
        return digest

    async def push_manifest(self, ref: str, data: bytes, media_type: str) -> str:
        """Put the manifest under `ref` (a tag, or its digest); returns its digest."""
        action = "push to"
        async with self._errors(action):
            url = f"{self.base}/manifests/{ref}"
            headers = {"Content-Type": media_type}
            async with self._request(
                "PUT", url, action=action, push=True, headers=headers, data=data
            ) as resp:
                self._check(resp, action, expect=(200, 201, 202))
        return "sha256:" + hashlib.sha256(data).hexdigest()

    async def tag(self, source: str, tag: str) -> str:
        """Give the manifest `source` (tag or digest) the tag `tag` too."""
        manifest = await self.manifest(source)
        return await self.push_manifest(tag, manifest.data, manifest.media_type)

    # ---- the seam -----------------------------------------------------------------------

    @asynccontextmanager
    async def _request(
        self,
        method: str,
        url: str,
        *,
        action: str,
        push: bool = False,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """One request through the session of its scope (which answers the registry's
        challenge once); a refusal after that is an AuthError."""
        session = self._sessions[push]
        async with session.request(method, url, headers=headers, data=data) as resp:
            if resp.status in (401, 403):
                raise self._denied(resp.status, action)
            yield resp

    def _same_origin(self, url: str, what: str) -> str:
        """`url`, which the registry named, when it is on the registry's own origin: the
        requests carry its Authorization, which no other host may see."""
        if registryauth.origin_of(url) != registryauth.origin_of(self.base):
            raise OCIError(
                f"the registry {self.repository.host} named a {what} on another host"
                f" ({registryauth.origin_of(url)[1]}); refusing to follow it"
            )
        return url

    def _denied(self, status: int, action: str) -> AuthError:
        who = f"as '{self.creds.username}'" if self.creds.username else "without credentials"
        return AuthError(
            f"the registry {self.repository.host} refused to {action}"
            f" {self.repository.canonical} {who} (HTTP {status})"
        )

    def _check(
        self, resp: aiohttp.ClientResponse, action: str, expect: tuple[int, ...] = (200,)
    ) -> None:
        if resp.status in expect:
            return
        where = f"{action} {self.repository.canonical}"
        if resp.status == 404:
            raise NotFound(f"cannot {where}: not found (HTTP 404)")
        raise OCIError(f"cannot {where}: HTTP {resp.status}")

    @asynccontextmanager
    async def _errors(self, action: str) -> AsyncIterator[None]:
        """Network failures and timeouts as OCIErrors, their text scrubbed of secrets."""
        try:
            yield
        except registryauth.AuthError as err:
            if err.status:
                raise self._denied(err.status, action) from None
            raise AuthError(str(err)) from None
        except TimeoutError:
            raise OCIError(
                f"timed out after {self.timeout:g}s trying to {action} {self.repository.canonical}"
            ) from None
        except aiohttp.ClientError as err:
            text = str(err) or type(err).__name__
            for secret in self.creds.secrets():
                text = text.replace(secret, "***")
            raise OCIError(
                f"cannot {action} {self.repository.canonical} at {self.repository.host}: {text}"
            ) from None


class _Sink:
    """A file being written from a download, hashed as it grows (used in worker threads)."""

    def __init__(self, path: Path, file: IO[bytes]):
        self.path, self.file = path, file
        self.hash = hashlib.sha256()
        self.size = 0

    @classmethod
    def open(cls, path: Path) -> _Sink:
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(path, open(path, "wb"))  # closed in close/discard

    def write(self, data: bytes) -> None:
        self.hash.update(data)
        self.file.write(data)
        self.size += len(data)

    def close(self) -> str:
        self.file.close()
        return "sha256:" + self.hash.hexdigest()

    def discard(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)


def _check_length(resp: aiohttp.ClientResponse, limit: int, what: str) -> None:
    length = resp.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > limit:
        raise OCIError(f"the {what} is {length} bytes, over the limit of {limit}")


async def _bounded(resp: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    try:
        return await outbound.read(resp, limit)
    except outbound.TooLarge:
        raise OCIError(f"the {what} is larger than the limit of {limit} bytes") from None


def _tags_over(repository: str, limit: str) -> str:
    return f"the tag list of {repository} is over the limit of {limit}"


async def _sha256(data: bytes) -> str:
    """The digest of a body read into memory; a large one is hashed in a worker thread."""
    if len(data) <= _INLINE:
        return "sha256:" + hashlib.sha256(data).hexdigest()
    return "sha256:" + await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())


async def _parse(data: bytes, what: str) -> dict[str, Any]:
    """`_json`, in a worker thread when the body is large: a registry's 4 MiB manifest or
    16 MiB tag page would otherwise hold the event loop every controller shares."""
    if len(data) <= _INLINE:
        return _json(data, what)
    return await asyncio.to_thread(_json, data, what)


def _json(data: bytes, what: str) -> dict[str, Any]:
    try:
        body = json.loads(data)
    except ValueError:
        raise OCIError(f"the {what} is not JSON") from None
    if not isinstance(body, dict):
        raise OCIError(f"the {what} is not a JSON object")
    return body


def _next_page(current: str, link: str | None) -> str | None:
    if not link:
        return None
    match = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', link)
    if match is None:
        return None
    target = urljoin(current, match.group(1))
    return None if target == current else target


__all__ = ["AuthError", "Client", "Manifest", "NotFound", "OCIError"]
