"""The `${var}` language of Flux's post-build substitution (fluxcd/pkg/envsubst), strict.

    ${var}                value; an error when var is not set (strict mode)
    ${var:=word} ${var:-word} ${var=word}
                          word when var is unset or empty (Flux treats all three alike;
                          `${var-word}` is a parse error in Flux, and here)
    ${var:?word} ${var:+word}
                          parsed and treated like `:=`, as Flux does
    ${#var}               length
    ${var^} ${var^^} ${var,} ${var,,}          upper/lower case, first or all
    ${var:offset} ${var:offset:length}         substring (negative counts from the end)
    ${var#glob} ${var##glob} ${var%glob} ${var%%glob}
                          strip the shortest/longest match from the start/end
    ${var/pat/rep} ${var//pat/rep} ${var/#pat/rep} ${var/%pat/rep}
                          replace first/all/prefix/suffix; `\\/` and `\\\\` escape
    $${var}               the text `${var}`: `$$` always reads as one `$`

Words may nest further expressions. Lengths and offsets count characters, where Go's
implementation counts bytes: the results differ only for non-ASCII values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

Lookup = Callable[[str], str | None]
"""A variable's value, or None when it is not set."""

_DEFAULT_OPS = frozenset({"=", ":=", ":-", ":?", ":+"})
MAX_NESTING = 100
"""Expressions nested deeper than this are refused (`ParseError`): parsing and expanding
recurse once per level, and Python's stack is not Go's."""


class ParseError(ValueError):
    """The text holds a `${` that is not a valid expression."""

    def __init__(self, problem: str, expression: str) -> None:
        super().__init__(f"{problem} in {expression!r}")
        self.problem = problem
        self.expression = expression


