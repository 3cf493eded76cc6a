"""Which files of a fetched tree go into an artifact, with Flux's rules.

Always left out: the VCS files (`.git/`, `.gitignore`, `.gitmodules`, `.gitattributes`).
Left out unless `spec.ignore` is set (it replaces them): media and archives, CI
configuration, and tool files that mean nothing to a cluster (Flux's default list).
Added on top: `spec.ignore` (gitignore syntax, relative to the root) and every
`.sourceignore` file in the tree, each applying to its own directory and below.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from pathspec import GitIgnoreSpec

SOURCEIGNORE = ".sourceignore"
VCS = [".git/", ".gitignore", ".gitmodules", ".gitattributes"]
DEFAULTS = [
    # media and archives
    "*.jpg", "*.jpeg", "*.gif", "*.png", "*.wmv", "*.flv", "*.tar.gz", "*.zip",
    # CI configuration
    ".github/", ".circleci/", ".travis.yml", ".gitlab-ci.yml", "appveyor.yml", ".drone.yml",
    "cloudbuild.yaml", "codeship-services.yml", "codeship-steps.yml",
    # tool files
    "**/.goreleaser.yml", "**/.sops.yaml", "**/.flux.yaml",
]  # fmt: skip


def _rebase(pattern: str, directory: str) -> str | None:
    """A pattern of a `.sourceignore` in `directory`, as a pattern of the root."""
    line = pattern.rstrip("\n")
    if not line.strip() or line.startswith("#") or not directory:
        return line if line.strip() and not line.startswith("#") else None
    negate = line.startswith("!")
    body = line[1:] if negate else line
    anchored = "/" in body.rstrip("/")
    body = body.lstrip("/")
    rebased = f"/{directory}/{body}" if anchored else f"/{directory}/**/{body}"
    return ("!" if negate else "") + rebased


class IgnoreRules:
    def __init__(self, root: Path, spec_ignore: str | None):
        patterns = list(VCS)
        patterns += spec_ignore.splitlines() if spec_ignore is not None else DEFAULTS
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != ".git"]
            if SOURCEIGNORE in filenames:
                rel = os.path.relpath(dirpath, root)
                rel = "" if rel == "." else rel.replace(os.sep, "/")
                text = Path(dirpath, SOURCEIGNORE).read_text(errors="replace")
                patterns += [p for line in text.splitlines() if (p := _rebase(line, rel))]
        self._spec = GitIgnoreSpec.from_lines(patterns)

    def ignored(self, relpath: str, is_dir: bool = False) -> bool:
        return self._spec.match_file(relpath + "/" if is_dir else relpath)

    def files(self, root: Path) -> Iterator[str]:
        """Every kept regular file under `root` (relative, '/'-separated, in a stable
        order), skipping ignored directories whole. Symlinks are left out, as Flux leaves
        them out: an artifact never points outside itself."""
        for dirpath, dirnames, filenames in os.walk(root):
            rel = os.path.relpath(dirpath, root)
            base = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            dirnames[:] = sorted(d for d in dirnames if not self.ignored(base + d, is_dir=True))
            for name in sorted(filenames):
                if not self.ignored(base + name) and not os.path.islink(Path(dirpath, name)):
                    yield base + name
