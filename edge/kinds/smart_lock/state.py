"""The lock state kept per device and stored with each reading."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drivers.smart_lock import LockReading
from edge.ingest import Reading
from edge.kinds.smart_lock.history import in_lock_order


def lock_state(reading: LockReading) -> dict[str, Any]:
    """The fields lock events are derived from and the lane page shows."""
    return {
        "lock_id": reading.lock_id,
        "state": reading.state.value,
        "rope_cut": reading.rope_cut,
        "shell_opened": reading.shell_opened,
        "battery_pct": reading.battery_pct,
        "latitude": reading.latitude,
        "longitude": reading.longitude,
        "terminal": reading.terminal,
        "serial": reading.serial,  # with the device time, the report's place in the lock's order
    }


def device_time(reading: LockReading) -> str | None:
    return reading.time.isoformat() if reading.time is not None else None


def lock_reading(
    device_id: str, message: str, sha256: str, payload: dict[str, Any], lock: LockReading,
    low_battery_pct: int | None, on_stored: Callable[[], None] | None = None,
) -> Reading:
    """The ingest reading for one lock report: its state, and its place in the lock's order as
    the derivation that runs in its store transaction."""
    state = lock_state(lock)
    moment = device_time(lock)
    return Reading(device_id, message, sha256, payload, device_time=moment, state=state,
                   derive=in_lock_order(state, moment, low_battery_pct), kind="smart_lock", on_stored=on_stored)
