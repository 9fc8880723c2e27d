"""What an operator watches, as Prometheus metrics (prometheus-client), read from the runtime
at each scrape: ingest, events, each device's liveness and counters, the live page, the broker.

A collector rather than counters updated in place: the numbers already live in the stats the
runtime keeps (`IngestStats`, `DeviceStatus.counters`, `MqttStats`), so nothing is counted twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from edge.normal.metrics import normal_metrics

if TYPE_CHECKING:
    from edge.runtime import EdgeRuntime

_INGEST = {
    "submitted": "Readings handed to ingest.",
    "stored": "Readings stored (new bytes).",
    "duplicates": "Readings whose bytes were stored before (retransmissions); acknowledged again.",
    "rejected_full": "Readings refused: the ingest queue full and the submitter on the event loop, or the consumer "
                     "stopped (not acknowledged, so resent).",
    "waited_full": "Readings whose driver thread waited for room in the full ingest queue (backpressure).",
    "errors": "Readings whose handling failed (logged with the reason).",
    "events": "Events raised by readings.",
    "events_moved": "Events whose device time moved back because an earlier reading showed the change.",
    "late": "Readings that arrived after a later one of the same device (placed in its own order).",
}
_MQTT_COUNTERS = {
    "messages_in": "MQTT messages received from the site broker.",
    "messages_out": "MQTT messages handed to the site broker.",
    "messages_acked": "Outgoing QoS 1 messages the broker acknowledged.",
    "dropped": "Outgoing messages dropped from a full buffer or after stop.",
    "connects": "Successful connections to the site broker.",
    "connect_failures": "Failed or refused connection attempts.",
    "subscribe_failures": "Subscriptions the broker refused.",
    "callback_errors": "Message handlers that raised (the message was acknowledged).",
}


class RuntimeCollector(Collector):
    """Reads the runtime's stats at each scrape."""

    def __init__(self, runtime: EdgeRuntime) -> None:
        self._runtime = runtime

    def collect(self) -> Iterator[Metric]:
        runtime = self._runtime
        if runtime.ingest is not None:
            stats = runtime.ingest.stats
            for name, help_text in _INGEST.items():
                family = "kouan_ingest_" + name if name in ("submitted", "stored", "duplicates", "rejected_full",
                                                            "waited_full", "errors") else "kouan_" + name
                yield CounterMetricFamily(family, help_text, value=getattr(stats, name))
            yield GaugeMetricFamily("kouan_ingest_queue_depth", "Readings waiting to be stored.", value=runtime.ingest.depth)
            yield GaugeMetricFamily("kouan_ingest_waiting", "Driver threads waiting for room in the ingest queue.",
                                    value=runtime.ingest.waiting)
        yield GaugeMetricFamily("kouan_live_subscribers", "Lane-terminal pages following the live stream.",
                                value=runtime.bus.subscribers)
        yield CounterMetricFamily("kouan_live_resyncs", "Live pages that fell behind and were told to reload.",
                                  value=runtime.bus.resyncs)
        yield from self._devices()
        yield from self._passages()
        yield from self._uplink()
        yield from normal_metrics(getattr(runtime, "normal", None))
        if runtime.mqtt is not None:
            mqtt = runtime.mqtt.stats()
            yield GaugeMetricFamily("kouan_mqtt_connected", "1 while connected to the site broker.", value=int(mqtt.connected))
            yield GaugeMetricFamily("kouan_mqtt_buffered", "Outgoing messages waiting for the broker.", value=mqtt.buffered)
            for name, help_text in _MQTT_COUNTERS.items():
                yield CounterMetricFamily(f"kouan_mqtt_{name}", help_text, value=getattr(mqtt, name))

    def _devices(self) -> Iterator[Metric]:
        now = time.time()
        online = GaugeMetricFamily("kouan_device_online", "1 when the device's transport is up and it spoke within "
                                   "its kind's offline_after_s.", labels=["device", "kind"])
        counters: dict[str, CounterMetricFamily] = {}
        for device_id, status in self._runtime.status.items():
            online.add_metric([device_id, status.kind], int(status.online(now)))
            for name, value in status.counters.items():
                family = counters.get(name)
                if family is None:
                    family = counters[name] = CounterMetricFamily(
                        f"kouan_device_{name}", f"Per-device counter '{name}' (docs/operations.md).",
                        labels=["device", "kind"])
                family.add_metric([device_id, status.kind], value)
        yield online
        yield from counters.values()


    def _passages(self) -> Iterator[Metric]:
        service, ingest = self._runtime.passages, self._runtime.ingest
        if service is None:
            return
        from edge.passages.service import DECISION_BUCKETS_S

        stats = service.stats
        decided = CounterMetricFamily("kouan_passages_decided", "Passages decided by the machine, by outcome "
                                      "(clear: released directly unless the lane waits for the officer).",
                                      labels=["outcome"])
        for outcome, count in stats.decided.items():
            decided.add_metric([outcome], count)
        yield decided
        cumulative, buckets = 0, []
        for bound, count in zip((*map(str, DECISION_BUCKETS_S), "+Inf"), stats.decision_buckets):
            cumulative += count
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily("kouan_passage_decision_seconds", "Time from a vehicle's arrival (its first "
                                    "reading) to the machine's decision.", buckets=buckets,
                                    sum_value=stats.decision_sum_s)
        yield CounterMetricFamily("kouan_declarations_accepted", "Advance declarations stored (file, MQTT, HTTP).",
                                  value=stats.declarations_accepted)
        yield CounterMetricFamily("kouan_declarations_refused", "Advance declarations refused (the reason is logged).",
                                  value=stats.declarations_refused)
        yield CounterMetricFamily("kouan_declarations_store_errors", "Attempts to store an MQTT declaration that "
                                  "failed (logged; retried, acknowledged only once stored).",
                                  value=stats.declarations_store_errors)
        yield CounterMetricFamily("kouan_passages_published", "Passage changes published to the page and MQTT.",
                                  value=stats.published)
        if ingest is not None:
            yield CounterMetricFamily("kouan_passage_follow_errors", "Readings stored whose placing into a passage "
                                      "failed (logged; the reading is kept).", value=ingest.stats.follow_errors)


    def _uplink(self) -> Iterator[Metric]:
        uplink = getattr(self._runtime, "uplink", None)
        if uplink is None:
            return
        s = uplink.stats
        yield GaugeMetricFamily("kouan_outbox_depth", "Items (images, passage documents) the hub has not confirmed yet.",
                                value=s.depth)
        oldest = 0.0 if s.oldest_created_at is None else max(0.0, time.time() - s.oldest_created_at)
        yield GaugeMetricFamily("kouan_outbox_oldest_age_seconds", "Age of the oldest item waiting for the hub "
                                "(0 when none waits).", value=oldest)
        yield CounterMetricFamily("kouan_uplink_bytes", "Bytes sent to the hub (resent ones included).",
                                  value=s.bytes_sent)
        refused = CounterMetricFamily("kouan_uplink_refused", "Items the hub refused for good, by its code (kept in "
                                      "outbox_refused, shown on the terminal).", labels=["code"])
        for code, count in sorted(s.refused_by_code.items()):
            refused.add_metric([code], count)
        yield refused
        yield CounterMetricFamily("kouan_verdicts_received", "Reviewers' verdicts received from the hub.",
                                  value=s.verdicts_received)
        queued = uplink.outbox.stats
        yield CounterMetricFamily("kouan_uplink_images_left_out", "Images a passage named that could not go to the "
                                  "hub (not in the media store, or of no type it takes); logged.",
                                  value=queued.images_left_out)
        yield CounterMetricFamily("kouan_uplink_enqueue_errors", "Passage changes that could not be queued for the "
                                  "hub (logged; an unbuildable document is kept as refused).", value=queued.errors)
        yield GaugeMetricFamily("kouan_uplink_hub_reachable", "1 when the hub answered the last request, 0 when it "
                                "did not.", value=int(bool(s.hub_reachable)))


def registry_for(runtime: EdgeRuntime) -> CollectorRegistry:
    """A registry of the runtime's own (not the process-global one, so several runtimes can coexist)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RuntimeCollector(runtime))
    return registry
