"""Kubernetes label selectors in their string form, matched here: a comma-separated list
of requirements, all of which must hold (k8s.io/apimachinery's `labels.Parse`).

    key=value  key==value  key!=value      equality (a missing key is != anything)
    key in (a, b)  key notin (a, b)        sets (notin holds for a missing key)
    key  !key                              the key exists, or does not
    key>3  key<3                           integer comparison (the key must exist)

    matches("tier in (web,api),!canary", {"tier": "web"}) -> True

A selector that does not parse raises `InvalidSelector`, never matches nothing quietly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_REQUIREMENT = re.compile(
    r"""(?:
        (?P<absent>!)\s*(?P<akey>[^\s!=<>,()]+)
      | (?P<key>[^\s!=<>,()]+)\s*(?:
            (?P<op>==|=|!=|<|>)\s*(?P<value>[^\s!=<>,()]*)
          | \s(?P<set>in|notin)\s*\((?P<values>[^()]*)\)
        )?
    )""",
    re.VERBOSE,
)
MAX_LENGTH = 16 << 10
"""The longest selector read: a spec is a tenant's, and label keys and values are short
(at most 317 and 63 characters)."""


class InvalidSelector(ValueError):
    """A label selector that does not parse."""


def _split(selector: str) -> list[str]:
    """The requirements of `selector`: split at the commas outside parentheses."""
    if len(selector) > MAX_LENGTH:
        raise InvalidSelector(f"longer than {MAX_LENGTH} characters")
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(selector):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise InvalidSelector(f"unbalanced parentheses in {selector!r}")
        elif ch == "," and depth == 0:
            parts.append(selector[start:i])
            start = i + 1
    if depth:
        raise InvalidSelector(f"unbalanced parentheses in {selector!r}")
    parts.append(selector[start:])
    return parts


def _parse(requirement: str) -> re.Match[str]:
    # Stripped first: whitespace at both ends left to the pattern made it backtrack
    # quadratically over a long run of spaces.
    found = _REQUIREMENT.fullmatch(requirement.strip())
    if found is None or not requirement.strip():
        raise InvalidSelector(f"cannot parse the requirement {requirement.strip()!r}")
    if found["op"] in ("<", ">") and not re.fullmatch(r"-?\d+", found["value"]):
        raise InvalidSelector(f"{requirement.strip()!r}: {found['op']} compares integers")
    return found


def _holds(requirement: str, labels: Mapping[str, str]) -> bool:
    found = _parse(requirement)
    if found["absent"]:
        return found["akey"] not in labels
    actual = labels.get(found["key"])
    if found["set"]:
        values = {v.strip() for v in found["values"].split(",")}
        return actual in values if found["set"] == "in" else actual not in values
    op, value = found["op"], found["value"]
    if op is None:
        return actual is not None
    if op in ("=", "=="):
        return actual == value
    if op == "!=":
        return actual != value
    if actual is None or not re.fullmatch(r"-?\d+", actual):
        return False  # as Kubernetes: a value that is no integer is not selected
    return int(actual) > int(value) if op == ">" else int(actual) < int(value)


def check(selector: str | None) -> None:
    """Raises `InvalidSelector` when `selector` does not parse."""
    if selector and selector.strip():
        for part in _split(selector):
            _parse(part)


def matches(selector: str | None, labels: Mapping[str, str] | None) -> bool:
    """Whether `labels` satisfy `selector`; an empty or missing selector selects all."""
    if not selector or not selector.strip():
        return True
    return all(_holds(part, labels or {}) for part in _split(selector))
