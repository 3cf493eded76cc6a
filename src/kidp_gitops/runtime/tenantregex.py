"""Regular expressions a tenant wrote (a spec field), compiled as Flux compiles them: Go's
regexp is RE2, so is this. Same syntax (no backreferences, no lookaround), and matching in
time linear in the text: Python's backtracking `re` would let `^(a+)+$` against a long tag
hold the event loop every controller shares for minutes.

    pattern = tenantregex.compile("^v1\\\\.")   # InvalidPattern when RE2 refuses it
    pattern.search(tag)
"""

from __future__ import annotations

import functools
from typing import Protocol, cast

import re2  # type: ignore[import-untyped]


class InvalidPattern(ValueError):
    """RE2 refuses the pattern; the message says why, without the pattern."""


class Pattern(Protocol):
    """What callers need of a compiled RE2 pattern."""

    def search(self, text: str) -> object | None: ...


_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a bad pattern is the caller's error to report, not stderr noise


@functools.lru_cache(maxsize=256)
def compile(pattern: str) -> Pattern:
    """The pattern compiled once (a spec's filter is the same every interval)."""
    try:
        return cast(Pattern, re2.compile(pattern, _OPTIONS))
    except re2.error as err:
        why = err.args[0] if err.args else ""
        if isinstance(why, bytes):  # the binding hands RE2's message over undecoded
            why = why.decode("utf-8", "replace")
        raise InvalidPattern(str(why) or "not a valid RE2 expression") from None
