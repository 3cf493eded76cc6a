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
        _refuse(os.fstat(f.fileno()).st_size, shown)
        data = f.read(limit + 1)  # a file that grows meanwhile is still cut off
    _refuse(len(data), shown)
    return data


def _refuse(size: int, shown: str) -> None:
    limit = sandbox.LIMITS.file_size
    if size > limit:
        raise errors.FileTooLarge(
            f"{shown} is {size / sandbox.MiB:.1f} MiB, over the {limit / sandbox.MiB:g} MiB "
            "limit of a file a build reads"
        )
