"""The only package that talks to the Kubernetes API server.

Everything above it (runtime, controllers, CLI, dashboard) goes through `KubeClient`.
Errors from the server arrive as `ApiError`, transport failures as `ConnectionFailed`;
both derive from `KubeError`, so a caller can catch by layer.
"""

from kidp_gitops.kube.client import (
    ApiError,
    ConnectionFailed,
    KubeClient,
    KubeError,
    service_account_user,
)
from kidp_gitops.kube.config import ClusterConfig, load_config

__all__ = [
    "ApiError",
    "ClusterConfig",
    "ConnectionFailed",
    "KubeClient",
    "KubeError",
    "load_config",
    "service_account_user",
]
