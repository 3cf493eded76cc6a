"""A kubeconfig for helm, made from a client's configuration: the engine's own, or a
remote cluster's (`spec.kubeConfig`).

helm needs a kubeconfig; the engine holds its credentials in memory (a token, the TLS
files its loader wrote, or a remote's TLS material as data). `document(config)` is it
as a document, which the Helm helper receives over its private pipe (`runner`): no file.
`written(config)` writes the same to a 0600 file in a private 0700 directory and removes
both when the block ends: what each helm process was given before the helper; the
engine no longer calls it. Neither is ever logged.
"""

from __future__ import annotations

import base64
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import yaml

from kidp_gitops.kube.config import ClusterConfig
from kidp_gitops.proc import background

_NAME = "kidp"


@contextlib.asynccontextmanager
async def written(config: ClusterConfig) -> AsyncIterator[Path]:
    """A kubeconfig file for `config`, valid inside the block."""
    doc = await document(config)
    directory = Path(tempfile.mkdtemp(prefix="kidp-helm-kube-"))
    try:
        path = directory / "config"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        yield path
    finally:
        # At once, not in the background: the file holds the engine's credentials. One
        # file and its directory: two system calls, no tree to walk.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(directory / "config")
        try:
            os.rmdir(directory)
        except OSError:  # something else was written there
            background.discard(directory)


async def document(config: ClusterConfig) -> dict[str, Any]:
    files = config.tls_files
    cluster: dict[str, Any] = {"server": config.server}
    if files.ca_file:
        cluster["certificate-authority"] = files.ca_file
    if not files.verify:
        cluster["insecure-skip-tls-verify"] = True
    user: dict[str, Any] = {}
    if files.cert_file and files.key_file:
        user["client-certificate"] = files.cert_file
        user["client-key"] = files.key_file
    inline = config.inline
    if inline is not None:
        for entry, key, value in (
            (cluster, "certificate-authority-data", inline.ca),
            (user, "client-certificate-data", inline.cert),
            (user, "client-key-data", inline.key),
        ):
            if value:
                entry[key] = base64.b64encode(value).decode()
    header = await config.authorization()
    if header and header.startswith("Bearer "):
        user["token"] = header.removeprefix("Bearer ")
    elif header and header.startswith("Basic "):
        basic = base64.b64decode(header.removeprefix("Basic ")).decode()
        user["username"], _, user["password"] = basic.partition(":")
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": _NAME, "cluster": cluster}],
        "users": [{"name": _NAME, "user": user}],
        "contexts": [{"name": _NAME, "context": {"cluster": _NAME, "user": _NAME}}],
        "current-context": _NAME,
    }
