"""The smart lock (e-seal) reading, built from a JT/T 808 0x0200 report or from the MQTT JSON report.

MQTT: topic `kouan/<lane>/<device>/report`, payload = `LockReportWire` as JSON (QoS 1);
availability `kouan/<lane>/<device>/availability` = "online" / "offline" (retained, Last Will).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from drivers.bounded_json import load_bounded
from drivers.jt808 import LOCATION_REPORT, LocationReport, Message, find_lock_status
from drivers.jt808.lock_items import LockStateCode
from drivers.wire_common import offset_required, validate_wire

REPORT_CHANNEL = "report"
# A report is one flat object of about 400 bytes; anything far beyond is refused unparsed.
MAX_REPORT_BYTES = 64 * 1024
MAX_REPORT_DEPTH = 4
AVAILABILITY_CHANNEL = "availability"


def report_topic(lane: str, device: str) -> str:
    """Where a lock publishes its JSON reports."""
    return f"kouan/{lane}/{device}/{REPORT_CHANNEL}"


def availability_topic(lane: str, device: str) -> str:
    """Retained "online" / "offline" (the Last Will) of a lock."""
    return f"kouan/{lane}/{device}/{AVAILABILITY_CHANNEL}"


class LockState(StrEnum):
    """The lock's own state as the lane sees it."""

    SEALED = "sealed"
    OPENED = "opened"
    TAMPERED = "tampered"


_FROM_CODE = {LockStateCode.SEALED: LockState.SEALED, LockStateCode.OPENED: LockState.OPENED,
              LockStateCode.TAMPERED: LockState.TAMPERED}


class LockReportWire(BaseModel):
    """JSON form of one lock report on MQTT; the same facts as a 0x0200 with a 0xE0 item."""

    model_config = ConfigDict(extra="forbid")

    terminal: str = Field(pattern=r"^[0-9]{1,20}$", description="JT/T 808 terminal number, digits")
    serial: int = Field(ge=0, le=0xFFFF, description="message serial number, as in the 0x0200 header")
    lock_id: str = Field(min_length=1, max_length=32, description="lock (seal) id printed on the device")
    state: Literal["sealed", "opened", "tampered"] = Field(description="lock state")
    rope_cut: bool = Field(description="the shackle / steel rope is cut")
    shell_opened: bool = Field(description="the housing has been opened")
    battery_pct: int | None = Field(ge=0, le=100, description="battery charge in percent, null if unknown")
    latitude: float = Field(ge=-90, le=90, description="degrees, negative = south")
    longitude: float = Field(ge=-180, le=180, description="degrees, negative = west")
    altitude_m: int = Field(default=0, description="metres")
    speed_kmh: float = Field(default=0.0, ge=0, description="km/h")
    heading: int = Field(default=0, ge=0, le=359, description="degrees from north, clockwise")
    time: datetime = Field(description="ISO 8601 with an offset, e.g. 2026-11-26T15:20:00+08:00")
    alarm: int = Field(default=0, ge=0, le=0xFFFFFFFF, description="JT/T 808 alarm bits")
    status: int = Field(default=0, ge=0, le=0xFFFFFFFF, description="JT/T 808 status bits")

    _aware = offset_required("time")


@dataclass(frozen=True)
class LockReading:
    """One typed lock reading, whatever transport brought it."""

    device: str
    terminal: str
    lock_id: str
    state: LockState
    rope_cut: bool
    shell_opened: bool
    battery_pct: int | None
    latitude: float
    longitude: float
    speed_kmh: float
    time: datetime | None
    alarm: int
    message_id: int
    serial: int
    altitude_m: int = 0
    heading: int = 0
    status: int = 0
    transport: str = "jt808"

    @classmethod
    def from_jt808(cls, message: Message, device: str) -> LockReading:
        """From a decoded 0x0200 that carries the 0xE0 lock status item; ValueError otherwise."""
        body = message.body
        if message.header.message_id != LOCATION_REPORT or not isinstance(body, LocationReport):
            raise ValueError(f"message 0x{message.header.message_id:04x} is not a 0x0200 location report")
        return cls.from_location(body, device, message.header.terminal, message.header.serial)

    @classmethod
    def from_location(cls, report: LocationReport, device: str, terminal: str, serial: int,
                      message_id: int = LOCATION_REPORT) -> LockReading:
        """From one location report (also the items of a 0x0704 batch)."""
        lock = find_lock_status(report)
        if lock is None:
            raise ValueError(f"location report from terminal {terminal} has no lock status item 0xE0")
        return cls(device, terminal, lock.lock_id, _FROM_CODE[lock.state], lock.rope_cut, lock.shell_opened,
                   lock.battery_pct, report.latitude, report.longitude, report.speed_kmh, report.time,
                   report.alarm, message_id, serial, report.altitude_m, report.heading, report.status)

    @classmethod
    def from_json(cls, payload: bytes | str, device: str) -> LockReading:
        """From an MQTT report payload; a bad payload raises ValueError naming the field (or the
        size or nesting limit it broke, checked before parsing)."""
        data = load_bounded(payload, what=f"smart-lock report from {device}", max_bytes=MAX_REPORT_BYTES,
                            max_depth=MAX_REPORT_DEPTH)
        wire = validate_wire(LockReportWire, data, f"smart-lock report from {device}")
        return cls(device, wire.terminal, wire.lock_id, LockState(wire.state), wire.rope_cut, wire.shell_opened,
                   wire.battery_pct, wire.latitude, wire.longitude, wire.speed_kmh, wire.time, wire.alarm,
                   LOCATION_REPORT, wire.serial, wire.altitude_m, wire.heading, wire.status, "mqtt")

    def to_wire(self) -> LockReportWire:
        """The JSON model of this reading (what a lock publishes on MQTT)."""
        if self.time is None:
            raise ValueError("a JSON lock report needs a time")
        return LockReportWire(
            terminal=self.terminal, serial=self.serial, lock_id=self.lock_id, state=self.state.value,
            rope_cut=self.rope_cut, shell_opened=self.shell_opened, battery_pct=self.battery_pct,
            latitude=self.latitude, longitude=self.longitude, altitude_m=self.altitude_m,
            speed_kmh=self.speed_kmh, heading=self.heading, time=self.time, alarm=self.alarm, status=self.status,
        )

    def to_json(self) -> bytes:
        """UTF-8 JSON payload for the report topic."""
        return self.to_wire().model_dump_json().encode("utf-8")
