"""Lane device adapters: a configured device instance bound to a transport and a codec.

`build_device` picks the adapter for a device's kind and transport; adapters turn the
driver's typed readings into `edge.ingest.Reading`s and keep the device's `DeviceStatus`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from drivers.mqtt_transport import MqttTransport
from edge.config import DeviceConfig
from edge.device_status import DeviceStatus
from edge.ingest import Ingest


class LaneDevice(Protocol):
    """What the runtime needs of every device adapter."""

    status: DeviceStatus

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def handles_topic(self, topic: str) -> bool: ...

    def on_mqtt_message(self, topic: str, payload: bytes, ack: Callable[[], None]) -> None:
        """Handle a message on one of this device's topics; call `ack` once it is stored or refused."""


def build_device(
    config: DeviceConfig, address: str, status: DeviceStatus, ingest: Ingest, mqtt: MqttTransport,
    changed: Callable[[str], None],
) -> LaneDevice:
    """The adapter for this device's kind and transport."""
    if config.kind == "smart_lock" and config.transport == "serial":
        from edge.devices.smart_lock_serial import SerialLock

        return SerialLock(config, address, status, ingest, changed)
    if config.kind == "smart_lock" and config.transport == "mqtt":
        from edge.devices.smart_lock_mqtt import MqttLock

        return MqttLock(config, address, status, ingest, mqtt, changed)
    raise ValueError(f"no adapter for kind {config.kind} over {config.transport}")
