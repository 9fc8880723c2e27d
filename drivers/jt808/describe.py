"""Messages as plain JSON-ready dicts (for `kouan decode jt808`, logs and recordings)."""

from __future__ import annotations

import struct
from dataclasses import asdict
from typing import Any

from drivers.jt808.errors import Jt808DecodeError
from drivers.jt808.lock_items import LOCK_STATUS_ITEM, decode_lock_status
from drivers.jt808.location import BatchLocation, ExtraItem, LocationReport
from drivers.jt808.messages import MESSAGE_NAMES, Message, RawBody

# Standard additional information items (JT/T 808-2013 table 27) with a simple scaled value.
_STANDARD_ITEMS: dict[int, tuple[str, str, float]] = {
    0x01: ("mileage_km", ">I", 0.1),
    0x02: ("fuel_l", ">H", 0.1),
    0x03: ("tachograph_speed_kmh", ">H", 0.1),
    0x25: ("vehicle_signal_status", ">I", 1),
    0x2A: ("io_status", ">H", 1),
    0x2B: ("analog", ">I", 1),
    0x30: ("signal_strength", ">B", 1),
    0x31: ("gnss_satellites", ">B", 1),
}


def describe_extra(item: ExtraItem) -> dict[str, Any]:
    """An extra item as {'length', 'hex'} plus a decoded value where the id is known."""
    out: dict[str, Any] = {"length": len(item.value), "hex": item.value.hex()}
    if item.item_id == LOCK_STATUS_ITEM:
        try:
            status = decode_lock_status(item.value)
        except Jt808DecodeError as exc:
            out["error"] = str(exc)
        else:
            out.update(name="lock_status", lock_id=status.lock_id, lock_state=status.state.name.lower(),
                       rope_cut=status.rope_cut, shell_opened=status.shell_opened,
                       battery_pct=status.battery_pct)
        return out
    known = _STANDARD_ITEMS.get(item.item_id)
    if known is not None and len(item.value) == struct.calcsize(known[1]):
        name, fmt, scale = known
        (raw,) = struct.unpack(fmt, item.value)
        out.update(name=name, value=round(raw * scale, 6) if scale != 1 else raw)
    return out


def describe_location(report: LocationReport) -> dict[str, Any]:
    """The 0x0200 fields under the names the CLI documents, lock fields lifted to the top."""
    out: dict[str, Any] = {
        "alarm": report.alarm, "status": report.status,
        "latitude": report.latitude, "longitude": report.longitude,
        "altitude_m": report.altitude_m, "speed_kmh": report.speed_kmh, "heading": report.heading,
        "time": report.time.isoformat() if report.time else None,
        "extras": {f"0x{item.item_id:02x}": describe_extra(item) for item in report.extras},
    }
    if report.trailing:
        out["extras_trailing_hex"] = report.trailing.hex()
    lock = out["extras"].get(f"0x{LOCK_STATUS_ITEM:02x}")
    if lock is not None and "lock_id" in lock:
        for key in ("lock_id", "lock_state", "rope_cut", "shell_opened", "battery_pct"):
            out[key] = lock[key]
    return out


def describe(message: Message) -> dict[str, Any]:
    """One message as a JSON-ready dict: header keys, then the body's fields."""
    h = message.header
    out: dict[str, Any] = {
        "message_id": h.message_id,
        "message": MESSAGE_NAMES.get(h.message_id, f"0x{h.message_id:04x}"),
        "version": h.version,
        "terminal": h.terminal,
        "serial": h.serial,
        "body_length": h.body_length,
    }
    if h.protocol_version is not None:
        out["protocol_version"] = h.protocol_version
    if h.encryption:
        out["encryption"] = h.encryption
    if h.split is not None:
        out["split"] = {"total": h.split.total, "index": h.split.index}
    body = message.body
    if isinstance(body, LocationReport):
        out.update(describe_location(body))
    elif isinstance(body, BatchLocation):
        out.update(kind=body.kind, locations=[describe_location(r) for r in body.reports])
    elif isinstance(body, RawBody):
        out["body_hex"] = body.data.hex()
    else:
        out.update(asdict(body))
    return out
