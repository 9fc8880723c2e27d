"""The empty-box stub's MQTT side: interior images (QoS 1) and a retained availability with a Last Will.

Like the device's firmware it keeps an image until the broker acknowledged it (PUBACK), up to
`BUFFER_LIMIT` of them (the oldest dropped and counted beyond), and sends what waits after a
reconnect, oldest first (`firmware_stubs.mqtt_outbox`).
"""

from __future__ import annotations

import logging
from collections import Counter

from drivers.empty_box import image_topic
from drivers.mqtt_url import parse_mqtt_url
from firmware_stubs.mqtt_outbox import MqttOutbox

log = logging.getLogger(__name__)

BUFFER_LIMIT = 8      # images of 1-2 MB each; a real device's RAM holds a few


class ImagePublisher(MqttOutbox):
    """Publishes image payloads on kouan/<lane>/<device>/image; availability on .../availability."""

    def __init__(self, url: str, lane: str, device: str, counters: Counter[str]) -> None:
        address = parse_mqtt_url(url)
        super().__init__(
            client_id=f"kouan-ebox-{lane}-{device}", host=address.host, port=address.port,
            username=address.username, password=address.password,
            availability_topic=f"kouan/{lane}/{device}/availability", label="empty-box stub",
            topic=image_topic(lane, device), noun="image", counters=counters, acked="images_published",
            dropped="images_dropped", limit=BUFFER_LIMIT, send_on_connect=True)
        self._next = 0

    def publish(self, payload: bytes) -> None:
        """Keep `payload` until the broker has it; send it now if the link is up."""
        self.keep(self._next, payload)
        self._next += 1
        self.send_waiting()
