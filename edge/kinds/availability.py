"""A device's retained MQTT availability ("online", or "offline" as its Last Will), as the edge reads it.

Every MQTT adapter subscribes to `<prefix>/availability`; the payload is "online" (any case,
surrounding blanks ignored) or anything else, shown as the reason the device is down. Names no kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edge.device_status import DeviceStatus


@dataclass(frozen=True)
class Availability:
    """One availability message: whether it says online, and what it said (as text)."""

    online: bool
    said: str

    @property
    def reason(self) -> str:
        """What the page shows as the device's last error while it is not online."""
        return f"device availability: {self.said}"


def read_availability(payload: bytes) -> Availability:
    """The availability in a payload (never raises: undecodable bytes are replaced)."""
    return Availability(payload.strip().lower() == b"online", payload.decode(errors="replace"))


def show_availability(status: DeviceStatus, payload: bytes) -> None:
    """For an adapter whose link is the availability alone: set `connected` and `last_error` from it."""
    availability = read_availability(payload)
    status.connected = availability.online
    status.last_error = "" if availability.online else availability.reason


def take_availability(status: DeviceStatus, payload: bytes, ack: Callable[[], None],
                      changed: Callable[[str], None]) -> None:
    """An availability message on an adapter's topic: acknowledged (nothing to store), shown, and
    the page told."""
    ack()
    show_availability(status, payload)
    changed(status.id)
