"""The artifact store: gzip tarballs of fetched trees, named by their content.

    <root>/<kind>/<namespace>/<name>/<sha256-hex>.tar.gz

A tarball is built deterministically (sorted entries, zero times and owners, normalised
modes), so the same tree always gives the same digest: an unchanged revision produces no
new artifact and no consumer work. Each object keeps its newest `retain` artifacts; older
ones are removed. Consumers in the same process read files directly; others fetch
`Artifact.url` from the HTTP server, which serves regular files inside the root only.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from kidp_gitops.storage import untar

_HEX = frozenset("0123456789abcdef")
_SUFFIX = ".tar.gz"


@dataclass(frozen=True)
class Artifact:
    path: str  # relative to the store root
    url: str
    revision: str
    digest: str  # "sha256:<hex>"
    size: int
    last_update_time: str

    def status(self) -> dict[str, object]:
        """The `status.artifact` of a source object, in Flux's field names."""
        return {
            "path": self.path,
            "url": self.url,
            "revision": self.revision,
            "digest": self.digest,
            "size": self.size,
            "lastUpdateTime": self.last_update_time,
        }


def _tarball(root: Path, files: list[str]) -> bytes:
    buf = io.BytesIO()
    # mtime=0 in the gzip header too: identical trees give identical bytes.
    with (
        gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=6) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for rel in files:
            add_file(tar, root / rel, rel)
    return buf.getvalue()


def add_file(tar: tarfile.TarFile, full: Path, name: str) -> None:
    """One regular file as an entry that depends on nothing but its bytes and whether it
    is executable: mode 0644 or 0755, time zero, no owner — identical trees, identical
    tarballs."""
    st = full.stat()
    info = tarfile.TarInfo(name)
    info.size = st.st_size
    info.mode = 0o755 if st.st_mode & 0o111 else 0o644
    info.mtime = 0
    with open(full, "rb") as f:
        tar.addfile(info, f)


class ArtifactStore:
    def __init__(self, root: Path, base_url: str, retain: int = 2):
        self.root = root.resolve()
        self.base_url = base_url.rstrip("/")
        self.retain = retain

    def object_dir(self, kind: str, namespace: str, name: str) -> Path:
        return self.root / kind.lower() / namespace / name

    def archive(
        self,
        kind: str,
        namespace: str,
        name: str,
        tree: Path,
        files: Iterable[str],
        revision: str,
    ) -> Artifact:
        """Pack `files` (relative paths under `tree`, already filtered by the producer's
        ignore rules) as the newest artifact of the object."""
        data = _tarball(tree, list(files))
        digest = hashlib.sha256(data).hexdigest()
        directory = self.object_dir(kind, namespace, name)
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / f"{digest}{_SUFFIX}"
        if not target.exists():
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)  # readers never see a partial file
        else:
            os.utime(target)  # now the newest, for retention
        self._retain(directory)
        rel = target.relative_to(self.root).as_posix()
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Artifact(rel, f"{self.base_url}/{rel}", revision, f"sha256:{digest}", len(data), now)

    def adopt(
        self, kind: str, namespace: str, name: str, file: Path, revision: str, digest: str
    ) -> Artifact:
        """Move `file`, a finished tarball (an OCI layer stored as the registry sent it), in
        as the newest artifact of the object. `digest` (`sha256:<hex>`) is the file's, which
        the caller has checked while it downloaded it: the file is not read again."""
        algorithm, _, hexdigest = digest.partition(":")
        if algorithm != "sha256" or len(hexdigest) != 64 or not set(hexdigest) <= _HEX:
            raise ValueError(f"not a sha256 digest: {digest!r}")
        directory = self.object_dir(kind, namespace, name)
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / f"{hexdigest}{_SUFFIX}"
        size = file.stat().st_size
        if target.exists():
            file.unlink()
            os.utime(target)
        else:
            # A rename when the work directory shares the store's file system (the engine
            # keeps both under its data directory): readers never see a partial file.
            shutil.move(file, target)
        self._retain(directory)
        rel = target.relative_to(self.root).as_posix()
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Artifact(rel, f"{self.base_url}/{rel}", revision, f"sha256:{hexdigest}", size, now)

    def _retain(self, directory: Path) -> None:
        artifacts = sorted(
            directory.glob(f"*{_SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True
        )
        for old in artifacts[self.retain :]:
            old.unlink(missing_ok=True)

    def remove_object(self, kind: str, namespace: str, name: str) -> None:
        """Remove every artifact of a deleted object."""
        directory = self.object_dir(kind, namespace, name)
        for f in directory.glob("*"):
            f.unlink(missing_ok=True)
        for d in (directory, directory.parent):
            try:
                d.rmdir()
            except OSError:
                break

    def local_path(self, artifact_path: str) -> Path | None:
        """The file of an artifact path if it is a regular file inside the root."""
        candidate = (self.root / artifact_path).resolve()
        if not candidate.is_relative_to(self.root) or candidate.is_symlink():
            return None
        return candidate if candidate.is_file() else None

    def extract(self, artifact_path: str, dest: Path) -> None:
        """Unpack an artifact into `dest` (created), within `untar`'s bounds (UnsafeArchive)."""
        source = self.local_path(artifact_path)
        if source is None:
            raise FileNotFoundError(f"no artifact {artifact_path}")
        untar.extract(source, dest)

    def http_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{path:.+}", self._serve)
        return app

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        path = self.local_path(request.match_info["path"])
        if path is None or not path.name.endswith(_SUFFIX):
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Content-Type": "application/gzip"})
