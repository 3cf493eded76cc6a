"""Reading a repository's YAML as kustomize would, keeping where everything stands.

    scan(root)          every YAML document of the repository, and the syntax problems
    Document.line_of    the line of a field (`spec.chart.spec.version`) in its document

Each document is composed once (PyYAML nodes, for lines and duplicate keys) and read
with kustomize's own scalar rules (`goyaml.yamlio`), so `enabled: yes` is the string
kustomize sees, not YAML 1.1's boolean. Hidden directories (`.git`, `.github`) and the
templates of Helm charts (a directory beside a `Chart.yaml`) are not manifests and are
skipped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kidp_gitops.goyaml import yamlio
from kidp_gitops.validate.findings import Finding

YAML_SUFFIXES = (".yaml", ".yml")
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")

try:
    _Loader: type[Any] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader


@dataclass(frozen=True)
class Document:
    """One YAML document of a repository file."""

    file: str
    """Path relative to the repository root, with forward slashes."""
    line: int
    """1-based line where the document starts."""
    node: Node
    data: Any

    @property
    def is_object(self) -> bool:
        """Whether it looks like a Kubernetes object (a mapping with apiVersion and kind)."""
        return (
            isinstance(self.data, dict)
            and isinstance(self.data.get("apiVersion"), str)
            and isinstance(self.data.get("kind"), str)
        )

    def line_of(self, path: str | Sequence[str | int]) -> int:
        """The line of the deepest part of `path` present in the document."""
        parts = split_path(path) if isinstance(path, str) else list(path)
        node, line = self.node, self.line
        for part in parts:
            found = _child(node, part)
            if found is None:
                break
            key_line, node = found
            line = key_line
        return line


def split_path(path: str) -> list[str | int]:
    """`spec.items[0].name` as ["spec", "items", 0, "name"]."""
    parts: list[str | int] = []
    for name, index in _PATH_PART.findall(path):
        parts.append(int(index) if index else name)
    return parts


def _child(node: Node, part: str | int) -> tuple[int, Node] | None:
    if isinstance(node, MappingNode) and isinstance(part, str):
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value == part:
                return key.start_mark.line + 1, value
    if isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
        item = node.value[part]
        return item.start_mark.line + 1, item
    return None


def mapping(obj: Any, key: str) -> Mapping[str, Any]:
    """`obj[key]` when both are mappings, else an empty mapping."""
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def identity(obj: Any) -> str:
    """Kind/namespace/name of an object, for messages."""
    if not isinstance(obj, dict):
        return ""
    meta = mapping(obj, "metadata")
    parts = [str(obj.get("kind") or "<no kind>"), meta.get("namespace"), meta.get("name")]
    return "/".join(str(p) for p in parts if p)


def walk(root: Path) -> Iterator[Path]:
    """The repository's files, in a stable order, without hidden directories and chart
    templates."""
    for directory, dirs, files in os.walk(root):
        here = Path(directory)
        chart = "Chart.yaml" in files
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and not (chart and d in ("templates", "charts"))
        )
        for name in sorted(files):
            if not (chart and name in ("values.yaml", "Chart.yaml", "values.schema.json")):
                yield here / name


def relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def load_file(path: Path, root: Path) -> tuple[list[Document], list[Finding]]:
    """The documents of one YAML file, or the syntax problem that stops it."""
    where = relative(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        problem = "not UTF-8 text" if isinstance(err, UnicodeDecodeError) else err.strerror
        return [], [Finding(where, 0, "error", "yaml", "", f"cannot read the file: {problem}")]
    try:
        nodes = [n for n in yaml.compose_all(text, Loader=_Loader) if not _empty(n)]
    except yaml.YAMLError as err:
        return [], [_syntax(where, err)]
    findings: list[Finding] = []
    documents: list[Document] = []
    try:  # one read of the whole file, when its documents line up with the nodes
        whole: list[Any] | None = yamlio.load_manifests(text)
    except (yaml.YAMLError, ValueError):
        whole = None
    if whole is not None and len(whole) != len(nodes):
        whole = None
    for index, node in enumerate(nodes):
        findings += _duplicate_keys(node, where)
        if whole is not None:
            documents.append(Document(where, node.start_mark.line + 1, node, whole[index]))
            continue
        try:
            loaded = yamlio.load_manifests(yaml.serialize(node, Dumper=yaml.SafeDumper))
        except (yaml.YAMLError, ValueError) as err:
            message = yamlio.describe(err) if isinstance(err, yaml.YAMLError) else str(err)
            line = node.start_mark.line + 1
            findings.append(Finding(where, line, "error", "yaml", "", f"invalid YAML: {message}"))
            continue
        data = loaded[0] if loaded else None
        documents.append(Document(where, node.start_mark.line + 1, node, data))
    return documents, findings


def _empty(node: Node | None) -> bool:
    return node is None or (
        isinstance(node, ScalarNode) and node.tag.endswith(":null") and node.value in ("", "~")
    )


def _syntax(where: str, err: yaml.YAMLError) -> Finding:
    line = 0
    if isinstance(err, yaml.MarkedYAMLError) and err.problem_mark is not None:
        line = err.problem_mark.line + 1
    problem = err.problem if isinstance(err, yaml.MarkedYAMLError) and err.problem else str(err)
    context = f"{err.context}: " if isinstance(err, yaml.MarkedYAMLError) and err.context else ""
    return Finding(where, line, "error", "yaml", "", f"YAML syntax error: {context}{problem}")


def _duplicate_keys(node: Node, where: str) -> list[Finding]:
    found: list[Finding] = []
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, MappingNode):
            seen: dict[str, int] = {}
            for key, value in current.value:
                pending.append(value)
                if not isinstance(key, ScalarNode) or key.value == "<<":
                    continue
                line = key.start_mark.line + 1
                if key.value in seen:
                    found.append(
                        Finding(
                            where,
                            line,
                            "error",
                            "yaml",
                            "",
                            f"duplicate key {key.value!r} (first on line {seen[key.value]}); "
                            "kustomize rejects it",
                        )
                    )
                else:
                    seen[key.value] = line
        elif isinstance(current, SequenceNode):
            pending.extend(current.value)
    return sorted(found)
