"""The iris reader's config: one channel, a serial line (the framed protocol) or MQTT (JSON captures),
and the lane's quality gate and matching rule as `[kinds.iris]` defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edge.device_config import DeviceBase, KindDefaults
from edge.kinds.iris.matching import MatchConfig
from edge.kinds.iris.quality import QualityThresholds

_Q = QualityThresholds()
_M = MatchConfig()


class IrisConfig(DeviceBase):
    """An iris reader for driver self-service clearance at the lane."""

    kind: Literal["iris"] = Field(description="Device kind: an iris reader (docs/protocols.md).")
    transport: Literal["serial", "mqtt"] = Field(description="How the edge reaches the reader.")
    address: str | None = Field(
        None,
        description="serial: a pyserial URL (/dev/ttyUSB0, a pty or its symlink, socket://host:port, rfc2217://...); "
        "mqtt: the topic prefix the reader publishes under (default kouan/<lane>/<id>).",
    )
    baudrate: int = Field(115200, gt=0, description="Serial baud rate (ignored for MQTT).")

    @model_validator(mode="after")
    def _serial_needs_address(self) -> IrisConfig:
        if self.transport == "serial" and not self.address:
            raise ValueError("a serial device needs an address (a port path or pyserial URL)")
        return self


class IrisDefaults(KindDefaults):
    """Site-wide settings for iris readers (`[kinds.iris]`): liveness, the quality gate, the matcher."""

    offline_after_s: float = Field(30.0, gt=0, description="A reader silent for longer (it sends a heartbeat every "
                                                           "few seconds) is shown offline.")
    usable_iris_area_min: float | None = Field(_Q.usable_iris_area_min, ge=0, le=100, description=(
        "Quality gate: usable iris area at least this percent (ISO/IEC 29794-6 recommends 70); null = not gated."))
    iris_sclera_contrast_above: float | None = Field(_Q.iris_sclera_contrast_above, ge=0, le=100, description=(
        "Quality gate: iris-sclera contrast strictly above this (0-100); null = not gated."))
    iris_pupil_contrast_min: float | None = Field(_Q.iris_pupil_contrast_min, ge=0, le=100, description=(
        "Quality gate: iris-pupil contrast at least this (0-100); null = not gated."))
    pupil_circularity_min: float | None = Field(_Q.pupil_circularity_min, ge=0, le=100, description=(
        "Quality gate: pupil boundary circularity at least this (0-100); null (the default) = reported, not gated."))
    greyscale_utilisation_min: float | None = Field(_Q.greyscale_utilisation_min, ge=0, le=8, description=(
        "Quality gate: greyscale utilisation at least this many bits (0-8); null = not gated."))
    iris_pupil_ratio_min: float | None = Field(_Q.iris_pupil_ratio_min, ge=0, le=100, description=(
        "Quality gate: iris-pupil ratio (dilation) at least this percent; null = not gated."))
    iris_pupil_ratio_max: float | None = Field(_Q.iris_pupil_ratio_max, ge=0, le=100, description=(
        "Quality gate: iris-pupil ratio (dilation) at most this percent; null = not gated."))
    concentricity_min: float | None = Field(_Q.concentricity_min, ge=0, le=100, description=(
        "Quality gate: iris-pupil concentricity at least this (0-100); null = not gated."))
    margin_adequacy_above: float | None = Field(_Q.margin_adequacy_above, ge=0, le=100, description=(
        "Quality gate: margin adequacy strictly above this (0-100); null = not gated."))
    sharpness_min: float | None = Field(_Q.sharpness_min, ge=0, le=100, description=(
        "Quality gate: sharpness at least this (0-100; a lane choice, tune per reader model); null = not gated."))
    accept_threshold: float = Field(_M.threshold, gt=0, lt=0.5, description=(
        "Matcher: accept when the best normalised fractional Hamming distance is at or below this (Daugman's 0.32)."))
    max_shift: int = Field(_M.max_shift, ge=0, le=127, description=(
        "Matcher: the capture is turned by up to this many of the code's 256 columns either way (15 = +-21 degrees)."))
    min_bits: int = Field(_M.min_bits, ge=1, le=4096, description=(
        "Matcher: a comparison over fewer bits visible in both codes is ignored; none left = undecided."))

    def thresholds(self) -> QualityThresholds:
        """The quality gate these settings describe."""
        return QualityThresholds(**{name: getattr(self, name) for name in QualityThresholds.__dataclass_fields__})

    def match_config(self) -> MatchConfig:
        """The matching rule these settings describe."""
        return MatchConfig(threshold=self.accept_threshold, max_shift=self.max_shift, min_bits=self.min_bits)

    @model_validator(mode="after")
    def _ratio_range(self) -> IrisDefaults:
        low, high = self.iris_pupil_ratio_min, self.iris_pupil_ratio_max
        if low is not None and high is not None and low > high:
            raise ValueError(f"iris_pupil_ratio_min {low:g} is above iris_pupil_ratio_max {high:g}")
        return self
