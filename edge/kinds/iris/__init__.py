"""The iris reader for driver self-service clearance: the framed protocol over serial, or JSON over MQTT.

Each capture is gated on its ISO/IEC 29794-6 quality, matched against the card's enrolled
templates and raises one event on kouan/<lane>/events/iris (docs/protocols.md, "Iris reader").
"""

from __future__ import annotations

from edge.kinds.base import DeviceContext, DeviceKind, LaneDevice
from edge.kinds.iris.config import IrisConfig, IrisDefaults
from edge.kinds.iris.outcome import summary
from edge.kinds.iris.templates import MIGRATIONS
from edge.kinds.iris import passage


def build(ctx: DeviceContext) -> LaneDevice:
    """The adapter for the reader's one channel."""
    config: IrisConfig = ctx.config
    if config.transport == "serial":
        from edge.kinds.iris.serial import SerialIris

        return SerialIris(ctx)
    from edge.kinds.iris.mqtt import MqttIris

    return MqttIris(ctx)


def channels(config: IrisConfig, topic_prefix: str) -> tuple[str, str]:
    """What the page shows of the reader's channel: the port, or the topic prefix it publishes under."""
    return config.transport, config.address or (topic_prefix if config.transport == "mqtt" else "")


KIND = DeviceKind(
    name="iris",
    description="Iris reader for driver self-service clearance (framed protocol over serial, JSON over MQTT).",
    config_model=IrisConfig,
    defaults_model=IrisDefaults,
    build=build,
    channels=channels,
    summary=summary,
    event_topic="iris",
    migrations=MIGRATIONS,
    observe=passage.observe,
)
