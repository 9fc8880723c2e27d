"""The iris reader on MQTT: JSON models of a capture, a status and the edge's ack, and their topics.

Topics (QoS 1): `kouan/<lane>/<device>/capture` and `.../status` from the reader,
`.../ack` from the edge, `.../availability` retained "online" / "offline" (the reader's Last Will).
Code and mask are the same 512 packed bytes as on serial (drivers.iris.messages), base64.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from drivers.bounded_json import load_bounded
from drivers.iris.messages import CODE_BYTES
from drivers.wire_common import offset_required, validate_wire

CAPTURE_CHANNEL = "capture"
STATUS_CHANNEL = "status"
ACK_CHANNEL = "ack"
AVAILABILITY_CHANNEL = "availability"
# A capture is about 2 kB (two 684-character base64 strings and a flat quality object).
MAX_CAPTURE_BYTES = 16 * 1024
MAX_SMALL_BYTES = 4 * 1024
MAX_DEPTH = 3
M = TypeVar("M", bound=BaseModel)


def topic(lane: str, device: str, channel: str) -> str:
    """`kouan/<lane>/<device>/<channel>`."""
    return f"kouan/{lane}/{device}/{channel}"


def _score(description: str) -> object:
    return Field(ge=0, le=100, description=description)


class QualityWire(BaseModel):
    """ISO/IEC 29794-6 quality components; null = not measured by the reader."""

    model_config = ConfigDict(extra="forbid")

    usable_iris_area: float | None = _score("percent of the iris not covered by eyelids, lashes, reflections")
    iris_sclera_contrast: float | None = _score("contrast at the iris / sclera (white of the eye) boundary, 0-100")
    iris_pupil_contrast: float | None = _score("contrast at the iris / pupil boundary, 0-100")
    pupil_circularity: float | None = _score("how round the pupil boundary is, 0-100")
    greyscale_utilisation: float | None = Field(ge=0, le=8, description="entropy of the iris image's grey levels, bits")
    iris_pupil_ratio: float | None = _score("pupil diameter as a percent of the iris diameter (dilation)")
    concentricity: float | None = _score("how well pupil and iris centres coincide, 0-100")
    margin_adequacy: float | None = _score("how far the iris is from the image edges, 0-100")
    sharpness: float | None = _score("focus of the iris image, 0-100")


def _b64(value: str, what: str) -> bytes:
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not base64") from None
    if len(data) != CODE_BYTES:
        raise ValueError(f"{what} is {len(data)} bytes, expected {CODE_BYTES}")
    return data


class CaptureWire(BaseModel):
    """JSON form of one capture on `kouan/<lane>/<device>/capture`."""

    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=0, le=0xFFFF, description="the reader's sequence number; a resend keeps it")
    card_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="the driver's card id as the reader read it")
    time: datetime = Field(description="capture time, ISO 8601 with an offset, e.g. 2026-11-26T15:20:00+08:00")
    eye: Literal["unknown", "right", "left"] = Field(description="which eye was captured")
    quality: QualityWire = Field(description="ISO/IEC 29794-6 quality components")
    code_shape: tuple[Literal[8], Literal[256], Literal[2]] = Field(
        description="rings, angular columns, bits per cell; must be [8, 256, 2]")
    code: str = Field(max_length=1024, description=f"iris code, {CODE_BYTES} packed bytes, base64")
    mask: str = Field(max_length=1024, description=f"mask (1 = bit usable), {CODE_BYTES} packed bytes, base64")

    _aware = offset_required("time")

    @field_validator("code", "mask")
    @classmethod
    def _bits(cls, value: str, info: object) -> str:
        _b64(value, getattr(info, "field_name", "bits"))
        return value

    def code_bytes(self) -> bytes:
        return _b64(self.code, "code")

    def mask_bytes(self) -> bytes:
        return _b64(self.mask, "mask")


class StatusWire(BaseModel):
    """JSON heartbeat on `kouan/<lane>/<device>/status`."""

    model_config = ConfigDict(extra="forbid")

    uptime_s: int = Field(ge=0, le=0xFFFFFFFF, description="seconds since the reader started")
    state: Literal["idle", "card_read", "capturing", "fault"] = Field(description="what the reader is doing")
    faults: list[Literal["camera", "NIR illuminator", "card reader", "over temperature"]] = Field(
        max_length=4, description="faults the reader reports")
    pending: int = Field(ge=0, le=0xFFFF, description="captures the edge has not acknowledged yet")


class AckWire(BaseModel):
    """JSON ack from the edge on `kouan/<lane>/<device>/ack`: the capture `seq` was stored (or not)."""

    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=0, le=0xFFFF, description="sequence number of the capture acknowledged")
    result: Literal["stored", "refused", "busy"] = Field(
        description="stored: forget it; refused: bad content, do not resend; busy: resend later")


def parse_wire(model: type[M], payload: bytes | str, what: str, max_bytes: int) -> M:
    """Bound, parse and validate a payload; ValueError naming the field (or the limit) otherwise."""
    data = load_bounded(payload, what=what, max_bytes=max_bytes, max_depth=MAX_DEPTH)
    return validate_wire(model, data, what)

