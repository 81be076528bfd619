"""The process's metrics as Prometheus reads them."""

from __future__ import annotations

from laurels.metrics import Metrics


def test_event_requests_and_events_are_counted_by_result() -> None:
    metrics = Metrics()
    metrics.events_answered(200, accepted=3, duplicates=1)
    metrics.events_answered(200, duplicates=2)
    metrics.events_answered(400)
    text = metrics.exposition().decode()
    assert 'laurels_event_requests_total{result="200"} 2.0' in text
    assert 'laurels_event_requests_total{result="400"} 1.0' in text
    assert 'laurels_events_total{result="applied"} 3.0' in text
    assert 'laurels_events_total{result="duplicate"} 3.0' in text
