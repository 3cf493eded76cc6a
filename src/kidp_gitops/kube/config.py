"""Where the API server is and how to authenticate to it.

kubernetes_asyncio's loaders read kubeconfig files (contexts, client certificates,
tokens, exec and OIDC plugins) and the in-cluster service account (with token rotation);
we keep only the result: the server URL, a TLS context, and a coroutine that returns the
current Authorization header, refreshed by the loader's hook when a plugin issues tokens.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.config import incluster_config, kube_config
from kubernetes_asyncio.config.config_exception import ConfigException

from kidp_gitops.kube.errors import ConfigError

AuthHeader = Callable[[], Awaitable[str | None]]


@dataclass(frozen=True)
class TLSFiles:
    """The TLS files the loader used, for programs that need a kubeconfig of their own
    (helm): paths only, never their content."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True


@dataclass(frozen=True)
class ClusterConfig:
    server: str
    ssl_context: ssl.SSLContext | bool
    authorization: AuthHeader
    tls_files: TLSFiles = TLSFiles()


async def load_config(
    kubeconfig: str | Path | None = None, context: str | None = None
) -> ClusterConfig:
    """Load from `kubeconfig` (or $KUBECONFIG, ~/.kube/config), else from the in-cluster
    service account when running in a pod."""
    cfg: Any = Configuration()
    source = _kubeconfig_file(kubeconfig)
    try:
        if source:
            await kube_config.load_kube_config(
                config_file=source,
                context=context,
                client_configuration=cfg,
                persist_config=False,
            )
        else:
            incluster_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    except ConfigException as err:
        raise ConfigError(f"invalid kubeconfig: {err}") from err
    files = TLSFiles(cfg.ssl_ca_cert, cfg.cert_file, cfg.key_file, bool(cfg.verify_ssl))
    return ClusterConfig(cfg.host, _ssl_context(cfg), _authorization(cfg), files)


def _kubeconfig_file(explicit: str | Path | None) -> str | None:
    """The kubeconfig file to read, or None to use the in-cluster service account."""
    path = str(explicit) if explicit else os.environ.get("KUBECONFIG")
    default = Path.home() / ".kube" / "config"
    if not path and not default.exists() and "KUBERNETES_SERVICE_HOST" in os.environ:
        return None
    source = path or str(default)
    if not os.path.isfile(source):
        raise ConfigError(f"no kubeconfig at {source} (set --kubeconfig or KUBECONFIG)")
    return source


def _ssl_context(cfg: Any) -> ssl.SSLContext | bool:
    if not cfg.host.startswith("https://"):
        return False
    ctx = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
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
