"""Which releases run their helm actions in a helper of their own, and for how long: what
the engine learned from the ends of the shared Helm helper (`runner`).

    suspicion = Suspicion()
    suspicion.suspect({"team-a/web"})   # in flight at an end of the shared helper
    suspicion.runs_alone("team-a/web")  # -> True, until it is acquitted
    suspicion.acquit("team-a/web")      # its install or upgrade answered alone
    suspicion.confine("team-a/web")     # found guilty: its namespace runs alone a while

A suspect runs alone until an install or upgrade of it answers alone (`acquit`), unless
it was in flight at `STRIKES` ends within `STRIKE_WINDOW`: then it runs alone for
`BACKOFF` whatever its runs alone show (a chart that crashes the shared helper only
sometimes, or only beside others, must not come back to it each time). A release found
guilty confines its namespace for `BACKOFF` (a tenant creating new names must not cost
one shared-helper end each).

What it holds outlives the engine's process: `document` writes it as a small JSON
document and `restore` reads one back (`suspicionstore` keeps it in a ConfigMap), so a
chart that ends the shared helper gets no fresh start from a restart or a new leader.
Times are wall-clock seconds for that reason (a monotonic clock starts anew with each
process). Bounded: at most `KEPT` entries of each kind, the oldest forgotten first, and
a document of at most `DOCUMENT_BYTES` (a ConfigMap holds 1 MiB).
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

STRIKES = 2
"""Shared-helper ends a release may be in flight at within `STRIKE_WINDOW` before it
runs alone for `BACKOFF`, whatever its runs alone show."""
STRIKE_WINDOW = 3600.0
BACKOFF = 3600.0
"""Seconds a struck release, or the namespace of a release found guilty, runs alone."""
NAMESPACE_ENDS = 3
"""Shared-helper ends charged to one namespace's releases (a render past its bound named
by the helper, a deadline passed there) within `STRIKE_WINDOW` that confine the
namespace for `BACKOFF`, whatever their runs alone show: a stall that costs no CPU
passes alone, yet ends the shared helper, and every tenant's actions in it, each time."""
KEPT = 4096
"""Entries of each kind (suspects, strikes, confined namespaces) kept, at most."""
DOCUMENT_BYTES = 512 << 10
"""The largest document written: half a ConfigMap, whatever the names' lengths."""
VERSION = 1
TEXT_BYTES = 1 << 20
"""The longest text `restore` reads (a ConfigMap holds 1 MiB): more is nothing known."""

UNTIL_ACQUITTED = 0.0


