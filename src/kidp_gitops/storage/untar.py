"""The one way a gzip tarball is unpacked: bounded, and never outside its destination.

Every tarball we open may come from a tenant — an OCI layer a registry sent, stored as it
came (`layerSelector.operation: copy`), a chart from a repository, an artifact from the
store — so each is read under the same rules: at most `max_bytes` of expanded data and
`max_entries` entries, counting the entries that are skipped too (tarfile decompresses
their data to get past them, so a bomb hidden in an entry of an odd type costs as much as
one in a file); regular files and directories only, plus links that stay inside the
destination when the caller allows links (artifacts of Git repositories hold them);
devices, FIFOs and anything the `data` filter refuses are an error or left out.
Blocking: call it from a worker thread.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path


class UnsafeArchive(Exception):
    """The tarball breaks a limit, escapes its destination or is not a gzip tarball;
    the message says which, naming no path outside the archive."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 1 << 30
    """Expanded data of all entries together."""
    max_entries: int = 100_000
    links: bool = False
    """Extract symbolic and hard links that stay inside the destination (else skip them)."""


ARTIFACT = Limits(links=True)
"""Artifacts of the store: a Git repository's links kept, as the packer wrote them."""


def extract(source: Path | bytes, dest: Path, limits: Limits = ARTIFACT) -> None:
    """Unpack the gzip tarball `source` (a file, or its bytes) into `dest` (created)."""
    dest.mkdir(parents=True, exist_ok=True)
    total = entries = 0
    try:
        data = io.BytesIO(source) if isinstance(source, bytes) else None
        with tarfile.open(None if data else source, mode="r:gz", fileobj=data) as tar:
            for member in tar:
                entries += 1
                if entries > limits.max_entries:
                    raise UnsafeArchive(f"more than {limits.max_entries} entries")
                total += max(member.size, 0)
                if total > limits.max_bytes:
                    raise UnsafeArchive(f"expands to more than {limits.max_bytes} bytes")
                wanted = member.isfile() or member.isdir()
                if limits.links and (member.issym() or member.islnk()):
                    wanted = True
                if not wanted:
                    continue  # devices, FIFOs, and links when not allowed: left out
                try:
                    tar.extract(member, dest, filter="data")
                except tarfile.FilterError as err:
                    # The entry's name is the archive's: cut, as it lands in a status.
                    raise UnsafeArchive(f"unsafe entry: {str(err)[:300]}") from None
                except OSError as err:  # a file over a directory ('../dest'), a full disk
                    raise UnsafeArchive(
                        f"entry '{member.name[:200]}' cannot be unpacked: {err.strerror}"
                    ) from None
    except UnsafeArchive:
        raise
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise UnsafeArchive(f"not a gzip tarball: {err}") from None
