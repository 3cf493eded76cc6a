"""Where the API server is and how to authenticate to it.

A kubeconfig whose user is a client certificate or a static token (what `kidp up`, kind
and most CI clusters write) is read here, without kubernetes_asyncio: loading its client
costs a CLI command (TAB completion) most of a second. So is the in-cluster service
account (`in_cluster`): the API server from KUBERNETES_SERVICE_HOST/PORT, its CA and the
token from the files the kubelet mounts, the token read again whenever its file changes
(the kubelet rotates a projected token well before it expires, swapping the file). Anything
else — exec and OIDC plugins, basic auth, proxies — goes to kubernetes_asyncio's loaders.
Either way we keep only the result: the server URL, a TLS context, and a coroutine that
returns the current Authorization header.
"""

from __future__ import annotations

import atexit
import base64
import os
import shutil
import ssl
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kidp_gitops.kube.errors import ConfigError

AuthHeader = Callable[[], Awaitable[str | None]]
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class TLSFiles:
    """The TLS files the loader used, for programs that need a kubeconfig of their own
    (helm): paths only, never their content."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True


@dataclass(frozen=True)
class InlineTLS:
    """TLS material held in memory (a remote cluster's kubeconfig from a Secret), for
    programs that need a kubeconfig of their own (helm): written only into theirs."""

    ca: bytes | None = field(default=None, repr=False)
    cert: bytes | None = field(default=None, repr=False)
    key: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ClusterConfig:
    server: str
    ssl_context: ssl.SSLContext | bool
    authorization: AuthHeader
    tls_files: TLSFiles = TLSFiles()
    inline: InlineTLS | None = None
    """Set instead of `tls_files` when the TLS material never was on disk."""


async def load_config(
    kubeconfig: str | Path | None = None, context: str | None = None
) -> ClusterConfig:
    """Load from `kubeconfig` (or $KUBECONFIG, ~/.kube/config), else from the in-cluster
    service account when running in a pod."""
    source = kubeconfig_file(kubeconfig)
    if not source:
        return in_cluster()
    simple = _simple(source, context)
    if simple is not None:
        return simple
    from kubernetes_asyncio.client import Configuration
    from kubernetes_asyncio.config import kube_config
    from kubernetes_asyncio.config.config_exception import ConfigException

    cfg: Any = Configuration()
    try:
        await kube_config.load_kube_config(
            config_file=source,
            context=context,
            client_configuration=cfg,
            persist_config=False,
        )
    except ConfigException as err:
        raise ConfigError(f"invalid kubeconfig: {err}") from err
    files = TLSFiles(cfg.ssl_ca_cert, cfg.cert_file, cfg.key_file, bool(cfg.verify_ssl))
    return ClusterConfig(cfg.host, _ssl_context(cfg), _authorization(cfg), files)


def kubeconfig_file(explicit: str | Path | None) -> str | None:
    """The kubeconfig file to read, or None to use the in-cluster service account."""
    path = str(explicit) if explicit else os.environ.get("KUBECONFIG")
    default = Path.home() / ".kube" / "config"
    if not path and not default.exists() and "KUBERNETES_SERVICE_HOST" in os.environ:
        return None
    source = path or str(default)
    if not os.path.isfile(source):
        raise ConfigError(f"no kubeconfig at {source} (set --kubeconfig or KUBECONFIG)")
    return source


def api_server_tls(cafile: str | None) -> ssl.SSLContext:
    """A TLS context that trusts `cafile` (else the system's CAs) the way kubectl does.
    Python 3.13 verifies in X.509 strict mode by default, refusing certificates Go's
    verifier accepts (a CA without an Authority Key Identifier, as many clusters' are):
    the engine must reach every API server kubectl reaches."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT
    return ctx


def in_cluster(
    directory: Path = SERVICE_ACCOUNT, environ: Mapping[str, str] = os.environ
) -> ClusterConfig:
    """The service account's config, as a pod sees it (the module docstring says how)."""
    host = environ.get("KUBERNETES_SERVICE_HOST", "")
    port = environ.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise ConfigError("not in a pod: KUBERNETES_SERVICE_HOST and _PORT are not both set")
    ca, token = directory / "ca.crt", directory / "token"
    for path in (ca, token):
        if not path.is_file():
            raise ConfigError(f"in-cluster config: no {path} (is a token mounted in the pod?)")
    try:
        tls = api_server_tls(str(ca))
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(f"in-cluster config: {ca} is not a CA certificate: {err}") from err
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    return ClusterConfig(server, tls, _TokenFile(token).header, TLSFiles(ca_file=str(ca)))


class _TokenFile:
    """The token of a file, read again when the file changes: a stat per request, which
    sees the kubelet's swap of a rotated token at once (client-go re-reads each minute)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._token = ""

    async def header(self) -> str | None:
        try:
            st = self.path.stat()
            seen = (st.st_ino, st.st_mtime_ns, st.st_size)
            if seen != self._seen:
                self._token = self.path.read_text().strip()
                self._seen = seen
        except OSError:
            pass  # mid-swap or gone: the token last read, until the file is back
        return f"Bearer {self._token}" if self._token else None


def _ssl_context(cfg: Any) -> ssl.SSLContext | bool:
    if not cfg.host.startswith("https://"):
        return False
    ctx = api_server_tls(cfg.ssl_ca_cert)
    if not cfg.verify_ssl:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cfg.cert_file:
        ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
    return ctx


def _authorization(cfg: Any) -> AuthHeader:
    async def header() -> str | None:
        token: str | None = await cfg.get_api_key_with_prefix("BearerToken")
        if token:
            return token if token.startswith("Bearer ") else f"Bearer {token}"
        return None

    return header


# What `_simple` reads; a cluster or user with any other key goes to kubernetes_asyncio.
_CLUSTER_KEYS = {"server", "certificate-authority", "certificate-authority-data", "extensions"}
_USER_KEYS = {
    "client-certificate",
    "client-certificate-data",
    "client-key",
    "client-key-data",
    "token",
    "tokenFile",
    "extensions",
}
_DATA_DIR: list[Path] = []


@dataclass(frozen=True)
class StaticCredentials:
    """What `read_static` finds in a kubeconfig whose user is a client certificate or a
    static token: enough for any HTTP client, the standard library's included
    (`kube/quickget.py`)."""

    server: str
    ssl_context: ssl.SSLContext | None
    token: str | None
    tls_files: TLSFiles

    def config(self) -> ClusterConfig:
        token = self.token

        async def header() -> str | None:
            return f"Bearer {token}" if token else None

        tls: ssl.SSLContext | bool = self.ssl_context or False
        return ClusterConfig(self.server, tls, header, self.tls_files)


def _simple(source: str, context: str | None) -> ClusterConfig | None:
    """The config of a kubeconfig whose user is a client certificate or a static token;
    None for anything else (the caller then asks kubernetes_asyncio)."""
    found = read_static(source, context)
    return found.config() if found is not None else None


def read_static(source: str, context: str | None) -> StaticCredentials | None:
    """The server and credentials of a kubeconfig whose user is a client certificate or
    a static token; None for anything else (only kubernetes_asyncio reads those)."""
    try:
        doc = yaml.safe_load(Path(source).read_text())
        name = context or doc.get("current-context")
        ctx = _named(doc, "contexts", name)["context"]
        cluster = _named(doc, "clusters", ctx["cluster"])["cluster"]
        user = _named(doc, "users", ctx["user"])["user"] or {}
    except (OSError, yaml.YAMLError, AttributeError, KeyError, TypeError):
        return None  # let kubernetes_asyncio say what is wrong
    if set(cluster) - _CLUSTER_KEYS or set(user) - _USER_KEYS or not cluster.get("server"):
        return None
    base = Path(source).parent
    ca = _file(cluster, "certificate-authority", base)
    cert = _file(user, "client-certificate", base)
    key = _file(user, "client-key", base)
    server = str(cluster["server"]).rstrip("/")
    tls: ssl.SSLContext | None = None
    if server.startswith("https://"):
        tls = api_server_tls(ca)
        if cert:
            tls.load_cert_chain(cert, key)
    token = user.get("token")
    if not token and user.get("tokenFile"):
        try:
            token = (base / str(user["tokenFile"])).read_text().strip()
        except OSError:
            return None
    return StaticCredentials(server, tls, str(token) if token else None, TLSFiles(ca, cert, key))


def _named(doc: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    """The entry `name` of a section; KeyError when there is none."""
    for entry in doc[section]:
        if entry["name"] == name:
            found: dict[str, Any] = entry
            return found
    raise KeyError(name)


def _file(entry: dict[str, Any], key: str, base: Path) -> str | None:
    """The path of `key`'s file: given, relative to the kubeconfig, or `key-data` written
    to a private file that lives as long as the process (as kubernetes_asyncio does)."""
    if entry.get(key):
        return str(base / str(entry[key]))
    data = entry.get(f"{key}-data")
    if not data:
        return None
    if not _DATA_DIR:
        directory = Path(tempfile.mkdtemp(prefix="kidp-kubeconfig-"))
        atexit.register(_remove, directory)
        _DATA_DIR.append(directory)
    fd, path = tempfile.mkstemp(dir=_DATA_DIR[0])
    with os.fdopen(fd, "wb") as f:
        f.write(base64.b64decode(data))
    return path


def _remove(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
