"""An ArtifactGenerator's copy operations: the tree of one generated artifact, built from
the extracted trees of its sources. Blocking: run it in a worker thread.

    compose(copies, sources, staging, limits) -> list of files   (ComposeError on failure)

The semantics are source-watcher's, which are `cp`'s:

    from a file         → `to` as the file's new name, or into `to` when `to` ends in '/'
                          or is a directory already made by an earlier operation
    from a directory    → copied as a subdirectory of `to` (`@src/dir` → `to/dir/...`);
                          `@src/` copies the whole source into `to`
    from a glob         → every match (`*` within one segment; `dir/**` are dir's entries,
                          copied without the `dir/` prefix; other globs keep their path)
    exclude             → globs against the path in the source, or relative to the
                          literal part of `from`; without '/', against the file name
    strategy Merge      → a YAML file merged into the one already at the destination
                          (maps deep, everything else replaced, as Helm merges values)
    strategy Extract    → .tgz / .tar.gz files unpacked into `to` (a glob skips others)

Operations run in order; a later one overwrites what an earlier one wrote. The content is
a tenant's: nothing is read outside a source's tree (a symbolic link leading out is an
error), nothing is written outside the staging tree (`..` in a path is refused), and the
whole tree is bounded in bytes, files and time.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kidp_gitops.api import generator as api
from kidp_gitops.goyaml import yamlio
from kidp_gitops.runtime import transform
from kidp_gitops.source import globs
from kidp_gitops.storage import untar

TARBALLS = (".tar.gz", ".tgz")


class ComposeError(Exception):
    """A copy operation that cannot be done; the message says which and why."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 1 << 30
    """All files of one generated artifact together."""
    max_files: int = 100_000
    max_merge_bytes: int = 16 << 20
    """One YAML file read for a merge."""
    max_seconds: float = 600.0
    """The whole composition (checked at every file written)."""


def compose(
    copies: Sequence[api.CopyOperation],
    sources: dict[str, Path],
    staging: Path,
    limits: Limits = Limits(),
) -> list[str]:
    """Run `copies` from `sources` (alias → extracted tree) into `staging` (created);
    return the files made, relative and sorted."""
    staging.mkdir(parents=True, exist_ok=True)
    builder = _Builder(sources, staging.resolve(), limits)
    for op in copies:
        try:
            builder.apply(op)
        except ComposeError as err:
            raise ComposeError(f"copy from '{op.from_}' to '{op.to}': {err}") from None
    return builder.files()


def split_from(text: str) -> tuple[str, str]:
    """`@alias/pattern` → (alias, pattern)."""
    alias, sep, pattern = text.removeprefix("@").partition("/")
    if not text.startswith("@") or not sep:
        raise ComposeError("source must be written '@alias/path'")
    return alias, pattern


def _relative(path: str, what: str) -> str:
    """`path` as a clean relative path ('.' for the root); '..' or absolute refused."""
    cleaned = posixpath.normpath(path) if path else "."
    if cleaned.startswith("/") or cleaned == ".." or cleaned.startswith("../"):
        raise ComposeError(f"{what} '{path}' leaves its root")
    return cleaned


def _literal_root(pattern: str) -> str:
    """The segments of `pattern` before the first glob segment ('.' when none)."""
    kept: list[str] = []
    for segment in posixpath.normpath(pattern).split("/"):
        if globs.has_magic(segment):
            break
        kept.append(segment)
    return "/".join(kept) or "."


