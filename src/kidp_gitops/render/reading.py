"""Reading a repository's file, never more than the build file-size limit.

A tenant may commit a file of any size; a build that reads it whole would hold it in
memory (and a parser would then expand it). Every file a build reads, in process or
through kustomize, is held to `sandbox.LIMITS.file_size` (8 MiB by default, the flag
`--build-file-size-limit`): over it, the build fails naming the file.

    read(path, shown) -> bytes        raises errors.FileTooLarge
    check(path, shown)                the same, without reading (for kustomize's files)
"""

from __future__ import annotations

import os
from pathlib import Path

from kidp_gitops.proc import sandbox
from kidp_gitops.render import errors


def check(path: Path, shown: str) -> None:
    _refuse(os.stat(path).st_size, shown)


def read(path: Path, shown: str) -> bytes:
    limit = sandbox.LIMITS.file_size
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        _refuse(size, shown)
        # Ask for the size it has and a byte more, not for the limit: read(limit + 1)
        # allocates a buffer of the limit (8 MiB) for every small file (25 against 8 us).
        data = f.read(size + 1)
        if len(data) > size:  # it grew meanwhile: read on, still cut off past the limit
            data += f.read(limit + 1 - len(data))
    _refuse(len(data), shown)
    return data


def _refuse(size: int, shown: str) -> None:
    limit = sandbox.LIMITS.file_size
    if size > limit:
        raise errors.FileTooLarge(
            f"{shown} is {size / sandbox.MiB:.1f} MiB, over the {limit / sandbox.MiB:g} MiB "
            "limit of a file a build reads"
        )
