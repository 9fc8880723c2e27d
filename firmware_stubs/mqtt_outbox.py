"""The firmware stubs' MQTT link and outbox: what every stub that publishes on MQTT does alike.

`MqttLink` is the paho client with a retained "online" / "offline" availability ("offline" also as
the Last Will); `connected` follows the link. `MqttOutbox` adds what a device's flash or RAM does:
it keeps each message until the broker acknowledged it (PUBACK), publishes only while connected,
sends what waits after a reconnect (oldest first), and bounds what it keeps (the oldest dropped and
counted). paho is never called with our lock held: paho's network thread holds its own locks while
it calls `on_publish`, which takes ours, so holding ours around `publish` would deadlock.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)


class MqttLink:
    """A paho client with a retained availability; `label` ("scanner s1") names it in the log."""

    def __init__(self, *, client_id: str, host: str, port: int, availability_topic: str, label: str,
                 username: str | None = None, password: str | None = None,
                 subscriptions: tuple[str, ...] = ()) -> None:
        self.host, self.port = host, port
        self.availability_topic = availability_topic
        self.label = label
        self._subscriptions = subscriptions
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        if username:
            self.client.username_pw_set(username, password)
        self.client.will_set(availability_topic, "offline", qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.connected = False
        self._lock = threading.Lock()

    def start(self) -> None:
        """Connect in the background (paho reconnects by itself)."""
        self.client.connect_async(self.host, self.port, keepalive=10)
        self.client.loop_start()

    def stop(self) -> None:
        """Announce "offline" if the link is up, then disconnect."""
        if self.connected:
            self.client.publish(self.availability_topic, "offline", qos=1, retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _userdata: object, _flags: object, reason_code: mqtt.ReasonCode,
                    _props: object) -> None:
        if reason_code.is_failure:
            log.warning("%s: MQTT connection refused: %s", self.label, reason_code)
            return
        for topic in self._subscriptions:
            client.subscribe(topic, qos=1)
        online = client.publish(self.availability_topic, "online", qos=1, retain=True)
        with self._lock:
            self._not_a_message(online.mid)
            self.connected = True

    def _on_disconnect(self, _client: mqtt.Client, _userdata: object, _flags: object,
                       reason_code: mqtt.ReasonCode, _props: object) -> None:
        with self._lock:
            if self.connected:
                log.warning("%s: MQTT link lost (%s)%s", self.label, reason_code, self._lost_note())
            self.connected = False   # paho re-sends what it holds after the reconnect

    def _lost_note(self) -> str:
        """What to add to the "link lost" warning (caller holds the lock)."""
        return ""

    def _not_a_message(self, mid: int) -> None:
        """`mid` is the link's own publish, not a kept message (caller holds the lock)."""


class MqttOutbox(MqttLink):
    """Messages on `topic` (QoS 1), each kept under its key until the broker acknowledged it.

    Counters (names given by the stub, as its tests read them): `acked` on each PUBACK, `dropped`
    for each message the full buffer pushed out, `sent` (if given) for each hand-over to paho and
    `sent_bytes` (if given) for its size; `link` are `MqttLink`'s arguments. The buffer holds up to
    `limit`, counting each message as `weigh(payload)` (1 each by default; `len` bounds it by bytes). `noun` ("notice") names a
    message in the log. With `send_on_connect` a reconnect sends what waits at once (from a thread
    of its own, not paho's); otherwise the stub's loop calls `send_waiting`.
    """

    def __init__(self, *, topic: str, noun: str, counters: Counter[str], acked: str, dropped: str, limit: int,
                 sent: str | None = None, sent_bytes: str | None = None,
                 weigh: Callable[[bytes], int] = lambda _payload: 1, send_on_connect: bool = False,
                 **link: Any) -> None:
        super().__init__(**link)
        self.client.on_publish = self._on_publish
        self.topic, self.noun, self.counters = topic, noun, counters
        self._names = (acked, dropped, sent, sent_bytes)
        self._limit, self._weigh, self._send_on_connect = limit, weigh, send_on_connect
        self._waiting: OrderedDict[Hashable, bytes] = OrderedDict()   # key -> message not yet acknowledged
        self._weight = 0
        self._handed: dict[int, Hashable] = {}                        # paho message id -> key paho holds
        self._acked_early: set[int] = set()
        self._own: set[int] = set()   # mids of the availability "online", whose PUBACK is not ours to note

    @property
    def waiting(self) -> int:
        """Messages the broker has not acknowledged yet."""
        with self._lock:
            return len(self._waiting)

    def keep(self, key: Hashable, payload: bytes) -> None:
        """Keep `payload` until the broker has it, the oldest dropped (and counted) to make room."""
        weight = self._weigh(payload)
        with self._lock:
            while self._waiting and self._weight + weight > self._limit:
                lost, old = self._waiting.popitem(last=False)
                self._weight -= self._weigh(old)
                self.counters[self._names[1]] += 1
                log.warning("%s: %s buffer full; dropped %s %s", self.label, self.noun, self.noun, lost)
            self._waiting[key] = payload
            self._weight += weight

    def send_waiting(self) -> None:
        """Hand paho every waiting message it does not hold yet, oldest first, while the link is up."""
        with self._lock:
            if not self.connected:
                return
            held = set(self._handed.values())
            todo = [(key, payload) for key, payload in self._waiting.items() if key not in held]
        _, _, sent, sent_bytes = self._names
        for key, payload in todo:
            info = self.client.publish(self.topic, payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                break   # the link just went; sent after the reconnect
            with self._lock:
                if sent is not None:
                    self.counters[sent] += 1
                if sent_bytes is not None:
                    self.counters[sent_bytes] += len(payload)
                if info.mid in self._acked_early:   # PUBACK came before we got here
                    self._acked_early.discard(info.mid)
                    self._acknowledged(key)
                else:
                    self._handed[info.mid] = key

    def _acknowledged(self, key: Hashable) -> None:
        """The broker has it (caller holds the lock)."""
        payload = self._waiting.pop(key, None)
        if payload is not None:
            self._weight -= self._weigh(payload)
            self.counters[self._names[0]] += 1

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason_code: mqtt.ReasonCode,
                    props: object) -> None:
        super()._on_connect(client, userdata, flags, reason_code, props)
        if self._send_on_connect and not reason_code.is_failure:
            threading.Thread(target=self.send_waiting, daemon=True).start()   # not on paho's thread

    def _not_a_message(self, mid: int) -> None:
        # Its PUBACK comes later on this (paho's) thread. Were it noted as "acked early", the mid would
        # stay there, and the message that gets it when paho's ids wrap (65535) would count as
        # acknowledged before the broker had it.
        self._own.add(mid)

    def _lost_note(self) -> str:
        plural = self.noun + ("es" if self.noun.endswith("s") else "s")
        return f"; {len(self._waiting)} {plural} waiting"

    def _on_publish(self, _client: mqtt.Client, _userdata: object, mid: int, reason_code: mqtt.ReasonCode,
                    _props: object) -> None:
        with self._lock:
            key = self._handed.pop(mid, None)
            if key is None and mid in self._own:
                self._own.discard(mid)   # the availability's
                return
            if reason_code.is_failure:
                return   # still waiting: sent again after the next reconnect
            if key is None:
                self._acked_early.add(mid)   # a message whose mid is not noted yet
            else:
                self._acknowledged(key)
