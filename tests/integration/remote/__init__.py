"""`spec.kubeConfig`: Kustomizations and HelmReleases acting on a second control plane."""
