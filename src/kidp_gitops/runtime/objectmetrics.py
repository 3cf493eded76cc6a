"""Metric families with a series per reconciled object, held compactly.

    Histogram(name, doc, labelnames, buckets).labels(*values).observe(seconds)
    Gauge(name, doc, labelnames).labels(*values).set(value)
    Conditions(name, doc).set(kind, name, namespace, type, status)   1 on `status`, 0 on the others

prometheus_client keeps every labelled series as objects of its own (a wrapper with its
attributes, and a value object with a lock per number): a histogram series of 14
buckets is ~3.9 KiB, a gauge series ~0.7 KiB, so the series Flux's dashboards expect of
each Kustomization (its reconcile durations, 4 statuses of each condition type, its
suspend flag) held ~13 KiB of it, and a process grew by that per object it reconciles.
Here a histogram series is one array of floats, a gauge series one float, a condition
the name of its status; `collect` exposes them exactly as prometheus_client's own
classes do (names, labels, samples and their order, `_created`), which
tests/unit/runtime/test_objectmetrics.py checks against those classes.

No locks: the engine writes and scrapes them on its one event loop.
"""

from __future__ import annotations

import abc
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from typing import cast

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client import metrics as client_metrics
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import INF, floatToGoString

Key = tuple[str, ...]
_go_float = cast(Callable[[float], str], floatToGoString)  # `le` as theirs writes it (untyped)


class _Family(abc.ABC):
    """One metric family in a registry; series keyed by their label values."""

    type: str

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        registry: CollectorRegistry | None = REGISTRY,
    ):
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._empty()
        if registry is not None:
            registry.register(self)

    @abc.abstractmethod
    def _empty(self) -> None:
        """Set up the (empty) series."""

    def _key(self, values: Sequence[object]) -> Key:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name}: {len(self.labelnames)} label values, not {len(values)}")
        return tuple(str(v) for v in values)

    def describe(self) -> Iterable[Metric]:
        return [Metric(self.name, self.documentation, self.type)]

    def collect(self) -> Iterable[Metric]:
        metric = Metric(self.name, self.documentation, self.type)
        self._samples(metric)
        return [metric]

    @abc.abstractmethod
    def _samples(self, metric: Metric) -> None:
        """Add each series' samples to `metric`, in prometheus_client's order."""


class _GaugeSeries:
    __slots__ = ("_key", "_values")

    def __init__(self, values: dict[Key, float], key: Key):
        self._values = values
        self._key = key

    def set(self, value: float) -> None:
        self._values[self._key] = float(value)

    def inc(self, amount: float = 1.0) -> None:
        self._values[self._key] += amount


class Gauge(_Family):
    type = "gauge"

    def _empty(self) -> None:
        self._values: dict[Key, float] = {}

    def labels(self, *values: object) -> _GaugeSeries:
        """The series of these label values; it exists (at 0) from this call on."""
        key = self._key(values)
        self._values.setdefault(key, 0.0)
        return _GaugeSeries(self._values, key)

    def _samples(self, metric: Metric) -> None:
        for key, value in self._values.items():
            metric.add_sample(self.name, dict(zip(self.labelnames, key, strict=True)), value)


class _HistogramSeries:
    __slots__ = ("_bounds", "_series")

    def __init__(self, bounds: tuple[float, ...], series: array[float]):
        self._bounds = bounds
        self._series = series

    def observe(self, amount: float) -> None:
        bounds, series = self._bounds, self._series
        series[len(bounds)] += amount  # the sum
        for i, bound in enumerate(bounds):
            if amount <= bound:
                series[i] += 1
                break


class Histogram(_Family):
    type = "histogram"

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
        registry: CollectorRegistry | None = REGISTRY,
    ):
        bounds = [float(b) for b in buckets]
        if bounds != sorted(bounds):
            raise ValueError(f"{name}: buckets not in order")
        if bounds[-1] != INF:
            bounds.append(INF)
        self._bounds = tuple(bounds)
        self._les = tuple(_go_float(b) for b in bounds)
        super().__init__(name, documentation, labelnames, registry)

    def _empty(self) -> None:
        self._series: dict[Key, array[float]] = {}
        """Per series: the count of each bucket (not cumulative), the sum, the time it
        was created."""

    def labels(self, *values: object) -> _HistogramSeries:
        key = self._key(values)
        series = self._series.get(key)
        if series is None:
            series = array("d", bytes(8 * (len(self._bounds) + 2)))
            series[-1] = time.time()
            self._series[key] = series
        return _HistogramSeries(self._bounds, series)

    def _samples(self, metric: Metric) -> None:
        n = len(self._bounds)
        created = client_metrics._use_created  # PROMETHEUS_DISABLE_CREATED_SERIES, as theirs
        for key, series in self._series.items():
            labels = dict(zip(self.labelnames, key, strict=True))
            total = 0.0
            for i, le in enumerate(self._les):
                total += series[i]
                metric.add_sample(f"{self.name}_bucket", {**labels, "le": le}, total)
            metric.add_sample(f"{self.name}_count", labels, total)
            if self._bounds[0] >= 0:
                metric.add_sample(f"{self.name}_sum", labels, series[n])
            if created:
                metric.add_sample(f"{self.name}_created", labels, series[n + 1])


class Conditions(_Family):
    """`{kind,name,namespace,type,status}`: for each condition type of an object, 1 on
    the status it has and 0 on each of the others — Flux's `gotk_reconcile_condition`."""

    type = "gauge"
    STATUSES = ("True", "False", "Unknown", "Deleted")

    def __init__(
        self, name: str, documentation: str, registry: CollectorRegistry | None = REGISTRY
    ):
        labelnames = ("kind", "name", "namespace", "type", "status")
        super().__init__(name, documentation, labelnames, registry)

    def _empty(self) -> None:
        self._status: dict[Key, str] = {}

    def set(self, kind: str, name: str, namespace: str, type_: str, status: str) -> None:
        """`status` becomes 1 and the others 0; a status outside STATUSES sets all four 0."""
        self._status[(kind, name, namespace, type_)] = status

    def _samples(self, metric: Metric) -> None:
        for key, current in self._status.items():
            kind, name, namespace, type_ = key
            for status in self.STATUSES:
                labels = {
                    "kind": kind,
                    "name": name,
                    "namespace": namespace,
                    "type": type_,
                    "status": status,
                }
                metric.add_sample(self.name, labels, 1.0 if status == current else 0.0)
