"""The commit message of an automation: Flux's default wording, or the user's template.

The template is read with the parts of Go's text/template that Flux's examples use:

    {{ .AutomationObject }}                       namespace/name of the automation
    {{ .Values.<key> }}                           spec.git.commit.messageTemplateValues
    {{ range .Changed.Changes }} … {{ end }}       each changed value: {{ .OldValue }},
                                                  {{ .NewValue }}, {{ .Setter }}, {{ .File }}
    {{ range $f, $_ := .Changed.FileChanges }} … {{ $f }} … {{ end }}     each changed file
    {{- / -}}                                     trim the whitespace on that side

Anything else is a TemplateError, reported on the automation (no commit is made).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from kidp_gitops.image.setters import Change

DEFAULT_TEMPLATE = """Automated image update

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Changes:
{{ range .Changed.Changes -}}
- {{ .OldValue }} -> {{ .NewValue }}
{{ end -}}
"""


class TemplateError(ValueError):
    pass


_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)
_RANGE_FILES = re.compile(r"^range\s+\$(\w+)\s*(?:,\s*\$\w+\s*)?:=\s*\.Changed\.FileChanges$")


def render(
    template: str | None, automation: str, values: Mapping[str, str], changes: list[Change]
) -> str:
    tokens = _tokens(template or DEFAULT_TEMPLATE)
    out, rest = _render(tokens, 0, {"AutomationObject": automation}, values, changes, None)
    if rest != len(tokens):
        raise TemplateError("messageTemplate has an {{ end }} without a {{ range }}")
    return "".join(out).strip() + "\n"


def _tokens(template: str) -> list[tuple[str, str]]:
    """('text', s) and ('action', s), with the trim markers applied to the text."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    trim_next = False
    for match in _ACTION.finditer(template):
        text = template[pos : match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        tokens.append(("text", text))
        tokens.append(("action", match.group(2)))
        trim_next = bool(match.group(3))
        pos = match.end()
    tail = template[pos:]
    tokens.append(("text", tail.lstrip() if trim_next else tail))
    return tokens


def _render(
    tokens: list[tuple[str, str]],
    start: int,
    root: dict[str, str],
    values: Mapping[str, str],
    changes: list[Change],
    item: dict[str, str] | None,
) -> tuple[list[str], int]:
    """Render from `start` up to the matching {{ end }} (or the last token)."""
    out: list[str] = []
    i = start
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "text":
            out.append(text)
            i += 1
            continue
        if text == "end":
            return out, i
        if text.startswith("range"):
            rows = _rows(text, changes)
            end = _matching_end(tokens, i + 1)
            for row in rows:
                body, _ = _render(tokens, i + 1, root, values, changes, row)
                out.extend(body)
            i = end + 1
            continue
        out.append(_value(text, root, values, item))
        i += 1
    return out, i


def _rows(action: str, changes: list[Change]) -> list[dict[str, str]]:
    if action == "range .Changed.Changes":
        return [
            {".OldValue": c.old, ".NewValue": c.new, ".Setter": c.policy, ".File": c.file}
            for c in changes
        ]
    match = _RANGE_FILES.match(action)
    if match:
        files = sorted({c.file for c in changes})
        return [{f"${match.group(1)}": f} for f in files]
    raise TemplateError(f"messageTemplate: unsupported action '{{{{ {action} }}}}'")


def _matching_end(tokens: list[tuple[str, str]], start: int) -> int:
    depth = 0
    for i in range(start, len(tokens)):
        kind, text = tokens[i]
        if kind != "action":
            continue
        if text.startswith("range"):
            depth += 1
        elif text == "end":
            if depth == 0:
                return i
            depth -= 1
    raise TemplateError("messageTemplate has a {{ range }} without its {{ end }}")


def _value(
    action: str, root: dict[str, str], values: Mapping[str, str], item: dict[str, str] | None
) -> str:
    if action == ".AutomationObject":
        return root["AutomationObject"]
    if action.startswith(".Values."):
        return values.get(action.removeprefix(".Values."), "")
    if item is not None and action in item:
        return item[action]
    raise TemplateError(f"messageTemplate: unsupported action '{{{{ {action} }}}}'")
