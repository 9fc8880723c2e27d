"""0x0200 location report body and 0x0704 batch upload body."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import datetime

from drivers.jt808.bcd import decode_bcd_time, encode_bcd_time
from drivers.jt808.errors import Jt808DecodeError, Reason

STATUS_ACC_ON = 1 << 0
STATUS_POSITIONED = 1 << 1
STATUS_SOUTH = 1 << 2
STATUS_WEST = 1 << 3
ALARM_UNDERVOLTAGE = 1 << 7   # standard alarm bit 7: main power under-voltage (the lock's battery)

_FIXED = struct.Struct(">IIIIHHH")  # alarm, status, lat, lon, altitude, speed, heading (+ BCD[6] time)
FIXED_SIZE = _FIXED.size + 6        # 28 bytes before the extra items


@dataclass(frozen=True)
class ExtraItem:
    """One additional information item: id (1 B), length (1 B), value."""

    item_id: int
    value: bytes


@dataclass(frozen=True)
class LocationReport:
    """A 0x0200 body; latitude/longitude in degrees, negative for south/west."""

    alarm: int
    status: int
    latitude: float
    longitude: float
    altitude_m: int
    speed_kmh: float
    heading: int
    time: datetime | None
    extras: tuple[ExtraItem, ...] = field(default=())
    trailing: bytes = b""   # bytes after the last well-formed extra item (vendor data that is not TLV)

    def extra(self, item_id: int) -> ExtraItem | None:
        """The first extra item with this id, if any."""
        return next((item for item in self.extras if item.item_id == item_id), None)


@dataclass(frozen=True)
class BatchLocation:
    """A 0x0704 body: kind 0 = regular batch, 1 = blind-area (backlog) upload."""

    kind: int
    reports: tuple[LocationReport, ...]


def encode_location(report: LocationReport) -> bytes:
    """Serialise a 0x0200 body; status bits 2/3 are set from the signs of latitude/longitude."""
    status = report.status & ~(STATUS_SOUTH | STATUS_WEST)
    if report.latitude < 0:
        status |= STATUS_SOUTH
    if report.longitude < 0:
        status |= STATUS_WEST
    fixed = _FIXED.pack(
        report.alarm & 0xFFFFFFFF, status & 0xFFFFFFFF,
        round(abs(report.latitude) * 1_000_000), round(abs(report.longitude) * 1_000_000),
        report.altitude_m & 0xFFFF, round(report.speed_kmh * 10), report.heading,
    )
    parts = [fixed, encode_bcd_time(report.time)]
    for item in report.extras:
        if len(item.value) > 255:
            raise ValueError(f"extra item 0x{item.item_id:02x} is {len(item.value)} bytes (max 255)")
        parts.append(bytes([item.item_id, len(item.value)]) + item.value)
    parts.append(report.trailing)
    return b"".join(parts)


def decode_location(body: bytes) -> LocationReport:
    """Parse a 0x0200 body, extra items included."""
    if len(body) < FIXED_SIZE:
        raise Jt808DecodeError(Reason.BAD_BODY, f"location body is {len(body)} bytes, needs {FIXED_SIZE}")
    alarm, status, lat, lon, altitude, speed, heading = _FIXED.unpack_from(body, 0)
    moment = decode_bcd_time(body[_FIXED.size:FIXED_SIZE])
    extras: list[ExtraItem] = []
    offset = FIXED_SIZE
    while offset < len(body):
        end = offset + 2 + body[offset + 1] if offset + 2 <= len(body) else len(body) + 1
        if end > len(body):
            break  # not id|len|value any more: kept whole in `trailing`, never dropped
        item_id = body[offset]
        extras.append(ExtraItem(item_id, body[offset + 2: end]))
        offset = end
    trailing = body[offset:]
    latitude = -lat / 1_000_000 if status & STATUS_SOUTH else lat / 1_000_000
    longitude = -lon / 1_000_000 if status & STATUS_WEST else lon / 1_000_000
    return LocationReport(alarm, status, latitude, longitude, altitude, speed / 10, heading, moment,
                          tuple(extras), trailing)


def encode_batch(batch: BatchLocation) -> bytes:
    """Serialise a 0x0704 body: count WORD, kind BYTE, then (length WORD, 0x0200 body) each."""
    parts = [struct.pack(">HB", len(batch.reports), batch.kind)]
    for report in batch.reports:
        body = encode_location(report)
        parts.append(struct.pack(">H", len(body)) + body)
    return b"".join(parts)


def decode_batch(body: bytes) -> BatchLocation:
    """Parse a 0x0704 body; the count must match the items present."""
    if len(body) < 3:
        raise Jt808DecodeError(Reason.BAD_BODY, "batch body shorter than count + type")
    count, kind = struct.unpack_from(">HB", body, 0)
    offset = 3
    reports = []
    for index in range(count):
        if offset + 2 > len(body):
            raise Jt808DecodeError(Reason.BAD_BODY, f"batch item {index} of {count} missing")
        (length,) = struct.unpack_from(">H", body, offset)
        offset += 2
        if offset + length > len(body):
            raise Jt808DecodeError(Reason.BAD_BODY, f"batch item {index} of {length} bytes overruns the body")
        reports.append(decode_location(body[offset: offset + length]))
        offset += length
    if offset != len(body):
        raise Jt808DecodeError(Reason.BAD_BODY, f"{len(body) - offset} bytes after the {count} batch items")
    return BatchLocation(kind, tuple(reports))
