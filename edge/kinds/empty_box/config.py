"""The empty-box detector's config: two channels of one device, Modbus RTU (status, result,
acknowledgement) and MQTT (interior images)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.device_config import DeviceBase, KindDefaults


class ModbusChannelConfig(BaseModel):
    """The RS-485 line the edge polls the detector on, as the only master."""

    model_config = ConfigDict(extra="forbid")

    port: str = Field(min_length=1, description="pyserial URL of the RS-485 adapter: /dev/ttyUSB0, a pty or its "
                      "symlink, socket://host:port, rfc2217://...")
    unit: int = Field(1, ge=1, le=247, description="Modbus unit id of the detector (1-247).")
    baudrate: int = Field(19200, gt=0, description="Serial baud rate.")
    parity: Literal["N", "E", "O"] = Field("E", description="Parity: N none, E even, O odd (8E1 by default).")
    stopbits: Literal[1, 2] = Field(1, description="Stop bits, 1 or 2.")
    poll_period_s: float = Field(1.0, gt=0, le=60, description="Seconds between polls (0.2-0.5 at a busy lane).")
    timeout_s: float = Field(0.5, gt=0, le=10, description="Seconds to wait for an answer before the request is "
                             "counted as unanswered.")


class ImagesChannelConfig(BaseModel):
    """Where the detector publishes its interior images on the site broker."""

    model_config = ConfigDict(extra="forbid")

    topic_prefix: str | None = Field(None, description="Topic prefix of the device's image and availability topics "
                                     "(<prefix>/image, <prefix>/availability); default kouan/<lane>/<id>.")


class InteriorModelsConfig(BaseModel):
    """The models that look at the interior images, one per image kind; none: the detector's verdict alone."""

    model_config = ConfigDict(extra="forbid")

    camera: str | None = Field(None, description="Model for camera photos (8-bit colour), e.g. a model folder; "
                               "\"lane\": the lane's own ([normal]); its regions show where the container is not empty.")
    transmission: str | None = Field(None, description="Model for X-ray transmission images (grey), e.g. "
                                     "'empty_container'; \"lane\": the lane's own, refitted from its clean passes "
                                     "([normal]; before the first, [normal] baseline).")

    @model_validator(mode="after")
    def _one_lane_model(self) -> InteriorModelsConfig:
        if self.camera == "lane" and self.transmission == "lane":
            raise ValueError("camera and transmission cannot both be \"lane\": a device learns one normal, "
                             "from one kind of image")
        return self

    def for_kind(self, image_kind: str | None) -> str | None:
        """The model for an image kind as the image header ("camera") or the registers ("camera_8bit") name it."""
        return {"camera": self.camera, "transmission": self.transmission}.get(interior_kind(image_kind))


class EmptyBoxConfig(DeviceBase):
    """A container empty-box detector at the lane."""

    kind: Literal["empty_box"] = Field(description="Device kind: a container empty-box detector.")
    modbus: ModbusChannelConfig = Field(description="The Modbus RTU channel (status, scan result, acknowledgement).")
    images: ImagesChannelConfig = Field(default_factory=ImagesChannelConfig,
                                        description="The MQTT channel the interior images arrive on.")
    models: InteriorModelsConfig = Field(default_factory=InteriorModelsConfig,
                                         description="Models run on each stored interior image, after its "
                                         "acknowledgement; their regions are drawn on the officer's image.")

    def uses_lane_model(self) -> bool:
        return "lane" in (self.models.camera, self.models.transmission)

    def lane_image_label(self) -> str | None:
        """A detector that sends both kinds keeps only the kind its lane model runs on in its normal."""
        kind = next((k for k in ("camera", "transmission") if getattr(self.models, k) == "lane"), None)
        return interior_label(kind) if kind else None


def interior_kind(image_kind: str | None) -> str:
    """"camera" or "transmission" as the image header ("camera") or the registers ("camera_8bit") name
    it; "" for none or a kind not known."""
    kind = (image_kind or "").split("_")[0]
    return kind if kind in ("camera", "transmission") else ""


def interior_label(image_kind: str | None) -> str:
    """What an interior image is called on the passage: with its kind, when the device said it."""
    kind = interior_kind(image_kind)
    return f"container interior ({kind})" if kind else "container interior"


class EmptyBoxDefaults(KindDefaults):
    """Site-wide settings for empty-box detectors (`[kinds.empty_box]`)."""

    offline_after_s: float = Field(10.0, gt=0, description="A detector whose heartbeat was not seen for longer is "
                                   "shown offline.")
    heartbeat_stale_s: float = Field(5.0, gt=0, description="A detector that answers but whose heartbeat register "
                                     "has not changed for longer is hung: shown offline, with the reason.")
    pair_timeout_s: float = Field(30.0, gt=0, description="How long a scan result waits for its image (and an image "
                                  "for its scan) before the missing half is reported.")
