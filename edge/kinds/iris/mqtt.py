"""An iris reader on MQTT: JSON captures on kouan/<lane>/<device>/capture, heartbeats on .../status,
availability (retained, Last Will) on .../availability; the edge answers on .../ack.

A capture is acknowledged twice, both only once it is stored: to the broker (PUBACK, through
the `ack` callable) and to the reader (`{"seq": N, "result": "stored"}` on .../ack, which is what
stops its resending). Anything else ends in refuse, count, acknowledge: a payload that is not a
capture is acknowledged to the broker at once and, where its `seq` can be read, answered
"refused" so the reader drops it; a capture whose code or mask could not be written to the media
store is answered "busy" (resend later).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable

from drivers.iris import IrisCapture, status_from_json
from drivers.iris.wire import ACK_CHANNEL, AVAILABILITY_CHANNEL, CAPTURE_CHANNEL, STATUS_CHANNEL, AckWire
from edge.kinds.availability import take_availability
from edge.kinds.base import DeviceContext
from edge.kinds.iris.legacy_codes import move_legacy_codes
from edge.kinds.iris.readings import capture_reading, status_reading
from edge.media import MediaError

log = logging.getLogger(__name__)


def _seq_of(payload: bytes) -> int | None:
    """The `seq` of a refused capture, if it can be read at all (the payload was size-checked)."""
    try:
        seq = json.loads(payload).get("seq")
    except (ValueError, AttributeError):
        return None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq <= 0xFFFF else None


class MqttIris:
    """Subscribes to one reader's capture, status and availability topics on the site broker."""

    def __init__(self, ctx: DeviceContext) -> None:
        if ctx.private_media is None:
            raise ValueError(f"iris reader {ctx.config.id}: the edge has no private media store for iris codes")
        self.status = status = ctx.status
        self._id = ctx.config.id
        self._ingest = ctx.ingest
        self._mqtt = ctx.mqtt
        self._media = ctx.private_media  # never served by the lane terminal
        if ctx.media is not None and ctx.read_store is not None:
            move_legacy_codes(ctx.read_store, ctx.media, ctx.private_media, ctx.config.id)
        self._defaults = ctx.defaults
        self._changed = ctx.changed
        prefix = ctx.config.address or ctx.topic_prefix
        self.capture_topic = f"{prefix}/{CAPTURE_CHANNEL}"
        self.status_topic = f"{prefix}/{STATUS_CHANNEL}"
        self.availability_topic = f"{prefix}/{AVAILABILITY_CHANNEL}"
        self.ack_topic = f"{prefix}/{ACK_CHANNEL}"
        for name in ("messages", "bad_messages", "captures", "statuses", "refused", "busy", "replies"):
            status.counters[name] = 0

    def start(self) -> None:
        for topic in (self.capture_topic, self.status_topic, self.availability_topic):
            self._mqtt.subscribe(topic, qos=1)

    def stop(self) -> None:
        """Nothing to close: the runtime owns the MQTT connection."""

    def handles_topic(self, topic: str) -> bool:
        return topic in (self.capture_topic, self.status_topic, self.availability_topic)

    def on_mqtt_message(self, topic: str, payload: bytes, ack: Callable[[], None]) -> None:
        """Called on paho's network thread: parse, store media, hand over (waits only while ingest is full)."""
        if topic == self.availability_topic:
            take_availability(self.status, payload, ack, self._changed)
            return
        self.status.counters["messages"] += 1
        if topic == self.status_topic:
            self._on_status(payload, ack)
            return
        try:
            capture = IrisCapture.from_json(payload, self._id)
        except Exception as exc:  # whatever is wrong with it: refuse, count, acknowledge
            self.status.counters["bad_messages"] += 1
            log.warning("iris %s: capture refused: %s", self._id, exc)
            seq = _seq_of(payload) if len(payload) <= 16 * 1024 else None
            if seq is not None:
                self.status.counters["refused"] += 1
                self._answer(seq, "refused")
            ack()
            return

        def stored(seq: int = capture.seq) -> None:
            self._answer(seq, "stored")
            ack()

        try:
            reading = capture_reading(capture, self._media, self._defaults, on_stored=stored)
        except (MediaError, OSError) as exc:
            self.status.counters["busy"] += 1
            log.warning("iris %s: capture %s not kept (media store: %s); the reader is told to resend",
                        self._id, capture.seq, exc)
            self._answer(capture.seq, "busy")
            ack()
            return
        self.status.counters["captures"] += 1
        self._ingest.submit(reading)

    def _on_status(self, payload: bytes, ack: Callable[[], None]) -> None:
        try:
            status = status_from_json(payload, self._id)
        except Exception as exc:
            self.status.counters["bad_messages"] += 1
            log.warning("iris %s: status refused: %s", self._id, exc)
            ack()
            return
        self.status.counters["statuses"] += 1
        self._ingest.submit(status_reading(self._id, status, hashlib.sha256(payload).hexdigest(), on_stored=ack))

    def _answer(self, seq: int, result: str) -> None:
        wire = AckWire(seq=seq, result=result)  # type: ignore[arg-type]
        self._mqtt.publish(self.ack_topic, wire.model_dump_json().encode("utf-8"), qos=1)
        self.status.counters["replies"] += 1
