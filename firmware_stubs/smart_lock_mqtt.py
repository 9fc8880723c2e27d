"""The lock stub on MQTT: JSON reports (QoS 1) and a retained availability with a Last Will.

Over MQTT the lock does not register or wait for 0x8001: QoS 1 is the delivery guarantee, and the
broker announces "offline" (the Last Will) if the lock vanishes. Like a real lock it keeps every
report until the broker acknowledged it (PUBACK): while the link is down it goes on reporting
into that buffer (bounded, oldest dropped and counted, as a lock's flash fills), and after the
reconnect it sends what is waiting, in order. `connected` follows the link.
"""

from __future__ import annotations

import logging
from urllib.parse import urlparse

from drivers.smart_lock import LockReading, LockState, availability_topic, report_topic
from firmware_stubs.mqtt_outbox import MqttOutbox
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
        self.outbox = MqttOutbox(
            client_id=f"kouan-lock-{lane}-{device}", host=self.host, port=self.port,
            availability_topic=self.availability_topic, label=f"lock {device}", topic=self.report_topic,
            noun="report", counters=self.counters, acked="reports_acked", dropped="reports_dropped",
            limit=BUFFER_LIMIT)
        self.client = self.outbox.client
        self.counters["reports_dropped"] = 0

    @property
    def connected(self) -> bool:
        """Whether the link to the broker is up."""
        return self.outbox.connected

    @property
    def waiting(self) -> int:
        """Reports the broker has not acknowledged yet."""
        return self.outbox.waiting

    def _open(self) -> None:
        self.outbox.start()

    def _close(self) -> None:
        self.outbox.stop()

    def _next_deadline(self, now: float) -> float:
        return self._report_due

    def _tick(self, now: float) -> None:
        if now >= self._report_due:
            self.outbox.keep(*self._report())
            self._report_due = now + self.config.report_period_s
        self.outbox.send_waiting()

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
