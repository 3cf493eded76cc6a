"""Picking the latest tag, as an ImagePolicy's rule says (pure; no I/O).

    filterTags.pattern   a regular expression the tag must match (tags that do not are left out)
    filterTags.extract   what of the tag to compare: a template of the pattern's groups ($ts, ${1})
    semver.range         the highest version within the range (tags that are no version: out)
    alphabetical.order   asc: the last in alphabetical order; desc: the first
    numerical.order      asc: the largest number; desc: the smallest

`select` returns the original tag (not the extracted part), or raises PolicyError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kidp_gitops.api import image as api
from kidp_gitops.vcs import giterrors, semver


class PolicyError(Exception):
    """A rule that cannot be used (bad regex, bad range, a tag that is no number)."""


@dataclass(frozen=True)
class Candidate:
    tag: str
    value: str
    """What the rule compares: the tag, or the part `extract` made of it."""


def candidates(tags: list[str], tag_filter: api.TagFilter | None) -> list[Candidate]:
    if tag_filter is None or not tag_filter.pattern:
        return [Candidate(t, t) for t in tags]
    try:
        pattern = re.compile(tag_filter.pattern)
    except re.error as err:
        raise PolicyError(f"filterTags.pattern is not a valid regular expression: {err}") from None
    found = []
    for tag in tags:
        match = pattern.search(tag)
        if match is None:
            continue
        value = _expand(match, tag_filter.extract) if tag_filter.extract else tag
        found.append(Candidate(tag, value))
    return found


def select(
    tags: list[str], choice: api.ImagePolicyChoice, tag_filter: api.TagFilter | None
) -> str | None:
    """The latest tag by the rule, or None when no tag qualifies."""
    found = candidates(tags, tag_filter)
    if choice.semver is not None:
        try:
            wanted = semver.parse_range(choice.semver.range)
        except giterrors.GitError as err:
            raise PolicyError(f"semver.range '{choice.semver.range}' is not valid: {err}") from None
        versions = {}
        for c in found:
            version = semver.parse_version(c.value)
            if version is not None and wanted.matches(version):
                versions[c.tag] = version
        if not versions:
            return None
        return max(versions, key=lambda tag: (versions[tag], tag))
    if not found:
        return None
    if choice.alphabetical is not None:
        ordered = sorted(found, key=lambda c: (c.value, c.tag))
        return (ordered[-1] if choice.alphabetical.order == "asc" else ordered[0]).tag
    assert choice.numerical is not None  # the model allows exactly one rule
    numbers = []
    for c in found:
        try:
            numbers.append((float(c.value), c.tag))
        except ValueError:
            raise PolicyError(
                f"tag '{c.tag}' is not a number ('{c.value}'): a numerical policy needs"
                " filterTags that extract a number from every tag it keeps"
            ) from None
    numbers.sort()
    return (numbers[-1] if choice.numerical.order == "asc" else numbers[0])[1]


def describe(choice: api.ImagePolicyChoice) -> str:
    if choice.semver is not None:
        return f"semver range '{choice.semver.range}'"
    if choice.alphabetical is not None:
        return f"alphabetical order '{choice.alphabetical.order}'"
    assert choice.numerical is not None
    return f"numerical order '{choice.numerical.order}'"


_GROUP = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def _expand(match: re.Match[str], template: str) -> str:
    """Go's regexp Expand: $name / ${name} / $1 become the group's text ('' if unset)."""

    def group(ref: re.Match[str]) -> str:
        name = ref.group(1) or ref.group(2)
        try:
            value = match.group(int(name) if name.isdigit() else name)
        except IndexError:
            return ""
        return value or ""

    return _GROUP.sub(group, template)
