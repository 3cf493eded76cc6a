"""envsubst (Flux's post-build substitution) against hostile text: an expansion, or
`ParseError` / `Unset`, and nothing else, each within the harness' bounds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kidp_gitops.render import envsubst, errors, substitute
from tests.unit.fuzz import harness

_TOKENS = [
    "${", "}", "$", "$$", "${#", ":=", ":-", "=", ":?", ":+", "-", ":", "#", "##", "%", "%%",
    "/", "//", "/#", "/%", "^", "^^", ",", ",,", "*", "?", "[", "]", "[!", "[^", "\\", "\\/",
    "a", "b", "unset", "_x", "0", "1", "-1", "99999999999999999999", "é", "\n", " ", "{",
]  # fmt: skip
TEXT = st.lists(st.sampled_from(_TOKENS) | st.text(max_size=4), max_size=40).map("".join)
VALUES = st.text(st.sampled_from("ab/*?.é\n-"), max_size=30)


def _lookup(values: dict[str, str]) -> envsubst.Lookup:
    return values.get


@given(TEXT, VALUES)
@settings(max_examples=harness.examples(600))
@example("${a:" + "9" * 5000 + "}", "x")
@example("${a:=" * 400 + "}" * 400, "x")
@example("${a#*a*a*a*a*b}", "a" * 200)
@example("${a%%*a*a*a*a*b}", "a" * 2000)
@harness.bounded
def test_expands_or_refuses(text: str, value: str) -> None:
    expands_or_refuses(text, value)


def expands_or_refuses(text: str, value: str) -> None:
    try:
        out = envsubst.expand(text, _lookup({"a": value, "b": ""}))
    except (envsubst.ParseError, envsubst.Unset):
        return
    assert isinstance(out, str)


@given(st.text(max_size=200).filter(lambda t: "$" not in t))
@settings(max_examples=harness.examples(300))
@harness.bounded
def test_text_without_dollar_is_unchanged(text: str) -> None:
    assert envsubst.expand(text, _lookup({})) == text


@given(st.text(max_size=200))
@settings(max_examples=harness.examples(300))
@harness.bounded
def test_doubled_dollars_read_as_the_text(text: str) -> None:
    assert envsubst.expand(text.replace("$", "$$"), _lookup({})) == text


def _oracle_trim(value: str, pattern: str, *, longest: bool) -> str | None:
    """The prefix trim by brute force over a regex (fine for short inputs); None when
    the pattern is malformed."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            if i + 1 >= len(pattern):
                return None
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                return None
            body = pattern[i + 1 : end]
            negate = body[:1] in ("^", "!")
            body = body[1:] if negate else body
            if not body:
                return None
            out.append(("[^" if negate else "[") + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    try:
        matcher = re.compile("".join(out), re.S)
    except re.error:
        return None
    ends = [end for end in range(len(value) + 1) if end and matcher.fullmatch(value[:end])]
    if not ends:
        return value
    return value[(max(ends) if longest else min(ends)) :]


_GLOB = st.text(st.sampled_from("ab*?[]!^-\\/."), min_size=1, max_size=8)


@given(st.text(st.sampled_from("ab-./"), max_size=12), _GLOB, st.booleans())
@settings(max_examples=harness.examples(500))
@example("aab", "*a", True)
@example("a-b", "[a-]", False)
@harness.bounded
def test_prefix_trim_matches_the_shell_pattern(value: str, pattern: str, longest: bool) -> None:
    got = envsubst.expand("${v" + ("##" if longest else "#") + pattern + "}", _lookup({"v": value}))
    want = _oracle_trim(value, pattern, longest=longest)
    assert got == (value if want is None else want)


CANARY = "c4n4ry-s3cr3t"
_VALUES = st.sampled_from(
    ["3", "true", "on", "", " ", "a: b", "[", "&a [*a]", "'", '"', "#", "- x", "|", "{", "}"]
) | st.text(max_size=6)


@given(
    st.dictionaries(st.sampled_from(["a", "b", "data", "${a}", "${s}"]), TEXT, max_size=3),
    _VALUES,
    st.sampled_from([CANARY, CANARY + ": [", "'" + CANARY, CANARY + "\n- x"]),
)
@settings(max_examples=harness.examples(250))
@harness.bounded
def test_substitution_gives_objects_or_refuses(
    data: dict[str, str], value: str, secret: str
) -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": data}
    variables = substitute.merge_variables([({"a": value}, False), ({"s": secret}, True)])
    try:
        substitute.substitute([obj], variables)
        return
    except errors.SubstitutionError as err:
        message = str(err)
    # Secret values never appear in a message (they come from substituteFrom Secrets).
    assert CANARY not in message


@pytest.mark.parametrize("path", harness.corpus("envsubst"))
def test_corpus(path: Path) -> None:
    harness.bounded(expands_or_refuses)(path.read_text(), "a" * 300)