class Suspicion:
    """The suspects, their strikes and the confined namespaces of one engine."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._suspects: dict[str, float] = {}
        """Releases ("namespace/name") whose actions run alone, oldest first: until an
        install or upgrade answers alone (`UNTIL_ACQUITTED`), or until a time (struck)."""
        self._strikes: dict[str, list[float]] = {}
        """When each release was in flight at an end of the shared helper (its last
        `STRIKES`, in the window)."""
        self._confined: dict[str, float] = {}
        """Namespaces whose releases run alone, until a time: one of theirs was guilty."""
        self._ends: dict[str, list[float]] = {}
        """When a release of each namespace was charged with an end of the shared helper
        (its last `NAMESPACE_ENDS`, in the window)."""
        self.changes = 0
        """Counts the changes of what is kept (a writer writes when it moved)."""

    def runs_alone(self, key: str) -> bool:
        """Whether release `key` ("namespace/name") runs its next action alone."""
        now = self._clock()
        until = self._suspects.get(key)
        if until is not None:
            if until == UNTIL_ACQUITTED or until > now:
                return True
            del self._suspects[key]  # its back-off is over (a document leaves it out too)
        namespace = key.partition("/")[0]
        confined = self._confined.get(namespace)
        if confined is not None:
            if confined > now:
                return True
            del self._confined[namespace]
        return False

    def suspects(self, prefix: str) -> list[str]:
        """The suspects whose key starts with `prefix`."""
        return [k for k in self._suspects if k.startswith(prefix)]

    def suspect(self, keys: Iterable[str]) -> None:
        """`keys` were in flight at an end of the shared helper: each runs alone next,
        and is struck."""
        now = self._clock()
        for key in keys:
            if not key:
                continue
            self._suspects.pop(key, None)  # re-inserted: the newest last
            self._suspects[key] = UNTIL_ACQUITTED
            struck = [t for t in self._strikes.pop(key, []) if now - t < STRIKE_WINDOW]
            self._strikes[key] = [*struck, now][-STRIKES:]
            self.changes += 1
        _bound(self._suspects)
        _bound(self._strikes)

    def acquit(self, key: str) -> None:
        """`key`'s install or upgrade answered alone: back to the shared helper, unless
        it was in flight at `STRIKES` ends within `STRIKE_WINDOW` (then after `BACKOFF`)."""
        now = self._clock()
        struck = [t for t in self._strikes.get(key, []) if now - t < STRIKE_WINDOW]
        before = self._suspects.get(key)
        if len(struck) >= STRIKES:
            self._suspects[key] = struck[-1] + BACKOFF
        else:
            self._suspects.pop(key, None)
        if self._suspects.get(key) != before:
            self.changes += 1

    def charge(self, key: str) -> None:
        """The shared helper ended by `key`'s doing alone (its render named, its deadline
        passed): `NAMESPACE_ENDS` such ends within `STRIKE_WINDOW` confine the namespace."""
        now = self._clock()
        namespace = key.partition("/")[0]
        ends = [t for t in self._ends.pop(namespace, []) if now - t < STRIKE_WINDOW]
        self._ends[namespace] = ends = [*ends, now][-NAMESPACE_ENDS:]
        self.changes += 1
        _bound(self._ends)
        if len(ends) >= NAMESPACE_ENDS:
            self.confine(key)

    def confine(self, key: str) -> None:
        """`key` was found guilty: every release of its namespace runs alone for `BACKOFF`."""
        namespace = key.partition("/")[0]
        self._confined.pop(namespace, None)
        self._confined[namespace] = self._clock() + BACKOFF
        self.changes += 1
        _bound(self._confined)

    def document(self) -> str:
        """What is kept, as JSON of at most `DOCUMENT_BYTES` (what expired left out,
        then the oldest entries while it is larger)."""
        now = self._clock()
        suspects: dict[str, Any] = {
            k: round(u) for k, u in self._suspects.items() if u == UNTIL_ACQUITTED or u > now
        }
        strikes: dict[str, Any] = {}
        for k, ts in self._strikes.items():
            if recent := [round(t) for t in ts if now - t < STRIKE_WINDOW]:
                strikes[k] = recent
        ends: dict[str, Any] = {}
        for k, ts in self._ends.items():
            if recent := [round(t) for t in ts if now - t < STRIKE_WINDOW]:
                ends[k] = recent
        confined: dict[str, Any] = {k: round(u) for k, u in self._confined.items() if u > now}
        kept: dict[str, Any] = {
            "version": VERSION,
            "suspects": suspects,
            "strikes": strikes,
            "confined": confined,
            "ends": ends,
        }
        text = _dumps(kept)
        while len(text.encode()) > DOCUMENT_BYTES:
            largest = max((suspects, strikes, confined, ends), key=len)
            # An eighth of the largest kind at a time: a few passes, not one per entry.
            for key in list(largest)[: max(1, len(largest) // 8)]:
                del largest[key]
            text = _dumps(kept)
        return text

    def restore(self, text: str) -> bool:
        """Take what `document` wrote (by this engine or the leader before it) as what
        is known; what cannot be read is left out, never trusted whole. Whatever the
        text (a ConfigMap anyone with write access there may have edited), this never
        raises: a text too long, too deep, or with numbers that are no times is nothing
        known. Returns whether it was read whole (the caller says so once otherwise)."""
        try:
            return self._restore(text)
        except Exception:  # hostile text must never stop every Helm action
            self._suspects, self._strikes, self._confined, self._ends = {}, {}, {}, {}
            return False

    def merge(self, text: str) -> None:
        """Add what another writer kept (`document`'s text: the leader before, or an
        engine that wrote since) to what is known: the union, each entry's latest time
        (a suspect until acquitted stays one)."""
        other = Suspicion(self._clock)
        other.restore(text)
        before = self.document()
        for key, until in other._suspects.items():
            mine = self._suspects.get(key)
            if mine is None or (
                mine != UNTIL_ACQUITTED and (until == UNTIL_ACQUITTED or until > mine)
            ):
                self._suspects[key] = until
        for key, until in other._confined.items():
            self._confined[key] = max(until, self._confined.get(key, until))
        for mine_of, theirs, most in (
            (self._strikes, other._strikes, STRIKES),
            (self._ends, other._ends, NAMESPACE_ENDS),
        ):
            for key, times in theirs.items():
                mine_of[key] = sorted({*mine_of.get(key, []), *times})[-most:]
        for each in (self._suspects, self._strikes, self._confined, self._ends):
            _bound(each)
        if self.document() != before:
            self.changes += 1

    def _restore(self, text: str) -> bool:
        if len(text) > TEXT_BYTES:
            raise ValueError("too long")
        # NaN and Infinity are no times: read as None, left out below.
        kept = json.loads(text, parse_constant=lambda _: None)
        if not isinstance(kept, dict) or kept.get("version") != VERSION:
            raise ValueError("not a document of this version")
        whole = True
        suspects: dict[str, float] = {}
        strikes: dict[str, list[float]] = {}
        confined: dict[str, float] = {}
        ends: dict[str, list[float]] = {}
        for kind, found in ((suspects, kept.get("suspects")), (confined, kept.get("confined"))):
            for k, v in _entries(found):
                if (at := _time(v)) is not None:
                    kind[k] = at
                else:
                    whole = False
        for times_of, found, most in (
            (strikes, kept.get("strikes"), STRIKES),
            (ends, kept.get("ends"), NAMESPACE_ENDS),
        ):
            for k, v in _entries(found):
                times = (
                    [at for t in v if (at := _time(t)) is not None] if isinstance(v, list) else []
                )
                whole = whole and isinstance(v, list) and len(times) == len(v)
                times_of[k] = times[-most:]
        for each in (suspects, strikes, confined, ends):
            _bound(each)
        self._suspects, self._strikes, self._confined = suspects, strikes, confined
        self._ends = ends
        return whole


def _time(value: object) -> float | None:
    """`value` as a time: a finite number, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        at = float(value)
    except OverflowError:  # an int past a float's range
        return None
    return at if math.isfinite(at) else None


def _entries(value: object) -> list[tuple[str, Any]]:
    if not isinstance(value, dict):
        return []
    return [(k, v) for k, v in value.items() if isinstance(k, str)]


def _bound(kept: dict[str, Any]) -> None:
    """The oldest entries past `KEPT` forgotten (at once: one at a time from the front of
    a dict costs time quadratic in their number)."""
    for key in list(itertools.islice(kept, max(0, len(kept) - KEPT))):
        del kept[key]


def _dumps(kept: dict[str, Any]) -> str:
    return json.dumps(kept, separators=(",", ":"))
