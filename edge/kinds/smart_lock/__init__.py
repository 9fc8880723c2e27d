"""The smart lock / e-seal on transit cargo: JT/T 808 over serial, or JSON reports over MQTT."""

from __future__ import annotations

from typing import Any

from edge.kinds.base import DeviceContext, DeviceKind, LaneDevice
from edge.kinds.smart_lock.config import SmartLockConfig, SmartLockDefaults
from edge.kinds.smart_lock.history import MIGRATIONS
from edge.kinds.smart_lock import passage


def build(ctx: DeviceContext) -> LaneDevice:
    """The adapter for the lock's one channel."""
    config: SmartLockConfig = ctx.config
    if config.transport == "serial":
        from edge.kinds.smart_lock.serial import SerialLock

        return SerialLock(ctx)
    from edge.kinds.smart_lock.mqtt import MqttLock

    return MqttLock(ctx)


def channels(config: SmartLockConfig, topic_prefix: str) -> tuple[str, str]:
    """What the page shows of the lock's channel: the port, or the topic prefix it publishes under."""
    return config.transport, config.address or (topic_prefix if config.transport == "mqtt" else "")


def summary(state: dict[str, Any]) -> str:
    """The device row on the lane page: lock id, state, battery."""
    if not state.get("lock_id"):
        return ""
    battery = state.get("battery_pct")
    return f"{state['lock_id']}: {state.get('state', '?')}" + (f", battery {battery}%" if battery is not None else "")


KIND = DeviceKind(
    name="smart_lock",
    description="Smart lock / e-seal on transit cargo (JT/T 808 over serial, JSON reports over MQTT).",
    config_model=SmartLockConfig,
    defaults_model=SmartLockDefaults,
    build=build,
    channels=channels,
    summary=summary,
    event_topic="lock",
    migrations=MIGRATIONS,
    observe=passage.observe,
    check=passage.check,
)
