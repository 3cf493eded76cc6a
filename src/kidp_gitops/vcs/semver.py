"""Semantic versions and the range syntax Flux accepts in `spec.ref.semver`.

Flux reads ranges with the Masterminds/semver constraint syntax; this is our own
implementation of it:

    >=1.0.0 <2.0.0     terms separated by spaces or commas must all hold
    >=1.0 || 3.x       alternatives
    =, !=, >, <, >=, <=, =<     comparisons; a partial version is a wildcard
    1.2.x, 1.x, *, x, X         wildcards; `1.2` alone means 1.2.x
    ~1.2.3             >=1.2.3 <1.3.0 (also ~>)        ~1 → >=1.0.0 <2.0.0
    ^1.2.3             >=1.2.3 <2.0.0                  ^0.2.3 → >=0.2.3 <0.3.0
    1.2 - 1.4.5        >=1.2.0 <=1.4.5

Versions are read leniently, as Masterminds does: an optional leading `v`, and missing
minor or patch numbers count as 0 (`v1.2` is 1.2.0). Pre-releases (1.2.0-rc.1) only
match when an alternative of the range itself names a pre-release (`>=1.2.0-0`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from kidp_gitops.vcs import giterrors

_VERSION = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)(?:\.(?P<minor>\d+))?(?:\.(?P<patch>\d+))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$",
    re.ASCII,  # `\d` is [0-9], as in Go: a version in other scripts' digits is none
)
_PARTIAL = re.compile(
    r"^v?(?P<major>\d+|[xX*])(?:\.(?P<minor>\d+|[xX*]))?(?:\.(?P<patch>\d+|[xX*]))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$",
    re.ASCII,
)
_TERM = re.compile(r"^(?P<op>~>|!=|>=|<=|=<|=>|[=<>~^])?(?P<ver>[vV0-9xX*]\S*)$")
_WILD = ("x", "X", "*")


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        if (self.major, self.minor, self.patch) != (other.major, other.minor, other.patch):
            return (self.major, self.minor, self.patch) < (other.major, other.minor, other.patch)
        if not self.pre or not other.pre:
            return bool(self.pre) and not other.pre  # a pre-release comes before its release
        for a, b in zip(self.pre, other.pre, strict=False):
            if a != b:
                return _ident_key(a) < _ident_key(b)
        return len(self.pre) < len(other.pre)

    def __str__(self) -> str:
        pre = "-" + ".".join(self.pre) if self.pre else ""
        return f"{self.major}.{self.minor}.{self.patch}{pre}"


def _ident_key(ident: str) -> tuple[int, int, str]:
    # Numeric identifiers sort numerically and before alphanumeric ones; like
    # Masterminds, one too large for a uint64 counts as alphanumeric.
    number = _uint64(ident)
    return (0, number, "") if number is not None else (1, 0, ident)


def _uint64(digits: str) -> int | None:
    """strconv.ParseUint(digits, 10, 64): None beyond 2**64 - 1 (which also keeps int()
    from the 4300-digit strings Python refuses to convert)."""
    if not (digits.isascii() and digits.isdigit()) or len(digits.lstrip("0")) > 20:
        return None
    number = int(digits)
    return number if number < 2**64 else None


def parse_version(text: str) -> Version | None:
    """The version a tag names, or None when it names none."""
    m = _VERSION.match(text.strip())
    if not m:
        return None
    numbers = [_uint64(m[key] or "0") for key in ("major", "minor", "patch")]
    if None in numbers:
        return None  # Masterminds reads each as a uint64
    major, minor, patch = (n or 0 for n in numbers)
    pre = tuple(m["pre"].split(".")) if m["pre"] else ()
    return Version(major, minor, patch, pre)


@dataclass(frozen=True)
class _Bound:
    version: Version
    inclusive: bool


@dataclass(frozen=True)
class _Term:
    """One interval (either end open), or — with `exclude` — everything but one."""

    lower: _Bound | None = None
    upper: _Bound | None = None
    exclude: _Term | None = None

    def contains(self, v: Version) -> bool:
        if self.exclude is not None:
            return not self.exclude.contains(v)
        if self.lower and (
            v < self.lower.version or (v == self.lower.version and not self.lower.inclusive)
        ):
            return False
        return not (
            self.upper
            and (v > self.upper.version or (v == self.upper.version and not self.upper.inclusive))
        )


@dataclass(frozen=True)
class Range:
    """A parsed range: alternatives (||) of terms that must all hold."""

    text: str
    alternatives: tuple[tuple[tuple[_Term, ...], bool], ...]  # (terms, allows pre-releases)

    def matches(self, v: Version) -> bool:
        return any(
            (allow_pre or not v.pre) and all(t.contains(v) for t in terms)
            for terms, allow_pre in self.alternatives
        )

    def best(self, versions: dict[str, Version]) -> str | None:
        """The name whose version is the highest match (ties: the last name in order)."""
        matching = [(v, name) for name, v in versions.items() if self.matches(v)]
        return max(matching)[1] if matching else None


def parse_range(text: str) -> Range:
    """Parse a range; raise giterrors.InvalidRef saying what is wrong with it."""
    alternatives = []
    for alt in text.split("||"):
        alt = re.sub(r"\s+-\s+", " - ", alt.replace(",", " ").strip())
        alt = re.sub(r"(~>|!=|>=|<=|=<|=>|[=<>~^])\s+", r"\1", alt)
        tokens = alt.split()
        if not tokens:
            raise giterrors.InvalidRef(f"semver range '{text}' has an empty alternative")
        terms: list[_Term] = []
        allow_pre = False
        i = 0
        while i < len(tokens):
            if i + 2 < len(tokens) and tokens[i + 1] == "-":
                low, high = _partial(tokens[i], text), _partial(tokens[i + 2], text)
                terms.append(_Term(_lowest(low), _highest_inclusive(high)))
                allow_pre = allow_pre or bool(low[3] or high[3])
                i += 3
                continue
            m = _TERM.match(tokens[i])
            if not m:
                raise giterrors.InvalidRef(f"semver range '{text}': cannot read '{tokens[i]}'")
            parts = _partial(m["ver"], text)
            terms.append(_term(m["op"] or "=", parts))
            allow_pre = allow_pre or bool(parts[3])
            i += 1
        alternatives.append((tuple(terms), allow_pre))
    return Range(text, tuple(alternatives))


_Parts = tuple[int | None, int | None, int | None, tuple[str, ...]]


def _partial(text: str, whole: str) -> _Parts:
    m = _PARTIAL.match(text)
    if not m:
        raise giterrors.InvalidRef(f"semver range '{whole}': '{text}' is not a version")
    nums: list[int | None] = []
    for key in ("major", "minor", "patch"):
        value = m[key]
        if value is None or value in _WILD or (nums and nums[-1] is None):
            nums.append(None)
        elif (number := _uint64(value)) is not None:
            nums.append(number)
        else:
            raise giterrors.InvalidRef(f"semver range '{whole}': '{text}' is too large a version")
    pre = tuple(m["pre"].split(".")) if m["pre"] and nums[2] is not None else ()
    return nums[0], nums[1], nums[2], pre


def _lowest(p: _Parts) -> _Bound:
    return _Bound(Version(p[0] or 0, p[1] or 0, p[2] or 0, p[3]), True)


def _next(p: _Parts) -> Version | None:
    """The first version above every version the partial `p` covers (None: no end)."""
    major, minor, patch, _ = p
    if major is None:
        return None
    if minor is None:
        return Version(major + 1, 0, 0, ("0",))
    if patch is None:
        return Version(major, minor + 1, 0, ("0",))
    return None


def _highest_inclusive(p: _Parts) -> _Bound | None:
    nxt = _next(p)
    if nxt is not None:
        return _Bound(nxt, False)
    if p[0] is None:
        return None
    return _Bound(Version(p[0], p[1] or 0, p[2] or 0, p[3]), True)


def _term(op: str, p: _Parts) -> _Term:
    major, minor, patch, _ = p
    exact = major is not None and minor is not None and patch is not None
    if op in ("=", "!="):
        inner = _Term() if major is None else _Term(_lowest(p), _highest_inclusive(p))
        return inner if op == "=" else _Term(exclude=inner)
    if major is None:  # `>=*`, `<x`, ...: any version
        return _Term()
    if op in (">=", "=>"):
        return _Term(lower=_lowest(p))
    if op == ">":
        if exact:
            return _Term(lower=_Bound(_lowest(p).version, False))
        nxt = _next(p)
        return _Term(lower=_Bound(nxt, True) if nxt else None)
    if op == "<":
        return _Term(upper=_Bound(_lowest(p).version if exact else _floor(p), False))
    if op in ("<=", "=<"):
        return _Term(upper=_highest_inclusive(p))
    if op in ("~", "~>"):
        upper = (
            Version(major + 1, 0, 0, ("0",))
            if minor is None
            else Version(major, minor + 1, 0, ("0",))
        )
        return _Term(_lowest(p), _Bound(upper, False))
    # ^: the left-most non-zero part stays fixed.
    if major > 0 or minor is None:
        upper = Version(major + 1, 0, 0, ("0",))
    elif minor > 0 or patch is None:
        upper = Version(0, minor + 1, 0, ("0",))
    else:
        upper = Version(0, 0, patch + 1, ("0",))
    return _Term(_lowest(p), _Bound(upper, False))


def _floor(p: _Parts) -> Version:
    """The lowest version a partial covers, below its pre-releases (`<1.2` excludes 1.2.0-rc)."""
    return Version(p[0] or 0, p[1] or 0, p[2] or 0, ("0",))
