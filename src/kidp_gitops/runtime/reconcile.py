"""The reconcile contract: what a controller implements and how its outcome steers the queue.

A `Reconciler` receives a `Request` (the namespace and name of one object) and either returns
a `Result` or raises. There is one way to ask for another pass: return `requeue_after`, or
raise one of the errors below. Each error carries the Flux reason a status condition shows.

    Exception
     └── ReconcileError     transient, with a reason: retried with exponential backoff
          ├── StalledError  no retry until the object changes (Flux's Stalled condition)
          └── WaitingError  retried after `retry_after`; a wait, so backoff is reset

Any exception that is not a `ReconcileError` is transient too. `decide` is the one place
that turns an outcome into a `Decision`; the workqueue applies it (`WorkQueue.apply`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Request:
    """The object to reconcile; a cluster-scoped object has an empty namespace."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True, slots=True)
class Result:
    """A successful pass; `requeue_after` (seconds) asks for the next one, e.g. at spec.interval."""

    requeue_after: float | None = None

    def __post_init__(self) -> None:
        if self.requeue_after is not None and self.requeue_after < 0:
            raise ValueError(f"requeue_after must not be negative, got {self.requeue_after}")


class Reconciler(Protocol):
    """Drives one object towards its declared state; safe to call again with the same request."""

    async def reconcile(self, request: Request) -> Result: ...


class ReconcileError(Exception):
    """A failure with a Flux reason (e.g. "ArtifactFailed"); transient unless a subclass says."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class StalledError(ReconcileError):
    """Retrying cannot help (e.g. an invalid spec); wait for the object to change."""


class WaitingError(ReconcileError):
    """Not ready yet (e.g. "DependencyNotReady"); look again after `retry_after` seconds."""

    def __init__(self, reason: str, message: str, retry_after: float) -> None:
        if retry_after < 0:
            raise ValueError(f"retry_after must not be negative, got {retry_after}")
        super().__init__(reason, message)
        self.retry_after = retry_after


class RetryError(WaitingError):
    """Failed (a build, an apply, a health check): a Warning, and another try after
    `retry_after` seconds rather than an exponential backoff. A plain `WaitingError` is
    an expected wait (a dependency, a source without an artifact yet), said quietly."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What the queue does with a key after one pass.

    `backoff` re-adds the key rate-limited and keeps its failure count; otherwise the
    failure count is forgotten and, if `requeue_after` is set, the key comes back then.
    """

    requeue_after: float | None = None
    backoff: bool = False

    def __post_init__(self) -> None:
        if self.backoff and self.requeue_after is not None:
            raise ValueError("a decision either backs off or requeues after a delay, not both")


def decide(outcome: Result | Exception) -> Decision:
    """The retry rules, in one place."""
    match outcome:
        case Result(requeue_after=delay):
            return Decision(requeue_after=delay)
        case WaitingError(retry_after=delay):
            return Decision(requeue_after=delay)
        case StalledError():
            return Decision()
        case _:
            return Decision(backoff=True)


async def reconcile_once(reconciler: Reconciler, request: Request) -> Decision:
    """Run one pass and decide what follows; the handler a controller gives its workers."""
    try:
        result = await reconciler.reconcile(request)
    except Exception as exc:
        # Errors with a reason become conditions and events further up; an exception
        # without one is a fault nobody classified, so its traceback is worth a log line.
        if not isinstance(exc, ReconcileError):
            log.warning("reconcile %s failed", request, exc_info=exc)
        return decide(exc)
    return decide(result)
