"""Flux's OCI artifact: a directory of manifests as one image manifest, as `flux push
artifact` (fluxcd/pkg/oci) writes it and source-controller reads it.

    manifest  application/vnd.oci.image.manifest.v1+json, annotated with
              org.opencontainers.image.created | source | revision (and the user's own)
    config    application/vnd.cncf.flux.config.v1+json (an image config: `created`, the
              layer's diff ID; readers ignore it)
    layer     application/vnd.cncf.flux.content.v1.tar+gzip: the directory as a gzip tarball

`pack` builds the layer (ignore rules as `flux push artifact --ignore-paths`, symlinks
left out), `push` uploads it, `pull` downloads the layer a selector picks and unpacks it
(bounded: compressed size, expanded size, entry count; no links, nothing outside the
destination). The tar work runs in worker threads.
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pathspec import GitIgnoreSpec

from kidp_gitops.oci.client import OCI_MANIFEST, Client, Manifest
from kidp_gitops.oci.errors import OCIError
from kidp_gitops.storage import artifacts, untar

CONFIG_MEDIA_TYPE = "application/vnd.cncf.flux.config.v1+json"
CONTENT_MEDIA_TYPE = "application/vnd.cncf.flux.content.v1.tar+gzip"
CREATED = "org.opencontainers.image.created"
SOURCE = "org.opencontainers.image.source"
REVISION = "org.opencontainers.image.revision"
DEFAULT_IGNORE = [
    ".git/", ".gitignore", ".gitmodules", ".gitattributes",
    "*.jpg", "*.jpeg", "*.gif", "*.png", "*.wmv", "*.flv", "*.tar.gz", "*.zip",
]  # fmt: skip
"""`flux push artifact`'s default --ignore-paths: VCS files, media and archives."""
MAX_LAYER_SIZE = 256 << 20
"""Compressed bytes of a layer we download."""
MAX_EXPANDED_SIZE = 1 << 30
"""Bytes a layer may expand to."""
MAX_ENTRIES = 100_000
LAYER_LIMITS = untar.Limits(MAX_EXPANDED_SIZE, MAX_ENTRIES, links=False)


@dataclass(frozen=True)
class Metadata:
    """What an artifact's manifest says about it."""

    digest: str
    created: str | None = None
    source: str | None = None
    revision: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, manifest: Manifest) -> Metadata:
        raw = manifest.body.get("annotations") or {}
        annotations = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        return cls(
            manifest.digest,
            annotations.get(CREATED),
            annotations.get(SOURCE),
            annotations.get(REVISION),
            annotations,
        )


@dataclass(frozen=True)
class Layer:
    """A packed layer: the gzip tarball and the digest of the tar inside (its diff ID)."""

    data: bytes = field(repr=False)
    diff_id: str


def pack(path: Path, ignore_paths: list[str] | None = None) -> Layer:
    """`path` (a directory, or one file) as a gzip tarball, leaving out what the
    gitignore-style `ignore_paths` match (DEFAULT_IGNORE when None). Blocking."""
    if not path.exists():
        raise OCIError(f"invalid path '{path}': it must be an existing directory or file")
    spec = GitIgnoreSpec.from_lines(DEFAULT_IGNORE if ignore_paths is None else ignore_paths)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if path.is_file():
            artifacts.add_file(tar, path, path.name)
        else:
            for dirpath, dirnames, filenames in os.walk(path):
                rel = Path(dirpath).relative_to(path).as_posix()
                base = "" if rel == "." else rel + "/"
                dirnames[:] = sorted(
                    d
                    for d in dirnames
                    if not spec.match_file(base + d + "/") and not Path(dirpath, d).is_symlink()
                )
                if base:
                    info = tarfile.TarInfo(base.rstrip("/"))
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                for name in sorted(filenames):
                    full = Path(dirpath, name)
                    if spec.match_file(base + name) or full.is_symlink():
                        continue
                    artifacts.add_file(tar, full, base + name)
    tar_bytes = raw.getvalue()
    diff_id = "sha256:" + hashlib.sha256(tar_bytes).hexdigest()
    return Layer(gzip.compress(tar_bytes, compresslevel=6, mtime=0), diff_id)


