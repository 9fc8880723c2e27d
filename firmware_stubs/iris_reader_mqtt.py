"""The iris reader on MQTT: JSON captures and status (QoS 1), the edge's acks, a retained availability.

QoS 1 gets a capture to the broker; the edge's ack on `kouan/<lane>/<device>/ack` (drivers.iris.wire.
AckWire) says it was stored, and until then the reader resends it on the same schedule as on serial
(the edge stores a resend once). The link and its availability are `firmware_stubs.mqtt_outbox.MqttLink`.
"""

from __future__ import annotations

import logging

import paho.mqtt.client as mqtt

from drivers.iris import AckResult, Capture, IrisCapture, Status, status_to_json
from drivers.iris.wire import (
    ACK_CHANNEL, AVAILABILITY_CHANNEL, CAPTURE_CHANNEL, STATUS_CHANNEL, AckWire, parse_wire, topic,
)
from drivers.mqtt_url import parse_mqtt_url
from firmware_stubs.iris_reader import IrisReaderBase, ReaderConfig
from firmware_stubs.mqtt_outbox import MqttLink

log = logging.getLogger(__name__)

_RESULTS = {"stored": AckResult.STORED, "refused": AckResult.REFUSED, "busy": AckResult.BUSY}


class MqttIrisReader(IrisReaderBase):
    """Publishes `CaptureWire` on kouan/<lane>/<device>/capture, `StatusWire` on .../status."""

    def __init__(self, config: ReaderConfig, url: str, lane: str, device: str) -> None:
        super().__init__(config)
        broker = parse_mqtt_url(url)
        self.host, self.port = broker.host, broker.port
        self.lane, self.device = lane, device
        self.capture_topic = topic(lane, device, CAPTURE_CHANNEL)
        self.status_topic = topic(lane, device, STATUS_CHANNEL)
        self.ack_topic = topic(lane, device, ACK_CHANNEL)
        self.availability_topic = topic(lane, device, AVAILABILITY_CHANNEL)
        self.link = MqttLink(
            client_id=f"kouan-iris-{lane}-{device}", host=self.host, port=self.port, username=broker.username,
            password=broker.password, availability_topic=self.availability_topic,
            label=f"iris reader {device}", subscriptions=(self.ack_topic,))
        self.client = self.link.client
        self.client.on_message = self._on_ack_message

    @property
    def connected(self) -> bool:
        """Whether the link to the broker is up."""
        return self.link.connected

    def _on_ack_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        try:
            ack = parse_wire(AckWire, message.payload, f"ack for iris reader {self.device}", 4096)
        except ValueError as exc:
            self.counters["bad_acks"] += 1
            log.warning("%s", exc)
            return
        self.on_ack(ack.seq, _RESULTS[ack.result])

    def _open(self) -> None:
        self.link.start()

    def _close(self) -> None:
        self.link.stop()

    def _tick(self, now: float) -> None:
        if self.connected:   # while down, captures wait and go out after the reconnect
            super()._tick(now)

    def _send_capture(self, seq: int, capture: Capture) -> None:
        reading = IrisCapture(self.device, seq, capture.card_id, capture.time, capture.eye, capture.quality,
                              capture.code, capture.mask, "mqtt")
        self.client.publish(self.capture_topic, reading.to_json(), qos=1)

    def _send_status(self, status: Status) -> None:
        self.client.publish(self.status_topic, status_to_json(status), qos=1)
