"""Which Alerts an event goes to, and which events are too soon a repeat to send.

An Alert takes an event when one of its `eventSources` names the event's object (kind,
name or `*`, namespace — the Alert's own when omitted, `*` for any — and the
`matchLabels` the object must carry), its severity passes `eventSeverity`
(`info` takes everything, `error` only errors), the message matches one pattern of
`inclusionList` (when there is one) and none of `exclusionList`. Under the lockdown
(`--no-cross-namespace-refs`) an Alert takes only events of its own namespace, whatever
its sources name (another namespace, or `*`), as Flux's event server discards the rest.

`RateLimiter` drops an event identical to one sent within the last five minutes (the
same object, message and revision), as Flux's event server does, so a reconcile that
fails the same way every thirty seconds is one notification, not ten.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Callable, Mapping

from kidp_gitops.api import notification as api
from kidp_gitops.notification.event import FluxEvent

RATE_LIMIT_SECONDS = 300.0


class InvalidPattern(ValueError):
    """An inclusion or exclusion pattern that is not a regular expression."""


def compile_patterns(patterns: list[str], field: str) -> list[re.Pattern[str]]:
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as err:
            raise InvalidPattern(f"{field} pattern {pattern!r} is invalid: {err}") from err
    return compiled


def source_matches(
    source: api.CrossNamespaceObjectReference,
    alert_namespace: str,
    event: FluxEvent,
    labels: Mapping[str, str],
) -> bool:
    """Whether `source` names the event's object (`labels`: the object's labels, needed
    only for a source with `matchLabels`, whatever its name)."""
    obj = event.involved_object
    if source.kind != obj.kind:
        return False
    namespace = source.namespace or alert_namespace
    if namespace != "*" and namespace != obj.namespace:
        return False
    if source.name != "*" and not fnmatch.fnmatchcase(obj.name, source.name):
        return False
    # As Flux: the labels hold whatever the name, `*` or not.
    return all(labels.get(k) == v for k, v in (source.match_labels or {}).items())


def alert_takes(
    spec: api.AlertSpec,
    alert_namespace: str,
    event: FluxEvent,
    labels: Mapping[str, str],
    *,
    own_namespace_only: bool = False,
) -> bool:
    """Whether the Alert with `spec` sends `event` (raises InvalidPattern);
    `own_namespace_only` under the lockdown."""
    if spec.suspend:
        return False
    if own_namespace_only and event.involved_object.namespace != alert_namespace:
        return False
    if spec.event_severity == "error" and event.severity != "error":
        return False
    if not any(source_matches(s, alert_namespace, event, labels) for s in spec.event_sources):
        return False
    included = compile_patterns(spec.inclusion_list, "inclusionList")
    if included and not any(p.search(event.message) for p in included):
        return False
    excluded = compile_patterns(spec.exclusion_list, "exclusionList")
    return not any(p.search(event.message) for p in excluded)


def decorate(spec: api.AlertSpec, event: FluxEvent) -> FluxEvent:
    """The event with the Alert's `eventMetadata` and `summary` added, in Flux's order of
    precedence: `summary` (deprecated) over `eventMetadata.summary`, and the event's own
    metadata (the controller's) over both."""
    extra = dict(spec.event_metadata)
    if spec.summary:
        extra["summary"] = spec.summary
    return event.with_metadata(extra) if extra else event


class RateLimiter:
    def __init__(
        self, interval: float = RATE_LIMIT_SECONDS, clock: Callable[[], float] = time.monotonic
    ):
        self.interval = interval
        self._clock = clock
        self._sent: dict[tuple[str, ...], float] = {}

    @staticmethod
    def key(event: FluxEvent) -> tuple[str, ...]:
        o = event.involved_object
        return (o.kind, o.namespace, o.name, event.message, event.revision or "")

    def allow(self, event: FluxEvent) -> bool:
        """True (and remembered) unless the same event passed within `interval`."""
        now = self._clock()
        if len(self._sent) > 10_000:
            self._sent = {k: t for k, t in self._sent.items() if now - t < self.interval}
        key = self.key(event)
        last = self._sent.get(key)
        if last is not None and now - last < self.interval:
            return False
        self._sent[key] = now
        return True
