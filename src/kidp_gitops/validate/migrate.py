"""`kidp migrate -f PATH`: the old apiVersions of Flux kinds in a repository's files,
rewritten in place to the version served today, as `flux migrate -f` does.

Only the value of a document's top-level `apiVersion:` changes, on its own line: every
comment, key order, quote and blank line stays as written (a YAML round trip would lose
them). A document is recognised by its top-level `kind:` and `apiVersion:` lines, which
also works in Helm templates (`--extensions .tpl`), where the rest of the text is not
YAML. Fields that a newer version dropped are not rewritten: `kidp validate` names them.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kidp_gitops.api import resources

DEFAULT_EXTENSIONS = (".yaml", ".yml")
MAX_FILE_BYTES = 8 * 1024 * 1024
"""Larger files are skipped (and said so): no manifest is this big, a committed dump is."""

_SEPARATOR = re.compile(r"^(---|\.\.\.)(\s|$)")
_TOP_LEVEL = re.compile(r"^(apiVersion|kind):([ \t]+)(['\"]?)([^'\"\s#]+)\3(.*)$")
_METADATA = re.compile(r"^metadata:\s*(#.*)?$")
_NAME = re.compile(r"^[ \t]+name:[ \t]+(['\"]?)([^'\"\s#]+)\1")


@dataclass(frozen=True)
class Change:
    """One apiVersion rewritten (or to be, with --dry-run)."""

    file: Path
    line: int
    kind: str
    name: str
    old: str
    new: str

    def __str__(self) -> str:
        subject = f"{self.kind}/{self.name}" if self.name else self.kind
        return f"{self.file}:{self.line}: {subject} {self.old} → {self.new}"


@dataclass(frozen=True)
class Skipped:
    file: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: skipped, {self.reason}"


@dataclass
class _Document:
    start: int
    api_version: tuple[int, str] | None = None
    kind: str | None = None
    name: str = ""


def rewrite(text: str) -> tuple[str, list[tuple[int, str, str, str, str]]]:
    """The text with old apiVersions of Flux kinds replaced, and for each replacement
    (line, kind, name, old, new); lines are 1-based."""
    lines = text.splitlines(keepends=True)
    changes: list[tuple[int, str, str, str, str]] = []
    for doc in _documents(lines):
        if doc.api_version is None or doc.kind is None:
            continue
        index, old = doc.api_version
        new = resources.current_api_version(old, doc.kind)
        if new is None or new == old:
            continue
        match = _TOP_LEVEL.match(lines[index])
        assert match is not None  # found by the same expression in _documents
        start, end = match.span(4)
        lines[index] = lines[index][:start] + new + lines[index][end:]
        changes.append((index + 1, doc.kind, doc.name, old, new))
    return "".join(lines), changes


def _documents(lines: list[str]) -> Iterator[_Document]:
    doc = _Document(0)
    in_metadata = False
    for index, line in enumerate(lines):
        if _SEPARATOR.match(line):
            yield doc
            doc, in_metadata = _Document(index + 1), False
            continue
        top = _TOP_LEVEL.match(line)
        if top:
            in_metadata = False
            if top.group(1) == "apiVersion":
                doc.api_version = (index, top.group(4))
            else:
                doc.kind = top.group(4)
            continue
        if _METADATA.match(line):
            in_metadata = True
        elif line[:1] not in ("", " ", "\t", "\n", "\r", "#"):
            in_metadata = False  # another top-level key
        elif in_metadata and not doc.name:
            name = _NAME.match(line)
            if name:
                doc.name = name.group(2)
    yield doc


def files(root: Path, extensions: tuple[str, ...]) -> Iterator[Path]:
    """The files under `root` (or `root` itself) with one of the extensions, in a stable
    order; hidden directories (.git) and symbolic links are not followed."""
    if root.is_file():
        yield root
        return
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            path = Path(folder) / name
            if name.endswith(extensions) and not path.is_symlink():
                yield path


def migrate(
    root: Path, *, extensions: tuple[str, ...] = DEFAULT_EXTENSIONS, dry_run: bool = False
) -> tuple[list[Change], list[Skipped]]:
    """Rewrite (unless `dry_run`) every file under `root`; what changed and what was not
    read."""
    changes: list[Change] = []
    skipped: list[Skipped] = []
    for path in files(root, extensions):
        if path.stat().st_size > MAX_FILE_BYTES:
            skipped.append(Skipped(path, f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB"))
            continue
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            skipped.append(Skipped(path, "not UTF-8 text"))
            continue
        new_text, found = rewrite(text)
        changes.extend(Change(path, *change) for change in found)
        if found and not dry_run:
            _replace(path, new_text.encode("utf-8"))
    return changes, skipped


def _replace(path: Path, data: bytes) -> None:
    """Write beside the file and rename over it: an interrupted run leaves the old file
    whole, never half of each; the file keeps its mode."""
    mode = path.stat().st_mode & 0o7777
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
