"""Semver versions (tag names, chart versions, image tags: whoever publishes them) and
ranges (spec.ref.semver, spec.policy.semver.range): a version or None, a range or
`giterrors.InvalidRef`, and nothing else."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kidp_gitops.vcs import giterrors, semver
from tests.unit.fuzz import harness

_TOKENS = [
    "v", "V", "0", "1", "2", "10", "x", "X", "*", ".", "-", "+", " ", ",", "||", "~", "~>",
    "^", "=", "!=", ">", "<", ">=", "<=", "=<", "=>", " - ", "rc", "alpha", "0-", "\t",
    "99999999999999999999999", "\u0661", "é",
]  # fmt: skip
TEXT = st.lists(st.sampled_from(_TOKENS) | st.text(max_size=3), max_size=20).map("".join)

_NUMBER = st.integers(min_value=0, max_value=2**64 - 1)
_IDENT = st.from_regex(r"[0-9A-Za-z-]{1,8}", fullmatch=True).filter(
    lambda s: not (s.isdigit() and len(s) > 1 and s.startswith("0"))
) | st.sampled_from(["18446744073709551616", "9" * 5000])
VERSIONS = st.builds(
    semver.Version,
    _NUMBER,
    _NUMBER,
    _NUMBER,
    st.lists(_IDENT, max_size=3).map(tuple),
)
HUGE = "1." + "9" * 5000


@given(TEXT)
@settings(max_examples=harness.examples(600))
@example(HUGE)
@example(">=" + HUGE)
@example("v1.0.0-" + "a" * 5000)
@harness.bounded
def test_range_parses_or_refuses(text: str) -> None:
    range_parses_or_refuses(text)


def range_parses_or_refuses(text: str) -> None:
    try:
        wanted = semver.parse_range(text)
    except giterrors.InvalidRef:
        return
    for tag in ("1.2.3", "1.0.0-1", "0.0.0-0", "v2", text, text.lstrip("=<>~^! ")):
        version = semver.parse_version(tag)
        if version is not None:
            wanted.matches(version)


@given(TEXT)
@settings(max_examples=harness.examples(500))
@example(HUGE)
@harness.bounded
def test_version_parses_or_is_none(text: str) -> None:
    version = semver.parse_version(text)
    assert version is None or isinstance(version, semver.Version)


@given(VERSIONS, st.sampled_from(["", "v"]), st.sampled_from(["", "+build.1"]))
@settings(max_examples=harness.examples(500))
@harness.bounded
def test_a_version_satisfies_equals_itself(
    version: semver.Version, prefix: str, build: str
) -> None:
    text = prefix + str(version) + build
    assert semver.parse_version(text) == version
    assert semver.parse_range("=" + text).matches(version)
    assert semver.parse_range(text).matches(version)
    assert not semver.parse_range("!=" + text).matches(version)


@given(st.lists(VERSIONS, min_size=2, max_size=6))
@settings(max_examples=harness.examples(150))
@harness.bounded
def test_versions_order_totally(versions: list[semver.Version]) -> None:
    ordered = sorted(versions)
    for low, high in itertools.pairwise(ordered):
        assert not high < low
        assert (low < high) != (low == high)


@pytest.mark.parametrize("path", harness.corpus("semver"))
def test_corpus(path: Path) -> None:
    for line in path.read_text().splitlines():
        harness.bounded(range_parses_or_refuses)(line)
        harness.bounded(semver.parse_version)(line)
