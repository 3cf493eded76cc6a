"""`make image`: the engine's container image, built without a container daemon.

debian    the Debian packages of the root filesystem: resolved, downloaded, extracted
rootfs    the root filesystem's system part: packages, users, CA bundle, helm
venv      the engine's venv, made by the image's Python: its dependencies (base layer),
          the engine itself (app layer), bytecode, the import check
layers    the two layers, base and app: their cache keys, their builds, their records
layout    trees as deterministic layers, and the OCI image layout of them
build     the entry point: the inputs, the layers, `--verify`, the reference printed
spent     what each phase of a layer's build spent
"""
