"""The smart lock's config: one channel, a serial line (JT/T 808) or MQTT (JSON reports)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edge.device_config import DeviceBase, KindDefaults


class SmartLockConfig(DeviceBase):
    """A smart lock / e-seal reader at the lane."""

    kind: Literal["smart_lock"] = Field(description="Device kind: a JT/T 808 smart lock / e-seal.")
    transport: Literal["serial", "mqtt"] = Field(description="How the edge reaches the lock.")
    address: str | None = Field(
        None,
        description="serial: a pyserial URL (/dev/ttyUSB0, a pty or its symlink, socket://host:port, rfc2217://...); "
        "mqtt: the topic prefix the lock publishes under (default kouan/<lane>/<id>).",
    )
    baudrate: int = Field(115200, gt=0, description="Serial baud rate (ignored for MQTT).")
    transit_window_h: float = Field(
        72.0, gt=0, description="How far back a lock's openings and tampering count for the passage it arrives in "
        "(only those after the vehicle's declaration are reasons).")

    @model_validator(mode="after")
    def _serial_needs_address(self) -> "SmartLockConfig":
        if self.transport == "serial" and not self.address:
            raise ValueError("a serial device needs an address (a port path or pyserial URL)")
        return self


class SmartLockDefaults(KindDefaults):
    """Site-wide settings for smart locks (`[kinds.smart_lock]`)."""

    offline_after_s: float = Field(90.0, gt=0, description="A lock silent for longer is shown offline.")
    low_battery_pct: int | None = Field(20, ge=0, le=100, description="Battery at or below this raises a low-battery event.")
