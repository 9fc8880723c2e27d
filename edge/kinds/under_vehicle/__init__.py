"""The HD under-vehicle camera (UVSS): one KUV1 pass message per vehicle over MQTT, analysed by an ONNX model.

A pass is stored (image in the media store by SHA-256, header in SQLite) and raises
`vehicle_pass`; once acknowledged, the model scores the stored image off the event loop and its
result is a second reading of the camera, raising `object_flagged` or `pass_clear`.
"""

from __future__ import annotations

from edge.kinds.base import DeviceContext, DeviceKind, LaneDevice
from edge.kinds.under_vehicle.config import UnderVehicleConfig, UnderVehicleDefaults
from edge.kinds.under_vehicle.readings import KIND_NAME, summary
from edge.kinds.under_vehicle import passage
from edge.normal.config import LaneFit


def build(ctx: DeviceContext) -> LaneDevice:
    """The adapter for the camera's one channel (MQTT)."""
    from edge.kinds.under_vehicle.mqtt import MqttUnderVehicle

    return MqttUnderVehicle(ctx)


def channels(config: UnderVehicleConfig, topic_prefix: str) -> tuple[str, str]:
    """What the page shows of the channel: MQTT and the topic prefix the camera publishes under."""
    return "mqtt", config.address or topic_prefix


KIND = DeviceKind(
    name=KIND_NAME,
    description="HD under-vehicle camera (UVSS): stitched line-scan image + plate per pass over MQTT (KUV1).",
    config_model=UnderVehicleConfig,
    defaults_model=UnderVehicleDefaults,
    build=build,
    channels=channels,
    summary=summary,
    event_topic="under_vehicle",
    observe=passage.observe,
    # a line-scan pass is long and narrow: 8 columns averaged into one working pixel, 128-px tiles
    lane_fit=LaneFit(method="knn", features="filterbank", tile=128, shrink=(1, 8), bank=256, max_tiles=8),
)
