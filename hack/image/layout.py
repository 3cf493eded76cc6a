"""Root filesystem trees as layers of an OCI image, written as an image layout.

    layer(tree, out, owned, sticky, names) -> Layer     a tree, or some of its names, as a
                                                        gzip tarball, deterministic
    write(directory, layers, image, ref) -> digest      oci-layout, index.json, blobs/sha256/…

The tarball depends on the tree's content only: entries in sorted order, time zero, owner
root (the image user's home and data directory are its own), modes 0755 or 0644 for
files and directories (1777 for /tmp), no user or group names, gzip without a name or
time. A layer of some names (the app layer: what the engine's install added over the
base layer) holds those and the directories above them, with the same rules, so it
unpacks over the layer below as it was built over it. Regular files go through
`storage.artifacts.add_file`, the one way our tarballs hold a file.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tarfile
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from kidp_gitops.oci.client import OCI_MANIFEST
from kidp_gitops.storage.artifacts import add_file

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
# zlib's level 4, the fastest of its lazy-matching levels. Over the image's 568 MB tar, one
# layer then (2026-12-07): level 6 (gzip's default) 165.3 MB in 13.3 CPU-s, level 4
# 171.6 MB (+4 %) in 6.2, level 1 187.2 MB (+13 %) in 4.3, level 9 163.9 MB in 45.4. A
# runtime reads any.
COMPRESS_LEVEL = 4


@dataclass(frozen=True)
class Layer:
    path: Path
    digest: str  # of the gzip stream: the blob
    diff_id: str  # of the tar stream: the config's rootfs
    size: int
    unpacked: int  # bytes of file content


@dataclass(frozen=True)
class Image:
    """What the config and the annotations say; `history` what made each layer, in order."""

    user: str
    entrypoint: Sequence[str]
    env: Sequence[str]
    working_dir: str
    annotations: Mapping[str, str]
    created: str
    history: Sequence[str]


def _entries(rootfs: Path, only: Collection[str] | None) -> Iterator[tuple[str, Path]]:
    """Every path under `rootfs`, or those of `only` and the directories above them,
    relative, sorted as tar readers expect (a directory before its content)."""
    names: set[str] = set()
    if only is None:
        for directory, dirs, files in os.walk(rootfs):
            base = os.path.relpath(directory, rootfs)
            for name in dirs + files:
                names.add(name if base == "." else f"{base}/{name}")
    else:
        for name in only:
            names.add(name)
            parent = os.path.dirname(name)
            while parent:
                names.add(parent)
                parent = os.path.dirname(parent)
    for name in sorted(names):
        yield name, rootfs / name


def layer(
    rootfs: Path,
    out: Path,
    owned: Sequence[str],
    sticky: Sequence[str],
    only: Collection[str] | None = None,
    plain: Path | None = None,
) -> Layer:
    """The tree, or the names `only` of it, as a layer blob at `out`; `owned` directories
    belong to the image user (uid/gid 65532), `sticky` ones are 1777. The tar stream goes
    straight into gzip, each hashed on its way (the diff_id and the digest): no
    uncompressed copy on disk, unless `plain` asks for one there."""
    with open(out, "wb") as raw, open(plain or os.devnull, "wb") as copy:
        blob = _Hashing(raw)
        # No file name and time zero in the gzip header: the same tar, the same blob.
        with gzip.GzipFile(
            filename="", mode="wb", fileobj=blob.stream, mtime=0, compresslevel=COMPRESS_LEVEL
        ) as gz:
            tarred = _Hashing(gz, copy if plain else None)
            with tarfile.open(fileobj=tarred.stream, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                unpacked = _add_tree(tar, _entries(rootfs, only), owned, sticky)
    return Layer(out, blob.digest(), tarred.digest(), blob.size, unpacked)


def _add_tree(
    tar: tarfile.TarFile,
    entries: Iterable[tuple[str, Path]],
    owned: Sequence[str],
    sticky: Sequence[str],
) -> int:
    """Each of `entries` into `tar`; returns the bytes of file content."""
    unpacked = 0
    for name, full in entries:
        if full.is_symlink():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = os.readlink(full)
            info.mode = 0o777
            tar.addfile(info)
        elif full.is_dir():
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if name in sticky else 0o755
            if name in owned:
                info.uid = info.gid = 65532
            tar.addfile(info)
        elif full.is_file():
            add_file(tar, full, name)
            unpacked += full.stat().st_size
        else:
            raise ValueError(f"{name}: neither a file, a directory nor a link")
    return unpacked


class _Hashing:
    """A write-only stream into `sink` (and `copy`, when given) that counts and hashes
    what passes through it."""

    def __init__(self, sink: IO[bytes] | gzip.GzipFile, copy: IO[bytes] | None = None) -> None:
        self.sink = sink
        self.copy = copy
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        self.sink.write(data)
        if self.copy is not None:
            self.copy.write(data)
        return len(data)

    def flush(self) -> None:
        self.sink.flush()

    @property
    def stream(self) -> IO[bytes]:
        return cast(IO[bytes], self)  # tarfile and gzip only write and flush

    def digest(self) -> str:
        return f"sha256:{self.sha256.hexdigest()}"


def write(directory: Path, layers: Sequence[Layer], image: Image, ref_name: str) -> str:
    """The image layout in `directory` (which must not exist), its `layers` in order, the
    lowest first (their files are moved into it); returns the manifest's digest."""
    if len(layers) != len(image.history):
        raise ValueError("one history entry for each layer")
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    (directory / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    for blob in layers:
        shutil.move(blob.path, blobs / blob.digest.removeprefix("sha256:"))
    config = {
        "created": image.created,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": image.user,
            "Entrypoint": list(image.entrypoint),
            "Env": list(image.env),
            "WorkingDir": image.working_dir,
            "Labels": dict(image.annotations),
        },
        "rootfs": {"type": "layers", "diff_ids": [blob.diff_id for blob in layers]},
        "history": [
            {"created": image.created, "created_by": f"make image (hack/image): {made}"}
            for made in image.history
        ],
    }
    config_digest, config_size = _put(blobs, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config_size},
        "layers": [
            {"mediaType": LAYER_MEDIA_TYPE, "digest": blob.digest, "size": blob.size}
            for blob in layers
        ],
        "annotations": dict(image.annotations),
    }
    manifest_digest, manifest_size = _put(blobs, manifest)
    index = {
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": manifest_digest,
                "size": manifest_size,
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {"org.opencontainers.image.ref.name": ref_name},
            }
        ],
    }
    (directory / "index.json").write_bytes(_canonical(index))
    return manifest_digest


def _canonical(document: object) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _put(blobs: Path, document: object) -> tuple[str, int]:
    data = _canonical(document)
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return f"sha256:{digest}", len(data)
