"""YAML as Go's yaml.v3 (kustomize, sops, Flux) reads and writes it: `yamlio`."""
