"""What an operator watches on the hub, as Prometheus metrics (prometheus-client).

Counters count what this process did (Prometheus sums the hub's processes); the queue gauges are
read from the database at each scrape, so every process reports the same shared queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge


@dataclass
class HubMetrics:
    """One registry per app, so several apps in one process (tests) do not collide."""

    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))

    def __post_init__(self) -> None:
        r = self.registry
        self.upload_bytes = Counter("hub_upload_bytes", "Image bytes received in upload chunks.", registry=r)
        self.uploads = Counter("hub_uploads", "Image uploads completed (hash and image checked, stored).", registry=r)
        self.uploads_refused = Counter("hub_uploads_refused", "Image uploads refused, by reason.", ["code"], registry=r)
        self.passages = Counter("hub_passages_received", "Passage documents received, by outcome.", ["status"], registry=r)
        self.verdicts = Counter("hub_verdicts", "Verdicts written, by stage (review, recheck).", ["stage"], registry=r)
        self.claims = Counter("hub_claims", "Review items claimed.", registry=r)
        self.lease_takeovers = Counter("hub_lease_takeovers", "Claims that took over an expired lease.", registry=r)
        self.queue_depth = Gauge("hub_queue_depth", "Review items queued or claimed (not yet decided).", registry=r)
        self.queue_oldest_age = Gauge("hub_queue_oldest_age_seconds", "Age of the oldest undecided review item (0 when none).", registry=r)
