"""One table per controller: what each failure means for the object and for the queue.

Where it fits: a typed reconciler's steps raise what they know — a `ReconcileError`
with the Flux reason (`ProviderNotFound`), or the error of the library underneath
(`registry.RegistryError`, `giterrors.GitError`) — and say nothing of retrying. The
controller declares once, next to its reconciler, what each of them leads to; the
lifecycle asks the table (`Table.classify`) and turns the answer into conditions, an
event and a requeue decision (`reconcile.decide`), as for every other error.

    stall(X)           Stalled=True, Ready=False   no retry until the spec changes
    wait(X, after)     Ready=False, a Normal event requeued after `after` (an expected wait)
    retry(X, after)    Ready=False, a Warning      tried again after `after`
    backoff(X)         Ready=False, a Warning      tried again with exponential backoff

X is a reason (matching a `ReconcileError` raised with it) or an exception type. The
condition's reason is the row's `reason` when it gives one, else the error's own
`reason` attribute, else ReconciliationFailed. `after` is seconds, or a function of
the object's spec (`spec.interval`), so delays come from the spec or from a named
default, never from a literal where the error is raised. What the table does not name
keeps its own meaning: a `StalledError` stalls, a `WaitingError` waits its own delay,
anything else is retried with backoff.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from kidp_gitops.runtime import conditions
from kidp_gitops.runtime.reconcile import ReconcileError, RetryError, StalledError, WaitingError

SpecT = TypeVar("SpecT")

Delay = float | Callable[[SpecT], float]
"""Seconds, or the seconds a spec asks for."""


@dataclass(frozen=True)
class Rule(Generic[SpecT]):
    """One row: failures matching `match` lead to `outcome`."""

    match: str | type[Exception]
    outcome: Literal["stall", "wait", "retry", "backoff"]
    after: Delay[SpecT] = 0.0
    reason: str | None = None
    """The condition's reason, instead of the error's own."""

    def matches(self, err: Exception) -> bool:
        if isinstance(self.match, str):
            return isinstance(err, ReconcileError) and err.reason == self.match
        return isinstance(err, self.match)

    def delay(self, spec: SpecT) -> float:
        return self.after(spec) if callable(self.after) else float(self.after)


def stall(match: str | type[Exception], *, reason: str | None = None) -> Rule[Any]:
    """No retry until the object changes."""
    return Rule(match, "stall", reason=reason)


def wait(
    match: str | type[Exception], after: Delay[SpecT], *, reason: str | None = None
) -> Rule[SpecT]:
    """An expected wait (a dependency, a Secret not there yet): said quietly."""
    return Rule(match, "wait", after, reason)


def retry(
    match: str | type[Exception], after: Delay[SpecT], *, reason: str | None = None
) -> Rule[SpecT]:
    """A failure worth a Warning, tried again after `after`."""
    return Rule(match, "retry", after, reason)


def backoff(match: str | type[Exception], *, reason: str | None = None) -> Rule[Any]:
    """A transient failure of a kind that names its reason: retried with backoff."""
    return Rule(match, "backoff", reason=reason)


class Table(Generic[SpecT]):
    """A controller's rows, tried in order; rows naming a reason before those naming a
    type, so a reason can refine what a type says."""

    def __init__(self, *rules: Rule[SpecT]) -> None:
        self.rules = sorted(rules, key=lambda r: not isinstance(r.match, str))

    def classify(self, err: Exception, spec: SpecT) -> Exception:
        """`err` as the error the lifecycle acts on (`err` itself when no row names it,
        and a `StalledError` always: whoever raised it knew retrying cannot help)."""
        if isinstance(err, StalledError):
            return err
        rule = next((r for r in self.rules if r.matches(err)), None)
        if rule is None:
            return err
        carried = getattr(err, "reason", None)
        reason = rule.reason or (carried if isinstance(carried, str) and carried else None)
        message = getattr(err, "message", None) or str(err)
        reason = reason or conditions.RECONCILIATION_FAILED
        match rule.outcome:
            case "stall":
                return StalledError(reason, message)
            case "wait":
                return WaitingError(reason, message, rule.delay(spec))
            case "retry":
                return RetryError(reason, message, rule.delay(spec))
            case "backoff":
                return ReconcileError(reason, message)


EMPTY: Table[Any] = Table()
"""The table of a controller whose errors all say what follows themselves."""
