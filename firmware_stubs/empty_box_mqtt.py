"""The empty-box stub's MQTT side: interior images (QoS 1) and a retained availability with a Last Will.

Like the device's firmware it keeps an image until the broker acknowledged it (PUBACK), up to
`BUFFER_LIMIT` of them (the oldest dropped and counted beyond), and sends what waits after a
reconnect, oldest first. paho is called without our lock held (its thread takes paho's own
locks while it calls `_on_publish`, which takes ours).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, OrderedDict

import paho.mqtt.client as mqtt

from drivers.empty_box import image_topic
from drivers.mqtt_url import parse_mqtt_url

log = logging.getLogger(__name__)

BUFFER_LIMIT = 8      # images of 1-2 MB each; a real device's RAM holds a few


class ImagePublisher:
    """Publishes image payloads on kouan/<lane>/<device>/image; availability on .../availability."""

    def __init__(self, url: str, lane: str, device: str, counters: Counter[str]) -> None:
        address = parse_mqtt_url(url)
        self.host, self.port = address.host, address.port
        self.topic = image_topic(lane, device)
        self.availability_topic = f"kouan/{lane}/{device}/availability"
        self.counters = counters
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"kouan-ebox-{lane}-{device}")
        if address.username:
            self.client.username_pw_set(address.username, address.password)
        self.client.will_set(self.availability_topic, "offline", qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self._lock = threading.Lock()
        self._waiting: OrderedDict[int, bytes] = OrderedDict()   # our number -> payload not acknowledged
        self._handed: dict[int, int] = {}                        # paho mid -> our number
        self._acked_early: set[int] = set()
        self._next = 0
        self.connected = False

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=10)
        self.client.loop_start()

    def stop(self) -> None:
        if self.connected:
            self.client.publish(self.availability_topic, "offline", qos=1, retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, payload: bytes) -> None:
        """Keep `payload` until the broker has it; send it now if the link is up."""
        with self._lock:
            if len(self._waiting) >= BUFFER_LIMIT:
                self._waiting.popitem(last=False)
                self.counters["images_dropped"] += 1
                log.warning("empty-box stub: image buffer full; dropped the oldest image")
            self._waiting[self._next] = payload
            self._next += 1
        self._send_waiting()

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    def _send_waiting(self) -> None:
        with self._lock:
            if not self.connected:
                return
            held = set(self._handed.values())
            todo = [(n, p) for n, p in self._waiting.items() if n not in held]
        for number, payload in todo:
            info = self.client.publish(self.topic, payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                break
            with self._lock:
                if info.mid in self._acked_early:
                    self._acked_early.discard(info.mid)
                    self._acknowledged(number)
                else:
                    self._handed[info.mid] = number

    def _acknowledged(self, number: int) -> None:
        if self._waiting.pop(number, None) is not None:
            self.counters["images_published"] += 1

    def _on_connect(self, client: mqtt.Client, _userdata: object, _flags: object, reason_code: mqtt.ReasonCode,
                    _props: object) -> None:
        if reason_code.is_failure:
            log.warning("empty-box stub: MQTT connection refused: %s", reason_code)
            return
        client.publish(self.availability_topic, "online", qos=1, retain=True)
        with self._lock:
            self.connected = True
        threading.Thread(target=self._send_waiting, daemon=True).start()   # not on paho's thread

    def _on_disconnect(self, _client: mqtt.Client, _userdata: object, _flags: object,
                       reason_code: mqtt.ReasonCode, _props: object) -> None:
        with self._lock:
            if self.connected:
                log.warning("empty-box stub: MQTT link lost (%s); %d images waiting", reason_code, len(self._waiting))
            self.connected = False   # paho re-sends what it holds after the reconnect

    def _on_publish(self, _client: mqtt.Client, _userdata: object, mid: int, reason_code: mqtt.ReasonCode,
                    _props: object) -> None:
        with self._lock:
            number = self._handed.pop(mid, None)
            if reason_code.is_failure:
                return
            if number is None:
                self._acked_early.add(mid)
            else:
                self._acknowledged(number)
