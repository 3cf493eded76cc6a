"""An ArtifactGenerator's `spec.pathPattern`: one set of output artifacts per directory of
a source that matches the pattern. Blocking (it walks a tree): run it in a worker thread.

    pathPattern: "@monorepo/apps/{app}/envs/{env}"
    artifacts:
      - name: "{app}-{env}"
        copy: [{from: "@monorepo/apps/{app}/envs/{env}/**", to: "@artifact/"}]

Each `{name}` captures one path segment. As source-watcher does, the captured values are
lowercased for the artifact's name and for its labels (`app: <value>`), and used as they
are in `from` and `to` (paths keep their case). Two directories that give one name, a
value that is no valid label value, or a name that is no valid object name are errors
that retrying cannot fix (`PathPatternError`).

    expand(spec, trees) -> [Expanded(artifact, labels)]    the artifacts to build, in order
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from kidp_gitops.api import generator as api

_CAPTURE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_OBJECT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class PathPatternError(Exception):
    """The pattern, a captured value or a rendered name is invalid; the message says
    which."""


@dataclass(frozen=True)
class Expanded:
    """One artifact to build: its spec with the captures filled in, and its labels."""

    artifact: api.OutputArtifact
    labels: dict[str, str] = field(default_factory=dict)


def expand(spec: api.ArtifactGeneratorSpec, trees: dict[str, Path]) -> list[Expanded]:
    """The artifacts of `spec`: as written without a pathPattern, else one set per matching
    directory of the source (`trees`: alias → extracted tree)."""
    pattern = spec.path_pattern
    if not pattern:
        return [Expanded(a) for a in spec.artifacts]
    alias, _, rest = pattern.removeprefix("@").partition("/")
    if alias not in trees:
        raise PathPatternError(f"pathPattern '{pattern}': source alias '{alias}' not found")
    names = _captures(pattern, rest)
    regex = re.compile(
        "^"
        + re.sub(
            r"\\\{([A-Za-z0-9_]+)\\\}",
            lambda m: f"(?P<{m.group(1)}>[^/]+)",
            re.escape(rest),
        )
        + "$"
    )
    for name in names:
        if not _LABEL_KEY.match(name) or len(name) > 63:
            raise PathPatternError(
                f"pathPattern '{pattern}': capture variable '{name}' is not a valid label key"
            )
    out: list[Expanded] = []
    seen: dict[str, str] = {}
    for rel in _directories(trees[alias]):
        found = regex.match(rel)
        if found is None:
            continue
        raw = {k: v for k, v in found.groupdict().items() if v is not None}
        lowered = {k: v.lower() for k, v in raw.items()}
        for key, value in lowered.items():
            if len(value) > 63 or not _LABEL_VALUE.match(value):
                raise PathPatternError(
                    f"pathPattern '{pattern}': captured value '{value[:100]}' for variable"
                    f" '{key}' is not a valid label value"
                )
        for artifact in spec.artifacts:
            rendered = _render_artifact(pattern, rel, artifact, lowered, raw)
            name = rendered.name
            if len(name) > 253 or not _OBJECT_NAME.match(name):
                raise PathPatternError(
                    f"pathPattern '{pattern}': rendered artifact name '{name[:300]}' is not a"
                    " valid Kubernetes object name"
                )
            if name in seen:
                raise PathPatternError(
                    f"pathPattern '{pattern}': directories '{seen[name]}' and '{rel}' both"
                    f" resolve to artifact name '{name}'"
                )
            seen[name] = rel
            out.append(Expanded(rendered, dict(lowered)))
    return out


def _captures(pattern: str, text: str) -> list[str]:
    """The capture names of `text`, checked: closed, named, valid, each once."""
    names: list[str] = []
    for piece in re.split(r"(\{[^}]*\}?)", text):
        if piece.startswith("{"):
            if not piece.endswith("}"):
                raise PathPatternError(f"pathPattern '{pattern}': a capture misses '}}'")
            name = piece[1:-1]
            if not _CAPTURE_NAME.match(name):
                raise PathPatternError(
                    f"pathPattern '{pattern}': capture variable '{name}' must match"
                    " [A-Za-z_][A-Za-z0-9_]*"
                )
            if name in names:
                raise PathPatternError(
                    f"pathPattern '{pattern}': duplicate capture variable '{name}'"
                )
            names.append(name)
        elif "}" in piece:
            raise PathPatternError(f"pathPattern '{pattern}': a capture misses '{{'")
    return names


def _render_artifact(
    pattern: str,
    rel: str,
    artifact: api.OutputArtifact,
    lowered: dict[str, str],
    raw: dict[str, str],
) -> api.OutputArtifact:
    try:
        copies = [
            op.model_copy(update={"from_": render(op.from_, raw), "to": render(op.to, raw)})
            for op in artifact.copy_
        ]
        return artifact.model_copy(update={"name": render(artifact.name, lowered), "copy_": copies})
    except PathPatternError as err:
        raise PathPatternError(
            f"pathPattern '{pattern}': artifact '{artifact.name}' for '{rel}': {err}"
        ) from None


def render(template: str, values: dict[str, str]) -> str:
    """`template` with each `{name}` replaced by its value."""
    out: list[str] = []
    for piece in re.split(r"(\{[^}]*\}?)", template):
        if piece.startswith("{"):
            name = piece[1:-1] if piece.endswith("}") else None
            if name is None or not _CAPTURE_NAME.match(name):
                raise PathPatternError(f"invalid capture '{piece}' in '{template}'")
            if name not in values:
                raise PathPatternError(
                    f"capture variable '{name}' in '{template}' is not defined by pathPattern"
                )
            out.append(values[name])
        elif "}" in piece:
            raise PathPatternError(f"a capture in '{template}' misses '{{'")
        else:
            out.append(piece)
    return "".join(out)


def _directories(root: Path) -> list[str]:
    """Every directory under `root`, relative and slash-separated; links not followed."""
    found: list[str] = []
    for current, dirs, _files in os.walk(root):
        dirs.sort()
        rel = Path(current).relative_to(root).as_posix()
        for d in dirs:
            if not (Path(current) / d).is_symlink():
                found.append(d if rel == "." else f"{rel}/{d}")
        dirs[:] = [d for d in dirs if not (Path(current) / d).is_symlink()]
    return sorted(found, key=lambda p: p.split("/"))  # depth first, as Go's WalkDir
