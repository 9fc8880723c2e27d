"""The lock stub on MQTT: JSON reports (QoS 1) and a retained availability with a Last Will.

Over MQTT the lock does not register or wait for 0x8001: QoS 1 is the delivery guarantee, and the
broker announces "offline" (the Last Will) if the lock vanishes.
"""

from __future__ import annotations

import logging
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

from drivers.smart_lock import LockReading, LockState, availability_topic, report_topic
from firmware_stubs.smart_lock import LockConfig, LockStubBase

log = logging.getLogger(__name__)

_STATE = {0: LockState.SEALED, 1: LockState.OPENED, 2: LockState.TAMPERED}


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
        self.connected = False

    def _on_connect(self, client: mqtt.Client, _userdata: object, _flags: object,
                    reason_code: mqtt.ReasonCode, _props: object) -> None:
        if reason_code.is_failure:
            log.warning("lock %s: MQTT connection refused: %s", self.device, reason_code)
            return
        self.connected = True
        client.publish(self.availability_topic, "online", qos=1, retain=True)

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
        if now < self._report_due or not self.connected:
            return
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
        self.client.publish(self.report_topic, reading.to_json(), qos=1)
        self.counters["reports"] += 1
        self._report_due = now + self.config.report_period_s
