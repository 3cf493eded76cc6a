"""OCI registries: the distribution client and Flux's artifact format.

Where it fits: plumbing under the controllers and the CLI, as `vcs` is for Git. `reference`
reads `oci://` URLs, `client` speaks the distribution API (tags, manifests, blobs; push and
pull; a registry's 401 is answered by `runtime/registryauth.py`), `artifact` packs and
unpacks a directory as Flux's `flux push artifact` does. It reaches the network only
through `runtime/outbound.py` and never the API server.

    OCIError                       anything a registry or its content refused
    └── AuthError                  the registry refused the credentials (or wanted some)
"""
