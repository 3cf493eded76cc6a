"""The calls a Bucket source makes to an S3-compatible server: list a bucket's objects
(ListObjectsV2, page by page), download one object to a file; and create a bucket and
upload an object.

    bucket = Client(Endpoint.parse("s3.example:9000", insecure=True), "manifests", ...)
    async for obj in bucket.objects(prefix="apps/", limit=10_000): obj.key, obj.etag
    etag = await bucket.download(key, path, limit=64 << 20)

Requests are signed with `sigv4` when credentials are given and anonymous otherwise, and
go through the engine's outbound HTTP (`runtime/outbound.py`: pooling, proxies from the
environment, per-request TLS). The addressing is path-style (`host/bucket/key`), which
every S3-compatible server accepts, except on AWS's own hosts, where a bucket whose name
is a DNS label is addressed virtual-host style as AWS recommends.

What the server sends is hostile: a listing page is read up to `MAX_PAGE_BYTES` and parsed
only when it carries no DTD (S3 never sends one; entity tricks need one), a listing stops
at its caller's limit, and a download at its limit. Errors (`S3Error`) carry the S3 error
code and message, the bucket and key, never a credential or a signature.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import re
import ssl
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import quote, urlencode, urlsplit
from xml.parsers import expat

import aiohttp

from kidp_gitops.runtime import outbound
from kidp_gitops.s3 import sigv4

DEFAULT_REGION = "us-east-1"
"""The region S3-compatible servers expect when none is configured (minio-go's too)."""
MAX_PAGE_BYTES = 8 << 20
"""One listing page of 1000 keys of 1 KiB each is about 1.3 MiB."""
MAX_ERROR_BYTES = 64 << 10
_WRITE_BATCH = 1 << 20
_NS = re.compile(r"^\{[^}]*\}")
_DNS_LABEL = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


class S3Error(Exception):
    """A request failed; `code` is S3's error code (`NoSuchBucket`,
    `SignatureDoesNotMatch`) or the HTTP status when the server sent none."""

    def __init__(self, message: str, code: str = "", status: int = 0):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class NotFound(S3Error):
    """The object (or bucket) does not exist."""


@dataclass(frozen=True)
class Endpoint:
    """Where the server is: `scheme://host[:port]`."""

    base: str

    @classmethod
    def parse(cls, endpoint: str, *, insecure: bool) -> Endpoint:
        """`host[:port]` as Flux's spec.endpoint holds it (https unless `insecure`); a URL
        with a scheme is taken as it is, and one with a path is refused (as minio-go)."""
        text = endpoint.strip()
        if "://" not in text:
            text = f"{'http' if insecure else 'https'}://{text}"
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise S3Error(f"endpoint '{endpoint}' is not host[:port]")
        if parts.path not in ("", "/") or parts.query or parts.username or parts.password:
            raise S3Error(f"endpoint '{endpoint}' must be host[:port], without a path")
        return cls(f"{parts.scheme}://{parts.netloc}")

    @property
    def host(self) -> str:
        return urlsplit(self.base).hostname or ""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    etag: str
    """As minio-go (and so Flux's revision) reads it: without the surrounding quotes."""
    size: int


class Client:
    """One bucket on one server, with one set of credentials (None: anonymous)."""

    def __init__(
        self,
        endpoint: Endpoint,
        bucket: str,
        *,
        credentials: sigv4.Credentials | None = None,
        region: str | None = None,
        tls: ssl.SSLContext | None = None,
        timeout: float = 60.0,
    ):
        self.endpoint = endpoint
        self.bucket = bucket
        self.credentials = credentials
        self.region = region or DEFAULT_REGION
        self.tls = tls
        self.timeout = timeout

    # ---- the calls ------------------------------------------------------------------------

    async def objects(self, prefix: str = "", *, limit: int) -> AsyncIterator[ObjectInfo]:
        """Every object whose key starts with `prefix`, in the server's (lexical) order;
        an `S3Error` when there are more than `limit`."""
        token: str | None = None
        count = pages = 0
        # S3 pages hold up to 1,000 keys: a server that sends more pages than the limit
        # needs (empty ones, with a new token each time) would hold this worker forever.
        max_pages = limit // 1000 + 10
        while True:
            pages += 1
            if pages > max_pages:
                raise S3Error(
                    f"bucket '{self.bucket}' listing goes on past {max_pages} pages"
                    f" for at most {limit} objects"
                )
            query = {"list-type": "2", "prefix": prefix}
            if token:
                query["continuation-token"] = token
            async with self._request("GET", "", query) as resp:
                await self._check(resp, "list objects of")
                body = await _read(resp, MAX_PAGE_BYTES, "a listing page")
            page = await asyncio.to_thread(_parse, body)
            for item in page.findall("Contents"):
                count += 1
                if count > limit:
                    raise S3Error(
                        f"bucket '{self.bucket}' holds more than {limit} objects under"
                        f" prefix '{prefix}'"
                    )
                key = item.findtext("Key") or ""
                size = item.findtext("Size") or "0"
                if not size.isdigit():
                    raise S3Error(f"the listing gives object '{cut(key)}' no valid size")
                yield ObjectInfo(key, (item.findtext("ETag") or "").strip('"'), int(size))
            previous, token = token, page.findtext("NextContinuationToken")
            if (page.findtext("IsTruncated") or "").lower() != "true" or not token:
                return
            if token == previous:
                raise S3Error(f"bucket '{self.bucket}' listing repeats its continuation token")

    async def download(self, key: str, dest: Path, *, limit: int) -> str:
        """Write the object to `dest` (its directory must exist), at most `limit` bytes;
        returns its ETag. The file is removed when anything fails."""
        what = f"get '{cut(key)}' object of"
        file: IO[bytes] = await asyncio.to_thread(open, dest, "wb")
        try:
            async with self._request("GET", key) as resp:
                await self._check(resp, what)
                length = resp.content_length
                if length is not None and length > limit:
                    raise S3Error(f"object '{cut(key)}' is {length} bytes, over the limit {limit}")
                size = 0
                batch = bytearray()
                async for chunk in resp.content.iter_chunked(64 << 10):
                    size += len(chunk)
                    if size > limit:
                        raise S3Error(f"object '{cut(key)}' is larger than the limit {limit}")
                    batch += chunk
                    if len(batch) >= _WRITE_BATCH:
                        await asyncio.to_thread(file.write, bytes(batch))
                        batch.clear()
                await asyncio.to_thread(file.write, bytes(batch))
                etag = resp.headers.get("ETag", "").strip('"')
            await asyncio.to_thread(file.close)
            return etag
        except BaseException:
            await asyncio.to_thread(_discard, file, dest)
            raise

    async def create(self) -> None:
        """Create the bucket (in the server's default location)."""
        async with self._request("PUT", "") as resp:
            await self._check(resp, "create")

    async def put(self, key: str, data: bytes) -> str:
        """Upload `data` as the object (the payload signed); returns its ETag."""
        payload = hashlib.sha256(data).hexdigest()
        async with self._request("PUT", key, payload=payload, data=data) as resp:
            await self._check(resp, f"put '{cut(key)}' object to")
            return resp.headers.get("ETag", "").strip('"')

    # ---- plumbing -------------------------------------------------------------------------

    def url(self, key: str, query: dict[str, str] | None = None) -> str:
        """The URL of the bucket (key '') or of one of its objects."""
        path = quote(key, safe="-_.~/")
        parts = urlsplit(self.endpoint.base)
        if self._virtual_host():
            base = f"{parts.scheme}://{self.bucket}.{parts.netloc}/{path}"
        else:
            base = f"{self.endpoint.base}/{quote(self.bucket, safe='')}"
            base += f"/{path}" if key else ""
        return f"{base}?{urlencode(query or {}, quote_via=quote)}" if query else base

    def _virtual_host(self) -> bool:
        host = self.endpoint.host
        return host.endswith(".amazonaws.com") and _DNS_LABEL.match(self.bucket) is not None

    @asynccontextmanager
    async def _request(
        self,
        method: str,
        key: str,
        query: dict[str, str] | None = None,
        *,
        payload: str = sigv4.EMPTY_SHA256,
        data: bytes | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        url = self.url(key, query)
        headers: dict[str, str] = {}
        if self.credentials is not None:
            now = datetime.datetime.now(datetime.UTC)
            headers = sigv4.sign(self.credentials, method, url, self.region, now, payload)
        try:
            async with outbound.current().request(
                method,
                url,
                tls=self.tls,
                timeout=self.timeout,
                headers=headers,
                data=data,
                allow_redirects=False,
            ) as resp:
                yield resp
        except (aiohttp.ClientError, OSError) as err:
            # aiohttp's messages name the host and port, never a header.
            raise S3Error(f"request to '{self.endpoint.base}' failed: {err}") from None
        except TimeoutError:
            raise S3Error(
                f"request to '{self.endpoint.base}' timed out after {self.timeout:g}s"
            ) from None

    async def _check(self, resp: aiohttp.ClientResponse, action: str) -> None:
        if 200 <= resp.status < 300:
            return
        code = message = ""
        if resp.status != 404 or resp.method != "HEAD":
            try:
                body = await _read(resp, MAX_ERROR_BYTES, "an error")
                root = await asyncio.to_thread(_parse, body)
                code, message = root.findtext("Code") or "", root.findtext("Message") or ""
            except S3Error:
                pass  # not S3's XML error document: the status says enough
        code = code or {404: "NotFound", 403: "Forbidden", 301: "PermanentRedirect"}.get(
            resp.status, ""
        )
        said = f"{code}: {cut(message, 300)}" if message else code or "no error message"
        text = f"failed to {action} bucket '{self.bucket}': {resp.status} {said}"
        if resp.status == 404:
            raise NotFound(text, code, resp.status)
        raise S3Error(text, code, resp.status)


async def _read(resp: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    try:
        return await outbound.read(resp, limit)
    except outbound.TooLarge:
        raise S3Error(f"the server sent {what} larger than {limit} bytes") from None


def _parse(body: bytes) -> ET.Element:
    """An S3 XML document, its namespace dropped from every tag (blocking: call it from a
    worker thread). A document with a DTD is refused before parsing."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise S3Error("the server sent XML with a DTD, which S3 never sends")
    # The byte search misses a DTD in another encoding (UTF-16): expat, which reads the
    # declared encoding, is asked first, and stops at any DTD or entity declaration.
    check = expat.ParserCreate()
    check.StartDoctypeDeclHandler = _refuse_dtd
    check.EntityDeclHandler = _refuse_dtd
    try:
        check.Parse(body, True)
        root = ET.fromstring(body)
    except (ET.ParseError, expat.ExpatError) as err:
        raise S3Error(f"the server sent malformed XML: {err}") from None
    for element in root.iter():
        element.tag = _NS.sub("", element.tag)
    return root


def _refuse_dtd(*_: object) -> None:
    raise S3Error("the server sent XML with a DTD, which S3 never sends")


def _discard(file: IO[bytes], path: Path) -> None:
    file.close()
    path.unlink(missing_ok=True)


def cut(text: str, length: int = 200) -> str:
    """A server's or a tenant's string, cut before it reaches a status."""
    return text if len(text) <= length else text[:length] + "…"
