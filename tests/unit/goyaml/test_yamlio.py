"""Reading and writing YAML the way kustomize (yaml.v3 + JSON) and Flux (yaml.v2) do."""

from __future__ import annotations

import math
from typing import Any

import pytest

from kidp_gitops.goyaml import yamlio


@pytest.mark.parametrize(
    ("text", "v3", "v2"),
    [
        ("", None, None),
        ("~", None, None),
        ("null", None, None),
        ("true", True, True),
        ("FALSE", False, False),
        ("yes", "yes", True),
        ("on", "on", True),
        ("n", "n", False),
        ("42", 42, 42),
        ("-7", -7, -7),
        ("+7", 7, 7),
        ("0755", 493, 493),
        ("0o17", 15, 15),
        ("0x1F", 31, 31),
        ("0b101", 5, 5),
        ("1_000", 1000, 1000),
        ("08", 8, 8),
        ("1.0", 1, 1),
        ("1.5", 1.5, 1.5),
        ("1e3", 1000, 1000),
        (".5", 0.5, 0.5),
        ("12345678901234567890", 12345678901234567890, 12345678901234567890),
        ("12:30", "12:30", "12:30"),
        ("1.20.3", "1.20.3", "1.20.3"),
        ("2024-01-01", "2024-01-01", "2024-01-01"),
        ("v1", "v1", "v1"),
        ("-", "-", "-"),
        ("${var}", "${var}", "${var}"),
    ],
)
def test_plain_scalars(text: str, v3: Any, v2: Any) -> None:
    got3 = yamlio.resolve_plain(text)
    got2 = yamlio.resolve_plain(text, v2=True)
    assert (got3, type(got3)) == (v3, type(v3))
    assert (got2, type(got2)) == (v2, type(v2))


def test_special_floats() -> None:
    assert yamlio.resolve_plain(".inf") == math.inf
    assert yamlio.resolve_plain("-.Inf") == -math.inf
    with pytest.raises(yamlio.Unsupported):
        yamlio.resolve_plain(".nan", strict=True)


@pytest.mark.parametrize(
    "text",
    [
        "when: 2024-01-01\n",
        "a: &x 1\nb: *x\n",
        "a: !!binary aGVsbG8=\n",
        "a: 1\na: 2\n",
        "base: &b {x: 1}\nother:\n  <<: *b\n",
        "1: one\n",
    ],
)
def test_strict_loading_refuses_what_only_kustomize_decides(text: str) -> None:
    yamlio.load_manifests(text)  # fine when not strict
    with pytest.raises(yamlio.Unsupported):
        yamlio.load_manifests(text, strict=True)


def test_strict_loading_refuses_custom_tags() -> None:
    with pytest.raises(yamlio.Unsupported):
        yamlio.load_manifests("a: !custom x\n", strict=True)


def test_quoted_scalars_are_strings() -> None:
    [doc] = yamlio.load_manifests("a: '1'\nb: \"true\"\nc: 'null'\nd: |\n  3\n", strict=True)
    assert doc == {"a": "1", "b": "true", "c": "null", "d": "3\n"}


def test_empty_documents_are_dropped() -> None:
    assert yamlio.load_manifests("---\n# c\n---\na: 1\n---\n~\n") == [{"a": 1}]


def test_dump_for_substitution_round_trips_every_value() -> None:
    obj = {
        "strings": ["yes", "on", "y", "1", "1.0", "0755", "true", "null", "", "12:30", "<<"],
        "numbers": [1, -2, 0.5, 1e30, 12345678901234567890],
        "others": [True, False, None, {}, []],
        "text": "line 1\nline 2\n",
        "specials": ["a: b", "# c", "- d", "[e]", "{f}", "'g'", '"h"', " i ", "j #k"],
        "unicode": "héllo ✓",
    }
    text = yamlio.dump_for_substitution(obj)
    assert yamlio.load_substituted(text) == [obj]


def test_dump_keeps_expressions_plain_and_quotes_with_double_quotes() -> None:
    text = yamlio.dump_for_substitution(
        {"a": "${n}", "b": "yes", "c": "${x}: y", "d": "run ${x}\nnext\n"}
    )
    assert text == 'a: ${n}\nb: "yes"\nc: "${x}: y"\nd: |\n  run ${x}\n  next\n'
