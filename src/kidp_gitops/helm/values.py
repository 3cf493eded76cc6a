"""The values of a release: `valuesFrom` in order, then `values` over them.

    await compose(client, namespace, spec) -> dict      raises ValuesError
    digest(values) -> "sha256:…"                         equal values, equal digest

Each reference reads a ConfigMap or Secret of the release's namespace. Without a
`targetPath` its key holds a YAML map, deep-merged into what came before; with one, the
key's text becomes the single value at that path (`a.b[0].c`, numbers and booleans as
their type, like helm's --set). A missing object or key is skipped when `optional`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from typing import Any

import yaml

from kidp_gitops.api import helm as api
from kidp_gitops.kube.client import KubeClient
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.runtime import secrets, transform

REASON = "ValuesError"
_INT = re.compile(r"^[-+]?\d+$")
_SEGMENT = re.compile(r"((?:\\.|[^.\[])+)|\[(\d+)\]")


class ValuesError(Exception):
    """The values cannot be composed; the message names the reference, never its content."""


async def compose(
    client: KubeClient,
    namespace: str,
    spec: api.HelmReleaseSpec,
    secrets: list[str] | None = None,
) -> dict[str, Any]:
    """The release's values: `valuesFrom` in order, then `values`. What was read from a
    Secret (the text, and each scalar in it) is added to `secrets`."""
    values: dict[str, Any] = {}
    for ref in spec.values_from:
        text = await _read(client, namespace, ref)
        if text is None:
            continue
        if ref.kind == "Secret" and secrets is not None:
            secrets.append(text)
            with contextlib.suppress(yaml.YAMLError):
                secrets.extend(_scalars(yaml.safe_load(text)))
        where = f"{ref.kind}/{namespace}/{ref.name} key '{ref.effective_values_key()}'"
        if ref.target_path:
            set_path(values, ref.target_path, _scalar(text))
            continue
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ValuesError(f"{where} is not valid YAML: {_first_line(err)}") from err
        if loaded is None:
            continue
        if not isinstance(loaded, dict):
            raise ValuesError(f"{where} does not hold a map of values")
        values = transform.merge_maps(values, loaded)
    if spec.values:
        values = transform.merge_maps(values, dict(spec.values))
    return values


def _scalars(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _scalars(v)]
    if isinstance(value, list):
        return [s for v in value for s in _scalars(v)]
    return [] if value is None or isinstance(value, bool) else [str(value)]


def digest(values: dict[str, Any]) -> str:
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def set_path(values: dict[str, Any], path: str, value: Any) -> None:
    """Set `value` at a dotted path with optional list indices (`a.b[0].c`)."""
    steps: list[str | int] = []
    for part in re.split(r"(?<!\\)\.", path):
        for match in _SEGMENT.finditer(part):
            name, index = match.groups()
            steps.append(int(index) if index is not None else name.replace("\\", ""))
    if not steps:
        raise ValuesError(f"invalid targetPath '{path}'")
    node: Any = values
    for step, following in zip(steps, [*steps[1:], None], strict=True):
        child: Any = [] if isinstance(following, int) else {}
        if following is None:
            child = value
        if isinstance(step, int):
            if not isinstance(node, list):
                raise ValuesError(f"targetPath '{path}' indexes a value that is not a list")
            while len(node) <= step:
                node.append(None)
            if following is None or node[step] is None:
                node[step] = child
            node = node[step]
        else:
            if not isinstance(node, dict):
                raise ValuesError(f"targetPath '{path}' crosses a value that is not a map")
            if following is None or not isinstance(node.get(step), dict | list):
                node[step] = child
            node = node[step]


async def _read(client: KubeClient, namespace: str, ref: api.ValuesReference) -> str | None:
    key = ref.effective_values_key()
    where = f"{ref.kind} '{namespace}/{ref.name}'"
    try:
        found = await secrets.read(client, namespace, ref.name, ref.kind)
    except ApiError as err:
        raise ValuesError(f"could not read {where}: {err}") from err
    if found is None:
        if ref.optional:
            return None
        raise ValuesError(f"could not find {where}")
    raw = found.get(key)
    if raw is None:
        if ref.optional:
            return None
        raise ValuesError(f"missing key '{key}' in {where}")
    try:
        return raw.decode()
    except UnicodeDecodeError as err:
        raise ValuesError(f"key '{key}' of {where} is not UTF-8 text") from err


def _scalar(text: str) -> Any:
    """A --set style value: integers and booleans typed, `null` as None, else the text."""
    if _INT.match(text):
        return int(text)
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    return text


def _first_line(err: Exception) -> str:
    # YAML errors quote the offending line, which may hold a secret: keep the position only.
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or "syntax error"
    return f"{problem} at line {mark.line + 1}" if mark is not None else str(problem)
