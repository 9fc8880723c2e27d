"""What every device instance in the config has, whatever its kind.

A kind's own config model (in `edge/kinds/<kind>/config.py`) extends `DeviceBase` with a
`kind` literal and its channels; the edge config is a union of them, discriminated on `kind`
(the way Frigate's detector configs are). Kept apart from `edge/config.py` so kind packages can
import it without importing the whole config, which imports them.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Topic levels the edge publishes under kouan/<lane>/...; a device may not take these names.
RESERVED_DEVICE_IDS = frozenset({"edge", "events", "passages", "verdicts", "declarations"})


def _topic_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError("must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit")
    return value


# An id that is safe as one MQTT topic level and in file names.
TopicId = Annotated[str, AfterValidator(_topic_id)]


class DeviceBase(BaseModel):
    """One device instance at the lane: the fields every kind shares."""

    model_config = ConfigDict(extra="forbid")

    id: TopicId = Field(description="Device id, unique at the lane; used in topics kouan/<lane>/<device>/...")
    name: str = Field("", description="Human name shown on the lane terminal.")

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_DEVICE_IDS:
            raise ValueError(f"'{value}' is reserved for the edge's own topics")
        return value

    def uses_lane_model(self) -> bool:
        """Whether a model of this device is "lane", the lane's own (it must then learn its normal)."""
        return False

    def lane_image_label(self) -> str | None:
        """The label of the observation images its lane model looks at, which are the ones its normal
        keeps; None: each observation's first image (the device's own, before any reference)."""
        return None


class KindDefaults(BaseModel):
    """A kind's site-wide settings (`[kinds.<kind>]`); a kind may add its own."""

    model_config = ConfigDict(extra="forbid")

    offline_after_s: float = Field(90.0, gt=0, description="A device of this kind silent for longer is shown offline.")