def image(
    layer: Layer,
    layer_digest: str,
    *,
    source: str,
    revision: str,
    annotations: Mapping[str, str] | None = None,
    created: str | None = None,
) -> tuple[bytes, bytes]:
    """The config and the manifest of an artifact of one layer (`created` defaults to now,
    RFC 3339, UTC)."""
    stamp = created or datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    config = json.dumps(
        {
            "architecture": "",
            "created": stamp,
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
            "config": {},
        },
        separators=(",", ":"),
    ).encode()
    notes = {CREATED: stamp, SOURCE: source, REVISION: revision, **(annotations or {})}
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": CONFIG_MEDIA_TYPE,
            "size": len(config),
            "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
        },
        "layers": [
            {"mediaType": CONTENT_MEDIA_TYPE, "size": len(layer.data), "digest": layer_digest}
        ],
        "annotations": notes,
    }
    return config, json.dumps(manifest, separators=(",", ":")).encode()


async def push(
    client: Client,
    tag: str,
    path: Path,
    *,
    source: str,
    revision: str,
    annotations: Mapping[str, str] | None = None,
    ignore_paths: list[str] | None = None,
    created: str | None = None,
) -> str:
    """Pack `path` and push it as `tag`; returns the manifest's digest."""
    layer = await asyncio.to_thread(pack, path, ignore_paths)
    layer_digest = await client.push_blob(layer.data)
    config, manifest = image(
        layer,
        layer_digest,
        source=source,
        revision=revision,
        annotations=annotations,
        created=created,
    )
    await client.push_blob(config)
    return await client.push_manifest(tag, manifest, OCI_MANIFEST)


IMAGE_MANIFESTS = (OCI_MANIFEST, "application/vnd.docker.distribution.manifest.v2+json")


def _untyped_image(manifest: Manifest) -> bool:
    """An image manifest that names no media type, in its body or the registry's
    Content-Type (the image spec only says it SHOULD): known by its shape, layers and no
    `manifests` (which an index has)."""
    if manifest.media_type not in ("", "application/json", "application/octet-stream"):
        return False
    body = manifest.body
    return body.get("schemaVersion") == 2 and "layers" in body and "manifests" not in body


def select_layer(manifest: Manifest, media_type: str | None) -> dict[str, Any]:
    """The first layer of `media_type`, or the first layer when no type is asked for
    (source-controller's rule)."""
    if manifest.media_type not in IMAGE_MANIFESTS and not _untyped_image(manifest):
        raise OCIError(f"{manifest.digest} is a {manifest.media_type}, not an image manifest")
    layers = [x for x in manifest.body.get("layers") or [] if isinstance(x, dict)]
    if not layers:
        raise OCIError(f"artifact {manifest.digest} has no layers")
    if not media_type:
        return layers[0]
    for layer in layers:
        if layer.get("mediaType") == media_type:
            return layer
    raise OCIError(f"artifact {manifest.digest} has no layer of media type '{media_type}'")


async def download_layer(client: Client, layer: Mapping[str, Any], dest: Path) -> None:
    """The layer's blob into the file `dest`, size and digest checked."""
    size = layer.get("size")
    if isinstance(size, int) and size > MAX_LAYER_SIZE:
        raise OCIError(f"the layer is {size} bytes, over the limit of {MAX_LAYER_SIZE}")
    await client.blob_to_file(str(layer.get("digest", "")), dest, MAX_LAYER_SIZE)


def extract(tarball: Path, dest: Path) -> None:
    """Unpack a layer into `dest` (created): regular files and directories only (links
    and devices left out, as Flux skips symlinks), nothing outside `dest`, at most
    MAX_EXPANDED_SIZE bytes and MAX_ENTRIES entries. Blocking."""
    try:
        untar.extract(tarball, dest, LAYER_LIMITS)
    except untar.UnsafeArchive as err:
        raise OCIError(f"the layer is refused: {err}") from None


async def pull(client: Client, ref: str, dest: Path, workdir: Path) -> Metadata:
    """Download the artifact `ref` names and unpack its first Flux layer (or first layer)
    into `dest`."""
    manifest = await client.manifest(ref)
    layer = select_layer(manifest, None)
    blob = workdir / "layer.tar.gz"
    await download_layer(client, layer, blob)
    try:
        await asyncio.to_thread(extract, blob, dest)
    finally:
        await asyncio.to_thread(blob.unlink, True)
    return Metadata.of(manifest)
