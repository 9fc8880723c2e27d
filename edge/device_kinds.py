"""Built-in device kinds (device profiles): what a kind speaks and how its silence is judged.

A device instance in the config names one of these; a site may override the numbers in its
config's `[kinds.<name>]` table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from edge.config import KindConfig


@dataclass(frozen=True)
class DeviceKind:
    """A device profile: protocols per transport and liveness rules."""

    name: str
    description: str
    transports: tuple[str, ...]
    protocols: dict[str, str]
    offline_after_s: float
    low_battery_pct: int | None = None

    def with_overrides(self, overrides: KindConfig | None) -> "DeviceKind":
        """This kind with the site's overrides applied."""
        if overrides is None:
            return self
        changes = {k: v for k, v in overrides.model_dump().items() if v is not None}
        return replace(self, **changes)


KINDS: dict[str, DeviceKind] = {
    "smart_lock": DeviceKind(
        name="smart_lock",
        description="Smart lock / e-seal on transit cargo (JT/T 808 over serial, JSON reports over MQTT).",
        transports=("serial", "mqtt"),
        protocols={"serial": "JT/T 808 (2013/2019 headers)", "mqtt": "smart-lock JSON report"},
        offline_after_s=90.0,
        low_battery_pct=20,
    ),
}
