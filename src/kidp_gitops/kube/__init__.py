"""The only package that talks to the Kubernetes API server.

Everything above it (runtime, controllers, CLI, dashboard) goes through `KubeClient`, the
`RestMapper` (kinds to paths), informers (cached, watched lists) and the leader lease.
Errors are the tree in `kube.errors`.

The client and the mapper load when first named: `kube.config` and `kube.quickget` (TAB
completion's one GET) must not pay for aiohttp, which importing this package would
otherwise load first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kidp_gitops.kube.config import ClusterConfig, load_config
from kidp_gitops.kube.errors import ApiError, ConfigError, ConnectionFailed, KubeError

if TYPE_CHECKING:
    from kidp_gitops.kube.client import KubeClient, service_account_user
    from kidp_gitops.kube.mapper import Resource, RestMapper, UnknownKind

_LAZY = {
    "KubeClient": "client",
    "service_account_user": "client",
    "Resource": "mapper",
    "RestMapper": "mapper",
    "UnknownKind": "mapper",
}

__all__ = [
    "ApiError",
    "ClusterConfig",
    "ConfigError",
    "ConnectionFailed",
    "KubeClient",
    "KubeError",
    "Resource",
    "RestMapper",
    "UnknownKind",
    "load_config",
    "service_account_user",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