class _Builder:
    def __init__(self, sources: dict[str, Path], staging: Path, limits: Limits):
        self.sources = sources
        self.staging = staging
        self.limits = limits
        self.written: dict[str, int] = {}
        """Files written so far → their size (a path written twice counts once)."""
        self.total = 0
        """The sum of `written`, kept as it changes (summing per file would be quadratic)."""
        self.made: set[str] = set()
        """Directories made (or checked) in the staging tree."""
        self.deadline = time.monotonic() + limits.max_seconds

    # ---- one operation ------------------------------------------------------------------

    def apply(self, op: api.CopyOperation) -> None:
        alias, pattern = split_from(op.from_)
        if alias not in self.sources:
            raise ComposeError(f"source alias '{alias}' not found")
        root = self.sources[alias].resolve()
        if not op.to.startswith("@artifact/"):
            raise ComposeError("destination must start with '@artifact/'")
        dest = _relative(op.to.removeprefix("@artifact/"), "destination")
        try:
            excludes = [globs.compile_pattern(p, recursive=True) for p in op.exclude]
        except globs.PatternError as err:
            raise ComposeError(f"invalid exclude pattern: {err}") from None
        strategy = op.effective_strategy()
        if not globs.has_magic(pattern):
            self._single(root, _relative(pattern, "source path"), dest, op, excludes)
            return
        _relative(pattern, "source pattern")
        try:
            found = globs.glob(root, pattern, recursive=strategy == "Extract")
        except globs.PatternError as err:
            raise ComposeError(f"invalid glob pattern: {err}") from None
        if not found:
            raise ComposeError(f"no files match pattern '{pattern}' in source '{alias}'")
        base = _literal_root(pattern)
        kept = [m for m in found if m != "." and not _excluded(m, base, op.exclude, excludes)]
        if not kept:
            raise ComposeError(
                f"all files matching pattern '{pattern}' in source '{alias}' were excluded"
            )
        prefix = pattern.removesuffix("/**") if pattern.endswith("/**") else None
        for match in kept:
            if strategy == "Extract":
                if match.lower().endswith(TARBALLS) and self._source(root, match).is_file():
                    self._extract(root, match, dest)
                continue
            if prefix is not None and match.startswith(f"{prefix}/"):
                target = posixpath.join(dest, match.removeprefix(f"{prefix}/"))
            else:
                target = posixpath.join(dest, match)
            self._copy(root, match, target, op, excludes, base)

    def _single(
        self,
        root: Path,
        path: str,
        dest: str,
        op: api.CopyOperation,
        excludes: list[re.Pattern[str]],
    ) -> None:
        source = self._source(root, path)
        if not source.exists():
            raise ComposeError(f"source '{path}' does not exist")
        strategy = op.effective_strategy()
        if source.is_dir():
            if strategy == "Extract":
                raise ComposeError(f"the Extract strategy takes no directory, got '{path}'")
            name = posixpath.basename(path) if path != "." else "."
            self._copy(
                root, path, posixpath.normpath(posixpath.join(dest, name)), op, excludes, path
            )
            return
        if _excluded(path, ".", op.exclude, excludes):
            return
        if strategy == "Extract":
            if not path.lower().endswith(TARBALLS):
                raise ComposeError(
                    f"the Extract strategy needs a tarball (.tar.gz or .tgz), got '{path}'"
                )
            self._extract(root, path, dest)
            return
        into_dir = op.to.endswith("/") or self._target(dest).is_dir()
        target = posixpath.join(dest, posixpath.basename(path)) if into_dir else dest
        self._copy(root, path, target, op, excludes, ".")

    # ---- files --------------------------------------------------------------------------

    def _copy(
        self,
        root: Path,
        path: str,
        target: str,
        op: api.CopyOperation,
        excludes: list[re.Pattern[str]],
        base: str,
    ) -> None:
        """Copy the file or directory `path` of the source to `target` in the artifact."""
        source = self._source(root, path)
        if not source.is_dir():
            self._file(source, target, merge=op.effective_strategy() == "Merge")
            return
        self._directory(target)
        for current, dirs, files in os.walk(source):  # links are entries, never descended
            rel_dir = Path(current).relative_to(source).as_posix()

            def inside(name: str, rel_dir: str = rel_dir) -> str:
                return name if rel_dir == "." else f"{rel_dir}/{name}"

            def in_source(rel: str) -> str:
                return rel if path == "." else f"{path}/{rel}"

            # An excluded directory is not entered (its files are excluded with it).
            dirs[:] = sorted(
                d
                for d in dirs
                if not _excluded(in_source(inside(d)), base, op.exclude, excludes)
                and not (Path(current) / d).is_symlink()
            )
            for d in dirs:
                self._directory(posixpath.join(target, inside(d)))
            for name in sorted(files):
                rel = inside(name)
                if _excluded(in_source(rel), base, op.exclude, excludes):
                    continue
                entry = Path(current) / name
                if entry.is_symlink():  # else inside the source: the walk enters no link
                    entry = self._source(root, in_source(rel))
                if entry.is_file():
                    self._file(entry, posixpath.join(target, rel), merge=False)

    def _file(self, source: Path, target: str, *, merge: bool) -> None:
        dest = self._target(target)
        self._directory(posixpath.dirname(target) or ".")
        if dest.is_dir():
            raise ComposeError(f"'{target}' is a directory in the artifact")
        if merge and dest.is_file():
            data = self._merged(dest, source)
            dest.write_bytes(data)
        else:
            size = source.stat().st_size
            self._account(target, size)
            shutil.copyfile(source, dest)
            os.chmod(dest, 0o755 if source.stat().st_mode & 0o111 else 0o644)
        self._account(target, dest.stat().st_size)

    def _merged(self, dest: Path, source: Path) -> bytes:
        merged: dict[str, Any] = {}
        for path in (dest, source):
            if path.stat().st_size > self.limits.max_merge_bytes:
                raise ComposeError(f"a file to merge is over {self.limits.max_merge_bytes} bytes")
            try:
                docs = yamlio.load_manifests(path.read_bytes())
            except yaml.YAMLError as err:
                raise ComposeError(f"cannot merge '{path.name}': {yamlio.describe(err)}") from None
            whole: dict[str, Any] = {}
            for doc in docs:
                if not isinstance(doc, dict):
                    raise ComposeError(f"cannot merge '{path.name}': a document is not a map")
                whole = transform.merge_maps(whole, doc)
            merged = transform.merge_maps(merged, whole)
        return yaml.safe_dump(merged, sort_keys=True, default_flow_style=False).encode()

    def _extract(self, root: Path, path: str, dest: str) -> None:
        target = self._target(dest)
        self._directory(dest)
        limits = untar.Limits(
            max_bytes=max(self.limits.max_bytes - self.total, 0),
            max_entries=self.limits.max_files,
        )
        try:
            untar.extract(self._source(root, path), target, limits)
        except untar.UnsafeArchive as err:
            raise ComposeError(f"cannot extract '{path}': {err}") from None
        for rel in globs.walk(target):
            full = target / rel
            if full.is_file():
                self._account(posixpath.normpath(posixpath.join(dest, rel)), full.stat().st_size)

    def _directory(self, rel: str) -> None:
        current = self.staging
        done = ""
        for part in [p for p in rel.split("/") if p not in ("", ".")]:
            current = current / part
            done = f"{done}/{part}" if done else part
            if done in self.made:
                continue
            if current.is_symlink() or (current.exists() and not current.is_dir()):
                raise ComposeError(f"'{rel}' crosses a file in the artifact")
            current.mkdir(exist_ok=True)
            self.made.add(done)

    def _account(self, target: str, size: int) -> None:
        key = posixpath.normpath(target)
        self.total += size - self.written.get(key, 0)
        self.written[key] = size
        if len(self.written) > self.limits.max_files:
            raise ComposeError(f"the artifact has more than {self.limits.max_files} files")
        if self.total > self.limits.max_bytes:
            raise ComposeError(f"the artifact is larger than {self.limits.max_bytes} bytes")
        if time.monotonic() > self.deadline:
            raise ComposeError(f"the copies took longer than {self.limits.max_seconds:.0f}s")

    # ---- paths --------------------------------------------------------------------------

    def _source(self, root: Path, rel: str) -> Path:
        """`rel` in the source tree, links resolved; a link leading out is an error."""
        resolved = (root / rel).resolve()
        if not resolved.is_relative_to(root):
            raise ComposeError(f"'{rel}' leads outside its source")
        return resolved

    def _target(self, rel: str) -> Path:
        # No '..' (refused here) and no link in the staging tree (we write files and
        # directories only, and unpack tarballs without links): the path stays inside.
        return self.staging / _relative(rel, "destination")

    def files(self) -> list[str]:
        return sorted(rel for rel in globs.walk(self.staging) if (self.staging / rel).is_file())


def _excluded(path: str, base: str, raw: list[str], compiled: list[re.Pattern[str]]) -> bool:
    """Whether an exclude pattern matches `path` (as in the source), or `path` relative to
    `base`; a pattern without '/' matches the file name too."""
    if not compiled:
        return False
    candidates = [path]
    if base not in (".", "") and path.startswith(f"{base}/"):
        candidates.append(path.removeprefix(f"{base}/"))
    name = posixpath.basename(path)
    for text, pattern in zip(raw, compiled, strict=True):
        if any(pattern.fullmatch(c) for c in candidates):
            return True
        if "/" not in text and pattern.fullmatch(name):
            return True
    return False
