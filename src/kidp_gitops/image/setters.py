"""The Setters strategy: write the latest images into YAML files, keeping them as written.

A scalar whose line comment holds a marker is a setter:

    image: ghcr.io/org/app:1.0.0 # {"$imagepolicy": "flux-system:app"}        the whole image
    tag: 1.0.0                   # {"$imagepolicy": "flux-system:app:tag"}    the tag
    name: ghcr.io/org/app        # {"$imagepolicy": "flux-system:app:name"}   the image name
    digest: sha256:...           # {"$imagepolicy": "flux-system:app:digest"} the digest

ruamel.yaml finds the setters (each scalar's position and comment); only the scalar's
own characters are replaced, so comments, quoting, indentation and key order stay as
they were, byte for byte. Files that do not parse as YAML are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

MARKER = re.compile(r'\{\s*"\$imagepolicy"\s*:\s*"([^"]+)"\s*\}')


@dataclass(frozen=True)
class Latest:
    """What a policy picked: `name:tag` (and the digest when it was reflected)."""

    name: str
    tag: str
    digest: str | None = None

    @property
    def image(self) -> str:
        return f"{self.name}:{self.tag}" + (f"@{self.digest}" if self.digest else "")


@dataclass(frozen=True)
class Change:
    file: str
    """Relative to the repository root."""
    policy: str
    """'<namespace>:<name>'."""
    old: str
    new: str


@dataclass
class Result:
    changes: list[Change] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return sorted({c.file for c in self.changes})


def update_tree(root: Path, subdir: Path, policies: Mapping[str, Latest]) -> Result:
    """Apply the setters of every YAML file under `subdir` (inside `root`)."""
    result = Result()
    for path in sorted(_yaml_files(subdir)):
        text = path.read_text(encoding="utf-8")
        new, changes = update_text(text, policies)
        if new != text:
            path.write_text(new, encoding="utf-8")
            rel = path.relative_to(root).as_posix()
            result.changes += [Change(rel, p, o, n) for p, o, n in changes]
    return result


def update_text(
    text: str, policies: Mapping[str, Latest]
) -> tuple[str, list[tuple[str, str, str]]]:
    """The text with its setters applied, and (policy, old, new) per changed scalar."""
    if "$imagepolicy" not in text:
        return text, []
    yaml = YAML(typ="rt")
    try:
        documents = list(yaml.load_all(text))
    except YAMLError:
        return text, []
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    edits: list[tuple[int, int, str, str, str]] = []
    for doc in documents:
        for line_no, col, comment in _setters(doc):
            match = MARKER.search(comment)
            if match is None:
                continue
            value = _value_for(match.group(1), policies)
            if value is None:
                continue
            start = offsets[line_no] + col
            end = _scalar_end(text, start)
            old_raw = text[start:end]
            old = old_raw.strip("'\"")
            if old == value:
                continue
            quote = old_raw[0] if old_raw[:1] in ("'", '"') else ""
            edits.append((start, end, quote + value + quote, match.group(1), old))
    changes = []
    for start, end, replacement, policy, old in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
        changes.append((policy, old, replacement.strip("'\"")))
    return text, list(reversed(changes))


def _value_for(marker: str, policies: Mapping[str, Latest]) -> str | None:
    parts = marker.split(":")
    if len(parts) == 2:
        latest = policies.get(marker)
        return latest.image if latest else None
    if len(parts) != 3:
        return None
    latest = policies.get(f"{parts[0]}:{parts[1]}")
    if latest is None:
        return None
    return {"tag": latest.tag, "name": latest.name, "digest": latest.digest}.get(parts[2])


def _setters(node: Any) -> Iterator[tuple[int, int, str]]:
    """(line, column, comment) of every scalar with a line comment, depth first."""
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            if isinstance(value, CommentedMap | CommentedSeq):
                yield from _setters(value)
                continue
            comment = _comment(node.ca.items.get(key), 2)
            if comment:
                line, col = node.lc.value(key)
                yield line, col, comment
    elif isinstance(node, CommentedSeq):
        for index, value in enumerate(node):
            if isinstance(value, CommentedMap | CommentedSeq):
                yield from _setters(value)
                continue
            comment = _comment(node.ca.items.get(index), 0)
            if comment:
                line, col = node.lc.item(index)
                yield line, col, comment


def _comment(tokens: list[Any] | None, index: int) -> str | None:
    if not tokens or len(tokens) <= index or tokens[index] is None:
        return None
    value = getattr(tokens[index], "value", None)
    return value.split("\n", 1)[0] if isinstance(value, str) else None


def _scalar_end(text: str, start: int) -> int:
    """Where the scalar starting at `start` ends on its line (before its comment)."""
    if text[start : start + 1] in ("'", '"'):
        quote = text[start]
        end = text.find(quote, start + 1)
        return end + 1 if end != -1 else start
    line_end = text.find("\n", start)
    line_end = len(text) if line_end == -1 else line_end
    hash_at = text.find(" #", start, line_end)
    end = hash_at if hash_at != -1 else line_end
    while end > start and text[end - 1] in " \t\r":
        end -= 1
    return end


def _yaml_files(subdir: Path) -> Iterator[Path]:
    for path in subdir.rglob("*"):
        if (
            path.suffix in (".yaml", ".yml")
            and path.is_file()
            and not path.is_symlink()
            and ".git" not in path.relative_to(subdir).parts
        ):
            yield path
