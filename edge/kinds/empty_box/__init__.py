"""The container empty-box detector: Modbus RTU for status, result and acknowledgement, MQTT for
the interior images; scans and images paired by sequence number (docs/protocols.md)."""

from __future__ import annotations

from edge.kinds.base import DeviceContext, DeviceKind, LaneDevice
from edge.kinds.empty_box.config import EmptyBoxConfig, EmptyBoxDefaults
from edge.kinds.empty_box.pairing import MIGRATIONS
from edge.kinds.empty_box.state import summary
from edge.kinds.empty_box import passage
from edge.normal.config import LaneFit


def build(ctx: DeviceContext) -> LaneDevice:
    """One device with both channels."""
    from edge.kinds.empty_box.device import EmptyBoxDevice

    return EmptyBoxDevice(ctx)


def channels(config: EmptyBoxConfig, topic_prefix: str) -> tuple[str, str]:
    """What the page shows: the Modbus port and unit, and where the images arrive."""
    return "modbus", f"{config.modbus.port} unit {config.modbus.unit}; images {config.images.topic_prefix or topic_prefix}"


KIND = DeviceKind(
    name="empty_box",
    description="Container empty-box detector (Modbus RTU status and result, interior images on MQTT).",
    config_model=EmptyBoxConfig,
    defaults_model=EmptyBoxDefaults,
    build=build,
    channels=channels,
    summary=summary,
    event_topic="empty_box",
    migrations=MIGRATIONS,
    observe=passage.observe,
    check=passage.check,
    # PatchCore on the pretrained backbone: of the fits on the project's own container X-rays it ranked
    # them best (models/backbone/README.md, "Checked again for the patch-distance heads"); default tiles
    lane_fit=LaneFit(method="patchcore", features="lite0", tile=256, shrink=(1, 1), bank=256, max_tiles=16),
)
