"""The local control plane used by `kidp up`, `kidp dev cluster` and the integration tests."""

from kidp_gitops.devcluster.cluster import AlreadyRunning, ClusterStatus, DevCluster
from kidp_gitops.devcluster.errors import ComponentFailed, DevClusterError

__all__ = ["AlreadyRunning", "ClusterStatus", "ComponentFailed", "DevCluster", "DevClusterError"]
