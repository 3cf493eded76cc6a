"""What the keys of a credentials Secret mean, once for every controller: a TLS context
(`ca.crt`, `tls.crt`, `tls.key`), basic auth (`username`, `password`), a bearer token.

Where it fits: `runtime/secrets.py` reads a Secret; this module turns its decoded data
into what a client presents. The Helm repository client, the image registry client,
the notification providers and the git program (through `vcs.gitenv.Auth`) all read
their TLS keys here, so they read the same keys the same way.

    tls = credentials.tls_data(data, "ns/name")          # the keys, checked
    context = credentials.tls_context(tls, system_roots=True)
    header = credentials.basic_auth(data, "ns/name")     # None, or "Basic ..."

As Flux (fluxcd/pkg `runtime/secrets`, which source-, image-reflector- and
notification-controller share, and `git.NewAuthOptions` for Git):

- the Kubernetes TLS keys win; Flux's older names are read when the new key is absent
  (Flux logs a deprecation warning; so do we, without values). Which older names a
  Secret may use depends on what refers to it:

      certSecretRef (HelmRepository, OCIRepository, ImageRepository, Provider),
      a HelmRepository's secretRef (TLS there is deprecated)   caFile, certFile, keyFile
      a GitRepository's secretRef (https)                     caFile only (`LEGACY_GIT`)

- a certificate without its key, or a key without its certificate, is an error;
- `ca.crt` adds to the system's roots for HelmRepository and ImageRepository (Flux's
  `WithSystemCertPool`) and replaces them for a Provider (Flux's default): the caller
  says which with `system_roots`.

Errors are `CredentialsError` (a `ValueError`) whose message names the Secret and the key,
never a value. The ssl module loads a client key only from a file: it is written to a
private temporary directory (0600) and removed before `tls_context` returns.
"""

from __future__ import annotations

import base64
import logging
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

CA = "ca.crt"
CERT = "tls.crt"
KEY = "tls.key"
LEGACY: Mapping[str, str] = {CA: "caFile", CERT: "certFile", KEY: "keyFile"}
"""The keys Flux read before it adopted the Kubernetes TLS Secret; still read as fallbacks."""
LEGACY_GIT: Mapping[str, str] = {CA: "caFile"}
"""What a GitRepository's Secret may still use of those: `caFile`, never `certFile` or
`keyFile` (its client certificate came with the Kubernetes names)."""


class CredentialsError(ValueError):
    """A Secret's credentials are incomplete or unusable; the message is safe to show."""


@dataclass(frozen=True)
class TLSData:
    """The PEM data of a TLS Secret (any of the three may be absent). `repr` shows none."""

    ca: bytes | None = field(default=None, repr=False)
    cert: bytes | None = field(default=None, repr=False)
    key: bytes | None = field(default=None, repr=False)

    def __bool__(self) -> bool:
        return bool(self.ca or self.cert)


def tls_data(
    data: Mapping[str, bytes | str], where: str, *, legacy: Mapping[str, str] = LEGACY
) -> TLSData:
    """The TLS keys of Secret `where` (its decoded data), the Kubernetes names first and
    the older ones `legacy` allows second; a certificate and its key come together or
    not at all."""
    ca, cert, key = (_value(data, k, where, legacy) for k in (CA, CERT, KEY))
    if cert and not key:
        raise CredentialsError(f"secret '{where}' holds '{CERT}' but no '{KEY}'")
    if key and not cert:
        raise CredentialsError(f"secret '{where}' holds '{KEY}' but no '{CERT}'")
    return TLSData(ca=ca or None, cert=cert or None, key=key or None)


def require_tls(tls: TLSData, where: str) -> TLSData:
    """`tls` if it holds a CA or a client certificate, as a `certSecretRef` must."""
    if not tls:
        raise CredentialsError(f"secret '{where}' must hold '{CA}', or both '{CERT}' and '{KEY}'")
    return tls


def tls_context(tls: TLSData, *, system_roots: bool) -> ssl.SSLContext:
    """A client TLS context that trusts `tls.ca` (besides the system's roots when
    `system_roots`) and presents the client certificate, if any.

    Raises `ssl.SSLError` or `ValueError` when the PEM data is not usable; `from_secret`
    turns those into a `CredentialsError` that names the Secret."""
    if tls.ca and not system_roots:
        context = ssl.create_default_context(cadata=tls.ca.decode())
    else:
        context = ssl.create_default_context()
        if tls.ca:
            context.load_verify_locations(cadata=tls.ca.decode())
    if tls.cert and tls.key:
        with tempfile.TemporaryDirectory(prefix="kidp-tls-") as tmp:
            cert, key = Path(tmp) / CERT, Path(tmp) / KEY
            for path, content in ((cert, tls.cert), (key, tls.key)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(content)
            context.load_cert_chain(cert, key)
    return context


def from_secret(
    data: Mapping[str, bytes | str], where: str, *, system_roots: bool, required: bool = True
) -> ssl.SSLContext | None:
    """The TLS context Secret `where` describes; None when it holds no TLS keys and
    not `required` (a `secretRef` that may carry TLS), an error when `required` (a
    `certSecretRef`)."""
    tls = tls_data(data, where)
    if required:
        require_tls(tls, where)
    elif not tls:
        return None
    try:
        return tls_context(tls, system_roots=system_roots)
    except (ssl.SSLError, ValueError, UnicodeDecodeError) as err:
        raise CredentialsError(
            f"the TLS data in secret '{where}' is not usable: {type(err).__name__}"
        ) from err


@dataclass(frozen=True)
class BasicAuth:
    username: str
    password: str = field(repr=False)

    def header(self) -> str:
        """The value of the `Authorization` header."""
        return basic_header(self.username, self.password)


def basic_auth(data: Mapping[str, bytes | str], where: str) -> BasicAuth | None:
    """`username` and `password` of Secret `where`: both, or neither (None)."""
    username, password = _text(data, "username", where), _text(data, "password", where)
    if username is None and password is None:
        return None
    if username is None or password is None:
        raise CredentialsError(f"secret '{where}' must hold both 'username' and 'password'")
    return BasicAuth(username, password)


def bearer_token(
    data: Mapping[str, bytes | str], where: str, key: str = "bearerToken"
) -> str | None:
    """The token under `key` of Secret `where` (`bearerToken` for Git, `token` for a
    Provider), surrounding whitespace removed; None when absent or empty."""
    token = _text(data, key, where)
    return (token.strip() or None) if token is not None else None


def basic_header(username: str, password: str) -> str:
    """`Basic base64(username:password)`, as RFC 7617 (UTF-8)."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def bearer_header(token: str) -> str:
    return f"Bearer {token}"


def _value(
    data: Mapping[str, bytes | str], key: str, where: str, legacy: Mapping[str, str]
) -> bytes | None:
    value = data.get(key)
    if value is None and (old := legacy.get(key)) is not None:
        value = data.get(old)
        if value is not None:
            log.warning("secret '%s' uses the deprecated key '%s'; use '%s'", where, old, key)
    if value is None:
        return None
    return value.encode() if isinstance(value, str) else value


def _text(data: Mapping[str, bytes | str], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise CredentialsError(f"secret '{where}' key '{key}' is not UTF-8 text") from None
