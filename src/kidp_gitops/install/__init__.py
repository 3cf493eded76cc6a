"""What `kidp install` puts into a cluster: the CRDs, the namespace, service accounts,
RBAC, and the controller Deployment; and applying it."""
