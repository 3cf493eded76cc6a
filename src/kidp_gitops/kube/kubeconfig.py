"""A kubeconfig handed over as data — a remote cluster's, from a Secret — read strictly.

Where it fits: `kube.config` reads the engine's own kubeconfig, a file the operator
chose, with every form kubectl knows. A kubeconfig in a Secret is written by whoever
may write Secrets in a tenant's namespace: hostile input. So only what is self-contained
is read — a server, a CA given as data, and a client certificate and key given as data,
a bearer token, or basic auth — and everything that would make the engine run a program
or read a file of its own disk is refused, naming the key, never its value:

    exec                       runs a plugin (Flux drops it unless --insecure-kubeconfig-exec)
    auth-provider              runs a cloud provider's plugin code
    tokenFile                  a file on our disk (a service account's token, say)
    client-certificate, client-key, certificate-authority
                               files on our disk (their `-data` forms are fine)
    insecure-skip-tls-verify   Flux drops it unless --insecure-kubeconfig-tls; refused
    proxy-url, tls-server-name not implemented

    parse(data) -> Parsed                          the current context's cluster and user
    parsed.config() -> ClusterConfig               for a KubeClient

Errors are `ConfigError`s whose message names the key that is refused or missing.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kidp_gitops.kube.config import ClusterConfig, InlineTLS, TLSFiles
from kidp_gitops.kube.errors import ConfigError

MAX_SIZE = 1 << 20
"""A kubeconfig larger than this is refused unread (a real one is a few KiB)."""

_REFUSED_USER = {
    "exec": "runs a credential plugin program",
    "auth-provider": "runs an authentication provider plugin",
    "tokenFile": "reads a file of the engine's disk",
    "client-certificate": "reads a file of the engine's disk (use client-certificate-data)",
    "client-key": "reads a file of the engine's disk (use client-key-data)",
    "as": "impersonation is set by spec.serviceAccountName",
    "as-groups": "impersonation is set by spec.serviceAccountName",
    "as-uid": "impersonation is set by spec.serviceAccountName",
    "as-user-extra": "impersonation is set by spec.serviceAccountName",
}
_REFUSED_CLUSTER = {
    "certificate-authority": "reads a file of the engine's disk (use certificate-authority-data)",
    "insecure-skip-tls-verify": "turns off TLS verification of the remote API server",
    "proxy-url": "proxies for remote clusters are not implemented",
    "tls-server-name": "a TLS server name other than the server's host is not implemented",
}
_KNOWN_USER = {"client-certificate-data", "client-key-data", "token", "username", "password"}
_KNOWN_CLUSTER = {"server", "certificate-authority-data", "extensions"}


@dataclass(frozen=True)
class Parsed:
    """The current context's cluster and credentials: data only, no paths."""

    server: str
    ca: bytes | None = field(default=None, repr=False)
    cert: bytes | None = field(default=None, repr=False)
    key: bytes | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    basic: tuple[str, str] | None = field(default=None, repr=False)

    def secrets(self) -> list[str]:
        """Every credential as text, for the log redactor."""
        found = [self.token or ""]
        if self.key:
            found.append(self.key.decode(errors="replace"))
        if self.basic:
            found.append(self.basic[1])
        return [s for s in found if s]

    def config(self) -> ClusterConfig:
        """A client configuration. The client key reaches the TLS context through a
        private file that exists only while it is loaded (the ssl module reads keys from
        files only)."""
        tls: ssl.SSLContext | bool = False
        if self.server.startswith("https://"):
            try:
                context = ssl.create_default_context(
                    cadata=self.ca.decode(errors="replace") if self.ca else None
                )
            except (ssl.SSLError, ValueError) as err:
                raise ConfigError("the kubeconfig's certificate-authority-data is invalid") from err
            if self.cert and self.key:
                _load_chain(context, self.cert, self.key)
            tls = context
        token, basic = self.token, self.basic

        async def header() -> str | None:
            if token:
                return f"Bearer {token}"
            if basic:
                raw = f"{basic[0]}:{basic[1]}".encode()
                return "Basic " + base64.b64encode(raw).decode()
            return None

        inline = InlineTLS(ca=self.ca, cert=self.cert, key=self.key)
        return ClusterConfig(self.server, tls, header, TLSFiles(), inline=inline)


def parse(data: bytes) -> Parsed:
    """The current context of kubeconfig `data`; `ConfigError` names what is refused."""
    if len(data) > MAX_SIZE:
        raise ConfigError(f"the kubeconfig is larger than {MAX_SIZE} bytes")
    try:
        doc = yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as err:
        raise ConfigError("the kubeconfig is not valid YAML") from err
    if not isinstance(doc, dict):
        raise ConfigError("the kubeconfig is not a YAML map")
    name = doc.get("current-context")
    if not name:
        raise ConfigError("the kubeconfig names no current-context")
    context = _section(_named(doc, "contexts", name), "context")
    cluster = _section(_named(doc, "clusters", context.get("cluster")), "cluster")
    user_name = context.get("user")
    user = _section(_named(doc, "users", user_name), "user") if user_name else {}
    _refuse(cluster, _REFUSED_CLUSTER, _KNOWN_CLUSTER, "cluster")
    _refuse(user, _REFUSED_USER, _KNOWN_USER, "user")
    server = str(cluster.get("server") or "").rstrip("/")
    if not server.startswith(("https://", "http://")):
        raise ConfigError("the kubeconfig's cluster has no https:// server")
    ca = _data(cluster, "certificate-authority-data")
    cert = _data(user, "client-certificate-data")
    key = _data(user, "client-key-data")
    if bool(cert) != bool(key):
        raise ConfigError("the kubeconfig's user has a client certificate or key without the other")
    basic = None
    if user.get("username") or user.get("password"):
        basic = (str(user.get("username") or ""), str(user.get("password") or ""))
    token = str(user["token"]) if user.get("token") else None
    return Parsed(server, ca, cert, key, token, basic)


def _named(doc: dict[str, Any], section: str, name: Any) -> dict[str, Any]:
    for entry in doc.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    raise ConfigError(f"the kubeconfig has no {section[:-1]} named in its current context")


def _section(entry: dict[str, Any], key: str) -> dict[str, Any]:
    found = entry.get(key) or {}
    if not isinstance(found, dict):
        raise ConfigError(f"the kubeconfig's {key} is not a map")
    return found


def _refuse(entry: dict[str, Any], refused: dict[str, str], known: set[str], what: str) -> None:
    for key in entry:
        if key in refused and entry[key] not in (None, "", False, [], {}):
            raise ConfigError(f"the kubeconfig's {what} sets '{key}', which {refused[key]}")
        if key not in refused and key not in known:
            raise ConfigError(f"the kubeconfig's {what} sets '{key}', which is not supported")


def _data(entry: dict[str, Any], key: str) -> bytes | None:
    value = entry.get(key)
    if not value:
        return None
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as err:
        raise ConfigError(f"the kubeconfig's '{key}' is not base64") from err


def _load_chain(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    directory = Path(tempfile.mkdtemp(prefix="kidp-remote-"))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    try:
        for path, content in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(content)
        try:
            context.load_cert_chain(str(cert_path), str(key_path))
        except (ssl.SSLError, ValueError) as err:
            # The ssl module's message may quote neither file: say only what failed.
            raise ConfigError("the kubeconfig's client certificate or key is invalid") from err
    finally:
        for path in (cert_path, key_path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        os.rmdir(directory)
