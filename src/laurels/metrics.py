"""Server-side metrics, served at `/metrics` in the Prometheus text format.

Each service process keeps its own (one registry per app, so tests can build
many); with `--workers N`, scrape each worker or sum them in Prometheus.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from laurels.outbox import OutboxEntry
from laurels.progress.service import Applied
from laurels.wire.times import now_micros

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0)


class _Read(Collector):
    """Counters read when scraped (counted elsewhere, e.g. by the webhooks)."""

    def __init__(self) -> None:
        self.counters: dict[str, tuple[str, Callable[[], float]]] = {}

    def collect(self) -> Iterable[Metric]:
        for name, (help_text, read) in self.counters.items():
            yield CounterMetricFamily(name, help_text, value=read())


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._updates = Counter(
            "laurels_updates",
            "Progress update requests by result (HTTP status).",
            ["result"],
            registry=self.registry,
        )
        self._event_requests = Counter(
            "laurels_event_requests",
            "Event requests (POST .../events) by result (HTTP status).",
            ["result"],
            registry=self.registry,
        )
        self._events = Counter(
            "laurels_events",
            "Events received in accepted requests: applied, or skipped as duplicates.",
            ["result"],
            registry=self.registry,
        )
        self._unlocks = Counter(
            "laurels_unlocks", "Achievements unlocked by this process.", registry=self.registry
        )
        self._relayed = Counter(
            "laurels_events_relayed",
            "Outbox events this process relayed to its devices, by type.",
            ["type"],
            registry=self.registry,
        )
        self._lag = Histogram(
            "laurels_outbox_lag_seconds",
            "From an event's commit to this process relaying it.",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.sockets = Gauge(
            "laurels_rta_connections", "Connected RTA sockets.", registry=self.registry
        )
        self._read = _Read()
        self.registry.register(self._read)
        # The hot paths' children, looked up once (`labels` takes a lock per call).
        self._by_status = {status: self._updates.labels(str(status)) for status in (200, 304)}
        self._events_by_status = {200: self._event_requests.labels("200")}
        self._applied = self._events.labels("applied")
        self._duplicate = self._events.labels("duplicate")

    def update_answered(self, status: int) -> None:
        child = self._by_status.get(status)
        (child or self._updates.labels(str(status))).inc()

    def events_answered(self, status: int, *, accepted: int = 0, duplicates: int = 0) -> None:
        child = self._events_by_status.get(status)
        (child or self._event_requests.labels(str(status))).inc()
        if accepted:
            self._applied.inc(accepted)
        if duplicates:
            self._duplicate.inc(duplicates)

    def committed(self, applied: Applied) -> None:
        if applied.unlocks:
            self._unlocks.inc(applied.unlocks)

    def relayed(self, events: list[OutboxEntry]) -> None:
        now = now_micros()
        for event in events:
            self._relayed.labels(event.kind).inc()
            self._lag.observe(max(0, now - event.created_at) / 1_000_000)

    def read_counter(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self._read.counters[name] = (help_text, read)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
