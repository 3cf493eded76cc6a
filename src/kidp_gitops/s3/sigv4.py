"""AWS Signature Version 4 for S3 requests (header-based, `AWS4-HMAC-SHA256`).

Why our own: the maintained Python implementations come inside botocore (a large SDK with
its own HTTP stack, against DESIGN.md §7's one HTTP stack); the algorithm is one page and
AWS publishes test vectors for it (tests/unit/s3/test_sigv4.py checks the S3 ones).

    headers = sign(Credentials(key, secret), "GET", url, region, now, payload_hash)

Rules followed, as S3 applies them: the path is URI-encoded once, segment by segment
(S3 does not double-encode as other services do); query parameters are sorted by their
encoded name and value; every header given is signed (lower-cased names, values with
runs of spaces folded); `x-amz-content-sha256` names the payload's SHA-256 (the empty
string's for a GET) and is signed too, as S3 requires.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "s3"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_UNRESERVED = "-_.~"  # with letters and digits, what RFC 3986 leaves unencoded


@dataclass(frozen=True)
class Credentials:
    """A static access key pair. `repr` never shows the secret."""

    access_key: str
    secret_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


def _encode(text: str, keep_slash: bool = False) -> str:
    return quote(text, safe=_UNRESERVED + ("/" if keep_slash else ""))


def canonical_query(query: str) -> str:
    """The query string as SigV4 signs it: each name and value decoded, encoded again the
    RFC 3986 way, sorted; a name without a value keeps its `=`."""
    pairs: list[tuple[str, str]] = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((_encode(unquote(name)), _encode(unquote(value))))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def _fold(value: str) -> str:
    return " ".join(value.strip().split())


def canonical_request(
    method: str, url: str, headers: dict[str, str], payload_hash: str
) -> tuple[str, str]:
    """(the canonical request, the signed header names joined by ';')."""
    parts = urlsplit(url)
    path = _encode(unquote(parts.path or "/"), keep_slash=True)
    lowered = {k.lower(): _fold(v) for k, v in headers.items()}
    names = sorted(lowered)
    signed = ";".join(names)
    header_lines = "".join(f"{n}:{lowered[n]}\n" for n in names)
    text = "\n".join(
        [method.upper(), path, canonical_query(parts.query), header_lines, signed, payload_hash]
    )
    return text, signed


def signing_key(secret_key: str, day: str, region: str) -> bytes:
    key = hmac.new(f"AWS4{secret_key}".encode(), day.encode(), hashlib.sha256).digest()
    for part in (region, SERVICE, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def sign(
    creds: Credentials,
    method: str,
    url: str,
    region: str,
    now: datetime.datetime,
    payload_hash: str = EMPTY_SHA256,
    headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """The headers to send: `headers`, Host, X-Amz-Date, X-Amz-Content-Sha256 (and
    X-Amz-Security-Token for temporary credentials), and Authorization."""
    stamp = now.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    netloc = urlsplit(url).netloc
    host = netloc.rsplit("@", 1)[-1]
    out = {
        **(headers or {}),
        "Host": _default_port_dropped(host, urlsplit(url).scheme),
        "X-Amz-Date": stamp,
        "X-Amz-Content-Sha256": payload_hash,
    }
    if creds.session_token:
        out["X-Amz-Security-Token"] = creds.session_token
    request, signed = canonical_request(method, url, out, payload_hash)
    scope = f"{day}/{region}/{SERVICE}/aws4_request"
    to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(request.encode()).hexdigest()])
    signature = hmac.new(
        signing_key(creds.secret_key, day, region), to_sign.encode(), hashlib.sha256
    ).hexdigest()
    out["Authorization"] = (
        f"{ALGORITHM} Credential={creds.access_key}/{scope},"
        f"SignedHeaders={signed},Signature={signature}"
    )
    return out


def _default_port_dropped(host: str, scheme: str) -> str:
    """The Host header as HTTP clients send it: no port when it is the scheme's default
    (the server signs what it receives)."""
    for suffix, wanted in ((":80", "http"), (":443", "https")):
        if host.endswith(suffix) and scheme == wanted:
            return host[: -len(suffix)]
    return host
