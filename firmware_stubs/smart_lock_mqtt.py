"""The lock stub on MQTT: JSON reports (QoS 1) and a retained availability with a Last Will.

Over MQTT the lock does not register or wait for 0x8001: QoS 1 is the delivery guarantee, and the
broker announces "offline" (the Last Will) if the lock vanishes. Like a real lock it keeps every
report until the broker acknowledged it (PUBACK): while the link is down it goes on reporting
into that buffer (bounded, oldest dropped and counted, as a lock's flash fills), and after the
reconnect it sends what is waiting, in order. `connected` follows the link.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

from drivers.smart_lock import LockReading, LockState, availability_topic, report_topic
from firmware_stubs.smart_lock import LockConfig, LockStubBase

log = logging.getLogger(__name__)

_STATE = {0: LockState.SEALED, 1: LockState.OPENED, 2: LockState.TAMPERED}
BUFFER_LIMIT = 10_000  # reports kept while the broker has not acknowledged them


def parse_mqtt_url(url: str) -> tuple[str, int]:
    """`mqtt://host:port` (port 1883 by default) -> (host, port)."""
    parsed = urlparse(url if "://" in url else f"mqtt://{url}")
    if parsed.scheme not in ("mqtt", "tcp") or not parsed.hostname:
        raise ValueError(f"MQTT URL {url!r} should look like mqtt://host:1883")
    return parsed.hostname, parsed.port or 1883


class MqttSmartLock(LockStubBase):
    """Publishes `LockReportWire` JSON on kouan/<lane>/<device>/report on a period and on change."""

    def __init__(self, config: LockConfig, url: str, lane: str, device: str) -> None:
        super().__init__(config)
        self.host, self.port = parse_mqtt_url(url)
        self.lane, self.device = lane, device
        self.report_topic = report_topic(lane, device)
        self.availability_topic = availability_topic(lane, device)
        self._serial = 0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"kouan-lock-{lane}-{device}")
        self.client.will_set(self.availability_topic, "offline", qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.connected = False
        self._lock = threading.Lock()
        self._waiting: OrderedDict[int, bytes] = OrderedDict()  # serial -> report not yet acknowledged
        self._handed: dict[int, int] = {}  # paho message id -> serial of a report paho holds
        self._acked_early: set[int] = set()
        self.counters["reports_dropped"] = 0

    def _on_connect(self, client: mqtt.Client, _userdata: object, _flags: object,
                    reason_code: mqtt.ReasonCode, _props: object) -> None:
        if reason_code.is_failure:
            log.warning("lock %s: MQTT connection refused: %s", self.device, reason_code)
            return
        client.publish(self.availability_topic, "online", qos=1, retain=True)
        with self._lock:
            # paho re-sends what it already holds; the rest is sent by the firmware loop
            self.connected = True

    def _on_disconnect(self, _client: mqtt.Client, _userdata: object, _flags: object,
                       reason_code: mqtt.ReasonCode, _props: object) -> None:
        with self._lock:
            if self.connected:
                log.warning("lock %s: MQTT link lost (%s); %d reports waiting", self.device, reason_code,
                            len(self._waiting))
            self.connected = False

    def _on_publish(self, _client: mqtt.Client, _userdata: object, mid: int, reason_code: mqtt.ReasonCode,
                    _props: object) -> None:
        with self._lock:
            serial = self._handed.pop(mid, None)
            if reason_code.is_failure:
                return  # still waiting: sent again after the next reconnect
            if serial is None:
                self._acked_early.add(mid)  # availability, or a report whose mid is not noted yet
            else:
                self._acknowledged(serial)

    @property
    def waiting(self) -> int:
        """Reports the broker has not acknowledged yet."""
        with self._lock:
            return len(self._waiting)

    def _open(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=10)
        self.client.loop_start()

    def _close(self) -> None:
        if self.connected:
            self.client.publish(self.availability_topic, "offline", qos=1, retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()

    def _next_deadline(self, now: float) -> float:
        return self._report_due

    def _tick(self, now: float) -> None:
        if now >= self._report_due:
            self._keep(self._report())
            self._report_due = now + self.config.report_period_s
        self._send_waiting()

    def _report(self) -> tuple[int, bytes]:
        report = self.location()
        status = self.lock.status()
        reading = LockReading(
            device=self.device, terminal=self.config.terminal, lock_id=status.lock_id,
            state=_STATE[int(status.state)], rope_cut=status.rope_cut, shell_opened=status.shell_opened,
            battery_pct=status.battery_pct, latitude=report.latitude, longitude=report.longitude,
            speed_kmh=report.speed_kmh, time=report.time, alarm=report.alarm, message_id=0x0200,
            serial=self._serial, altitude_m=report.altitude_m, heading=report.heading, status=report.status,
            transport="mqtt",
        )
        self._serial = (self._serial + 1) & 0xFFFF
        self.counters["reports"] += 1
        return reading.serial, reading.to_json()

    def _keep(self, report: tuple[int, bytes]) -> None:
        with self._lock:
            if len(self._waiting) >= BUFFER_LIMIT:
                lost, _ = self._waiting.popitem(last=False)
                self.counters["reports_dropped"] += 1
                log.warning("lock %s: report buffer full; dropped report %d", self.device, lost)
            self._waiting[report[0]] = report[1]

    def _send_waiting(self) -> None:
        """Hand paho every waiting report it does not hold yet, oldest first, while the link is up.

        paho is called without our lock held: its network thread holds its own locks while it
        calls `_on_publish`, which takes ours, so holding ours around `publish` would deadlock.
        """
        with self._lock:
            if not self.connected:
                return
            held = set(self._handed.values())
            todo = [(serial, payload) for serial, payload in self._waiting.items() if serial not in held]
        for serial, payload in todo:
            info = self.client.publish(self.report_topic, payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                break  # the link just went; sent after the reconnect
            with self._lock:
                if info.mid in self._acked_early:  # PUBACK came before we got here
                    self._acked_early.discard(info.mid)
                    self._acknowledged(serial)
                else:
                    self._handed[info.mid] = serial

    def _acknowledged(self, serial: int) -> None:
        """The broker has it (caller holds the lock)."""
        if self._waiting.pop(serial, None) is not None:
            self.counters["reports_acked"] += 1
