"""The Flux-compatible API types, and the CRD manifests generated from them."""
