"""What an operator watches of the lane's normal, as Prometheus metric families (read at each scrape)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, Metric

_RETENTION = {
    "retained": "Images of clean passes kept for the lane's normal.",
    "dropped": "Kept images dropped, oldest first, by the retention budget.",
    "removed": "Kept images taken out again (their passage stopped counting as clean: a suspicious verdict).",
    "errors": "Passage changes the retention could not take in (logged; the release stands).",
    "finds": "Images kept as the lane's confirmed finds (a suspicious verdict on a passage the device held).",
    "finds_removed": "Kept finds taken out again (the verdict was overturned to clear).",
}


def normal_metrics(normal: Any) -> Iterator[Metric]:
    """Retention counters and refits by device and outcome; nothing when the lane has no [normal]."""
    if normal is None:
        return
    stats = normal.retention.stats
    for name, help_text in _RETENTION.items():
        yield CounterMetricFamily(f"kouan_normal_{name}", help_text, value=getattr(stats, name))
    refits = CounterMetricFamily("kouan_normal_refits", "The edge's scheduled refits, by device and outcome "
                                 "(adopted, refused, error).", labels=["device", "outcome"])
    schedule = normal.schedule
    if schedule is not None:
        for outcome, counts in (("adopted", schedule.stats.adopted), ("refused", schedule.stats.refused),
                                ("error", schedule.stats.errors)):
            for device_id, count in sorted(counts.items()):
                refits.add_metric([device_id, outcome], count)
    yield refits
