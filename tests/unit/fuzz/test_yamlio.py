"""YAML as the engine reads it (`yamlio`): documents, or `yaml.YAMLError` (bounds broken:
`yamlio.TooLarge`) and, when strict, `yamlio.Unsupported`; nothing else. What the loader
accepts survives the substitution round trip (dump, then read as Flux reads it)."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kidp_gitops.goyaml import yamlio
from tests.unit.fuzz import harness

_TOKENS = [
    "\n", "  ", "- ", ": ", "a", "b: ", "? ", "[", "]", "{", "}", ", ", "&a ", "*a", "&b ",
    "*b", "!!str ", "!!int ", "!!binary ", "!custom ", "<<: ", "|", "|-", ">", "'", '"', "#",
    "---\n", "...\n", "%YAML 1.1\n", "%TAG ! tag:x,2024:\n", "0x1F", "0o17", "017", "1e3",
    "1_000", "+.inf", ".nan", "yes", "on", "~", "null", "2024-01-01", "12:30:00", "-0",
    "\t", "\\", "\ufeff", "\x00", "\x85", "\u2028", "é", "9" * 30,
]  # fmt: skip
TEXT = st.lists(st.sampled_from(_TOKENS) | st.text(max_size=3), max_size=40).map("".join)
DATA = TEXT.map(str.encode) | st.binary(max_size=60)

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["yes", "on", "0755", "1.0", "<<", "~", "2024-01-01", "- a", "a: b"])
)
OBJECTS = st.dictionaries(
    st.text(max_size=8),
    st.recursive(
        _SCALARS,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=20,
    ),
    max_size=6,
)

READERS = {
    "manifests": yamlio.load_manifests,
    "strict": lambda data: yamlio.load_manifests(data, strict=True),
    "text tree": yamlio.load_text_tree,
    "substituted": lambda data: yamlio.load_substituted(
        data if isinstance(data, str) else data.decode("utf-8", "replace")
    ),
    "compose": yamlio.compose,
}


def reads_or_refuses(data: str | bytes) -> None:
    for read in READERS.values():
        with contextlib.suppress(yaml.YAMLError, yamlio.Unsupported):
            read(data)


def _same(a: Any, b: Any) -> bool:
    """Equality with NaN equal to itself and 1 == 1.0 only when both are numbers."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def round_trips(obj: dict[str, Any]) -> None:
    text = yamlio.dump_for_substitution(obj)
    assert _same(yamlio.load_substituted(text), [obj] if obj else [{}]), text


@given(DATA)
@settings(max_examples=harness.examples(800))
@example("a: &a [*a]")
@example("a: &a\n  b: *a")
@example("[" * 250 + "]" * 250)
@example(b"\xff\xfe[\x00")
@example("a: !!int 1e3")  # ValueError from PyYAML's constructor
@example("a: !!float")  # IndexError
@example("a: !!bool x")  # KeyError
@example("a: !!timestamp x")  # AttributeError
@example("a: " + "9" * 5000)  # ValueError: int() of over 4300 digits
@harness.bounded
def test_reads_or_refuses(data: str | bytes) -> None:
    reads_or_refuses(data)


@given(TEXT)
@settings(max_examples=harness.examples(600))
@harness.bounded
def test_what_the_loader_accepts_round_trips(text: str) -> None:
    try:
        docs = yamlio.load_manifests(text)
    except yaml.YAMLError:
        return
    for doc in docs:
        if isinstance(doc, dict):
            round_trips(doc)
    try:
        strict = yamlio.load_manifests(text, strict=True)
    except (yaml.YAMLError, yamlio.Unsupported):
        return
    assert _same(strict, docs)


@given(OBJECTS)
@settings(max_examples=harness.examples(120))
@example({"k": "a\n\x85"})  # NEL in a literal block read back as a line break
@harness.bounded
def test_objects_round_trip(obj: dict[str, Any]) -> None:
    round_trips(obj)


def _corpus_case(path: Path) -> None:
    data = path.read_bytes()
    if ".refused." in path.name:
        for read in READERS.values():
            with pytest.raises(yamlio.TooLarge):
                read(data)
    else:
        reads_or_refuses(data)
    if ".accepted." in path.name:
        (doc,) = yamlio.load_manifests(data)
        round_trips(doc)


@pytest.mark.parametrize("path", harness.corpus("yaml"))
def test_corpus(path: Path) -> None:
    harness.bounded(_corpus_case)(path)
