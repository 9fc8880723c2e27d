"""A smart lock publishing JSON reports on MQTT (kouan/<lane>/<device>/report) with availability."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable

from drivers.smart_lock import AVAILABILITY_CHANNEL, REPORT_CHANNEL, LockReading
from edge.kinds.availability import take_availability
from edge.kinds.base import DeviceContext
from edge.kinds.smart_lock.state import lock_reading

log = logging.getLogger(__name__)


class MqttLock:
    """Subscribes to one lock's report and availability topics on the site broker."""

    def __init__(self, ctx: DeviceContext) -> None:
        self.status = status = ctx.status
        self._id = ctx.config.id
        self._ingest = ctx.ingest
        self._mqtt = ctx.mqtt
        self._changed = ctx.changed
        self._low_battery_pct: int | None = ctx.defaults.low_battery_pct
        prefix = ctx.config.address or ctx.topic_prefix
        self.report_topic = f"{prefix}/{REPORT_CHANNEL}"
        self.availability_topic = f"{prefix}/{AVAILABILITY_CHANNEL}"
        for name in ("messages", "bad_messages", "readings"):
            status.counters[name] = 0

    def start(self) -> None:
        self._mqtt.subscribe(self.report_topic, qos=1)
        self._mqtt.subscribe(self.availability_topic, qos=1)

    def stop(self) -> None:
        """Nothing to close: the runtime owns the MQTT connection."""

    def handles_topic(self, topic: str) -> bool:
        return topic in (self.report_topic, self.availability_topic)

    def on_mqtt_message(self, topic: str, payload: bytes, ack: Callable[[], None]) -> None:
        """Called on paho's network thread: parse, then hand over (which waits only while ingest is full).

        A report is acknowledged to the broker only once stored; a refused one at once (it
        would be refused again), after it has been counted and logged.
        """
        if topic == self.availability_topic:
            take_availability(self.status, payload, ack, self._changed)
            return
        self.status.counters["messages"] += 1
        try:
            reading = LockReading.from_json(payload, self._id)
            as_sent = json.loads(payload)  # within the size and depth bounds from_json checked
        except Exception as exc:  # whatever is wrong with it: refuse, count, acknowledge
            self.status.counters["bad_messages"] += 1
            log.warning("lock %s: report refused: %s", self._id, exc)
            ack()
            return
        self.status.counters["readings"] += 1
        self._ingest.submit(lock_reading(
            self._id, "report", hashlib.sha256(payload).hexdigest(), as_sent, reading, self._low_battery_pct,
            on_stored=ack,
        ))
