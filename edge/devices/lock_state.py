"""The lock state kept per device and stored with each reading."""

from __future__ import annotations

from typing import Any

from drivers.smart_lock import LockReading


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
