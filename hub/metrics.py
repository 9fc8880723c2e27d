"""What an operator watches on the hub, as Prometheus metrics (prometheus-client).

The store counts passages, claims (fresh and lease take-overs), verdicts and audit entries on the
default registry (hub/ingest.py, hub/queue.py, hub/audit.py); the HTTP side adds uploads here, in
one registry per app so several apps in one process (tests) do not collide. `/metrics` serves
both. Counters count what this process did (Prometheus sums the hub's processes); the queue
gauges are read from the database at each scrape, so every process reports the same shared queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, generate_latest


@dataclass
class HubMetrics:
    """The HTTP side's metrics."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.upload_bytes = Counter("kouan_hub_upload_bytes", "Image bytes received in upload chunks.", registry=r)
        self.uploads = Counter("kouan_hub_uploads", "Image uploads completed (hash and image checked, stored).", registry=r)
        self.upload_hash_readbacks = Counter(
            "kouan_hub_upload_hash_readbacks", "Finished uploads whose SHA-256 was read back from disk (their chunks "
            "were not all appended by this process since the upload's last change elsewhere).", registry=r)
        self.uploads_refused = Counter("kouan_hub_uploads_refused", "Image uploads refused, by reason.", ["code"], registry=r)
        self.queue_depth = Gauge("kouan_hub_queue_depth", "Review items waiting (queued or claimed).", registry=r)
        self.queue_oldest_age = Gauge("kouan_hub_queue_oldest_age_seconds", "Age of the oldest waiting review item (0 when none).", registry=r)

    def exposition(self, depth: int, oldest_age_s: float | None) -> bytes:
        """The text format of this registry and the store's, with the queue gauges set first."""
        self.queue_depth.set(depth)
        self.queue_oldest_age.set(oldest_age_s or 0.0)
        return generate_latest(self.registry) + generate_latest(REGISTRY)
