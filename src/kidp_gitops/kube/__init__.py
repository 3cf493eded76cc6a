"""The only package that talks to the Kubernetes API server.

Everything above it (runtime, controllers, CLI, dashboard) goes through `KubeClient`, the
`RestMapper` (kinds to paths), informers (cached, watched lists) and the leader lease.
Errors are the tree in `kube.errors`.
"""

from kidp_gitops.kube.client import KubeClient, service_account_user
from kidp_gitops.kube.config import ClusterConfig, load_config
from kidp_gitops.kube.errors import ApiError, ConfigError, ConnectionFailed, KubeError
from kidp_gitops.kube.mapper import Resource, RestMapper, UnknownKind

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
