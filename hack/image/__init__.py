"""`make image`: the engine's container image, built without a container daemon.

debian    the Debian packages of the root filesystem: resolved, downloaded, extracted
rootfs    the root filesystem assembled: packages, helm, the engine's venv, users
layout    the root filesystem as one deterministic layer of an OCI image layout
build     the entry point: the cache key, the steps in order, the reference printed
"""