class Unset(LookupError):
    """Strict mode: a variable without a value is used without a default."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass(frozen=True, slots=True)
class _Expr:
    name: str
    op: str
    args: tuple[_Part, ...]


_Part = str | _Expr | list["_Part"]


def expand(text: str, lookup: Lookup) -> str:
    """`text` with every expression replaced; raises ParseError or Unset."""
    if "$" not in text:
        return text
    return _render(_Parser(text).document(), lookup)


def _render(part: _Part, lookup: Lookup) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, list):
        return "".join(_render(p, lookup) for p in part)
    args = [_render(arg, lookup) for arg in part.args]
    value = lookup(part.name)
    if value is None:
        if part.op not in _DEFAULT_OPS:
            raise Unset(part.name)
        value = ""
    return _apply(part.op, value, args)


def _apply(op: str, value: str, args: list[str]) -> str:
    if op == "len":
        return str(len(value))
    if op in (",", ",,", "^", "^^"):
        change = str.lower if op[0] == "," else str.upper
        return change(value) if len(op) == 2 else change(value[:1]) + value[1:]
    if op == ":":
        return _substring(value, args)
    if op in ("#", "##", "%", "%%"):
        return _trim(value, args[0], longest=len(op) == 2, suffix=op[0] == "%")
    if op in ("/", "//", "/#", "/%"):
        return _replace(op, value, args)
    return value if value or not args else "".join(args)


def _go_atoi(text: str) -> int | None:
    """strconv.Atoi: None for what it refuses, numbers outside int64 included (and
    Python will not even convert a string of more than 4300 digits)."""
    if not re.fullmatch(r"[+-]?[0-9]+", text) or len(text.lstrip("+-").lstrip("0")) > 19:
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def _substring(value: str, args: list[str]) -> str:
    start = _go_atoi(args[0])
    if start is None:
        return value
    if start < 0:
        start = max(len(value) + start, 0)
    if len(args) == 1:
        return value[start:]
    length = _go_atoi(args[1])
    if length is None:
        return value
    if length < 0:
        end = len(value) + length
        return value[start:end] if end >= start else ""
    return value[start : start + length]


def _replace(op: str, value: str, args: list[str]) -> str:
    pattern = args[0]
    replacement = args[1] if len(args) > 1 else ""
    if op == "//":
        return value.replace(pattern, replacement)
    if op == "/":
        return value.replace(pattern, replacement, 1)
    if len(args) != 2:
        return value  # Flux leaves the value alone when /# or /% has no replacement
    if op == "/#":
        return replacement + value[len(pattern) :] if value.startswith(pattern) else value
    return value[: len(value) - len(pattern)] + replacement if value.endswith(pattern) else value


def _trim(value: str, pattern: str, *, longest: bool, suffix: bool) -> str:
    """Flux strips a suffix by matching the reversed pattern against the reversed value."""
    if suffix:
        return _trim(value[::-1], pattern[::-1], longest=longest, suffix=False)[::-1]
    glob = _glob(pattern)
    if glob is None:
        return value
    ends = _prefix_ends(glob, value)
    if not ends:
        return value
    return value[(ends[-1] if longest else ends[0]) :]


_Glob = list[str | re.Pattern[str]]
"""A shell pattern as steps: "*" (any run), "?" (any one character), "=" and a literal
character, or a compiled one-character class."""


def _glob(pattern: str) -> _Glob | None:
    """A shell pattern (`*` matches anything, `/` included) as steps; None if malformed."""
    steps: _Glob = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch in "*?":
            steps.append(ch)
        elif ch == "\\":
            if i + 1 >= len(pattern):
                return None
            i += 1
            steps.append("=" + pattern[i])
        elif ch == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                return None
            body = pattern[i + 1 : end]
            negate = body[:1] in ("^", "!")
            body = body[1:] if negate else body
            if not body:
                return None
            try:
                steps.append(
                    re.compile(("[^" if negate else "[") + body.replace("\\", "\\\\") + "]", re.S)
                )
            except re.error:
                return None
            i = end
        else:
            steps.append("=" + ch)
        i += 1
    return steps


def _prefix_ends(glob: _Glob, value: str) -> list[int]:
    """The lengths (ascending, none zero) of the prefixes of `value` the pattern matches.

    The pattern runs as a set of positions in it, one character at a time: linear in
    the value for a given pattern. A regex per prefix, as this once was, backtracks
    exponentially in the number of `*`s (`${v#*a*a*a*b}` with a 200-character value took
    seconds, a longer one hours) and is quadratic in the value even without them."""

    def closure(states: set[int]) -> set[int]:
        for state in sorted(states):
            while state < len(glob) and glob[state] == "*":
                state += 1
                states.add(state)
        return states

    states = closure({0})
    ends: list[int] = []
    for index, ch in enumerate(value, start=1):
        moved: set[int] = set()
        for state in states:
            if state == len(glob):
                continue
            step = glob[state]
            if step == "*":
                moved.add(state)
            elif step == "?" or (
                step == "=" + ch if isinstance(step, str) else step.fullmatch(ch) is not None
            ):
                moved.add(state + 1)
        if not moved:
            break
        states = closure(moved)
        if len(glob) in states:
            ends.append(index)
    return ends


def _is_name_char(ch: str) -> bool:
    return ch.isalpha() or ch.isdecimal() or ch == "_"


class _Parser:
    """Recursive descent over one text, mirroring fluxcd/pkg/envsubst/parse."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.start = 0
        self.depth = 0

    def peek(self, offset: int = 0) -> str:
        at = self.pos + offset
        return self.text[at] if at < len(self.text) else ""

    def fail(self, problem: str) -> ParseError:
        end = self.text.find("}", self.pos)
        snippet = self.text[self.start : (end + 1 if end >= 0 else len(self.text))]
        return ParseError(problem, snippet[:60])

    def document(self) -> list[_Part]:
        parts: list[_Part] = []
        literal: list[str] = []
        while self.pos < len(self.text):
            if self.text.startswith("${", self.pos):
                if literal:
                    parts.append("".join(literal))
                    literal = []
                self.start = self.pos
                self.pos += 2
                parts.append(self.expression())
            elif self.text.startswith("$$", self.pos):
                literal.append("$")
                self.pos += 2
            else:
                literal.append(self.text[self.pos])
                self.pos += 1
        if literal:
            parts.append("".join(literal))
        return parts

    def expression(self) -> _Expr:
        """After `${`: the expression up to and including its `}`."""
        if self.depth >= MAX_NESTING:
            raise self.fail(f"expressions nested more than {MAX_NESTING} deep")
        self.depth += 1
        try:
            return self.inner()
        finally:
            self.depth -= 1

    def inner(self) -> _Expr:
        if self.peek() == "#":
            self.pos += 1
            name = self.name()
            if not name:
                raise self.fail("bad substitution")
            self.close()
            return _Expr(name, "len", ())
        name = self.name()
        if not name:
            raise self.fail("unable to parse variable name")
        ch = self.peek()
        if ch == ":" and self.peek(1) in ("=", "-", "?", "+") and self.peek(1):
            self.pos += 2
            return self.default(name, ":" + self.text[self.pos - 1])
        if ch == "=":
            self.pos += 1
            return self.default(name, "=")
        if ch == ":":
            return self.substring(name)
        if ch in (",", "^"):
            op = self.run(lambda c, n: c in ",^" and n < 2)
            self.close()
            return _Expr(name, op, ())
        if ch == "/":
            return self.replacement(name)
        if ch in ("#", "%"):
            op = self.run(lambda c, n: c == ch and n < 2)
            arg = self.param(lambda c: c != "}")
            self.close()
            return _Expr(name, op, (arg,))
        if ch != "}":
            raise self.fail("missing closing brace")
        self.pos += 1
        return _Expr(name, "", ())

    def name(self) -> str:
        return self.run(lambda c, _: _is_name_char(c))

    def run(self, accept: Callable[[str, int], bool]) -> str:
        begin = self.pos
        while self.pos < len(self.text) and accept(self.text[self.pos], self.pos - begin):
            self.pos += 1
        return self.text[begin : self.pos]

    def close(self) -> None:
        if self.peek() != "}":
            raise self.fail("bad substitution")
        self.pos += 1

    def default(self, name: str, op: str) -> _Expr:
        args: list[_Part] = []
        while self.peek() != "}":
            args.append(self.param(lambda c: c != "}"))
        self.pos += 1
        return _Expr(name, op, tuple(args))

    def substring(self, name: str) -> _Expr:
        self.pos += 1  # the ':'
        args: list[_Part] = [self.param(lambda c: c not in ":}")]
        if self.peek() == ":":
            self.run(lambda c, _: c == ":")
            args.append(self.param(lambda c: c != "}"))
            self.close()
        elif self.peek() == "}":
            self.pos += 1
        else:
            raise self.fail("bad substitution")
        return _Expr(name, ":", tuple(args))

    def replacement(self, name: str) -> _Expr:
        op = "/"
        self.pos += 1
        if self.peek() in ("/", "#", "%") and self.peek():
            op += self.peek()
            self.pos += 1
        pattern = self.param(lambda c: c != "/", escapes=True, allow_empty=True)
        if self.peek() != "/":
            raise self.fail("bad substitution")
        self.pos += 1
        if self.peek() == "}":
            self.pos += 1
            return _Expr(name, op, (pattern,))
        replacement = self.param(lambda c: c != "}", escapes=True)
        self.close()
        return _Expr(name, op, (pattern, replacement))

    def param(
        self, accept: Callable[[str], bool], *, escapes: bool = False, allow_empty: bool = False
    ) -> _Part:
        """One argument: a nested expression, or text up to a stop character or `${`."""
        if self.text.startswith("${", self.pos):
            self.pos += 2
            return self.expression()
        chars: list[str] = []
        while self.pos < len(self.text) and not self.text.startswith("${", self.pos):
            ch = self.text[self.pos]
            if escapes and ch in "$\\" and self.peek(1) in (("$",) if ch == "$" else ("/", "\\")):
                chars.append(self.peek(1))
                self.pos += 2
                continue
            if not accept(ch):
                break
            chars.append(ch)
            self.pos += 1
        if not chars and not allow_empty:
            raise self.fail("unable to parse substitution within function")
        return "".join(chars)
