"""The container scanner's config: notices on MQTT, scan files in a watched folder."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from drivers.scanner.loader import DEFAULT_MAX_SIDE
from edge.device_config import DeviceBase, KindDefaults


class ScannerConfig(DeviceBase):
    """A large container scanner at the lane: one notice on MQTT per scan file put in a folder."""

    kind: Literal["scanner"] = Field(description="Device kind: a large container scanner (MQTT notice + watched folder).")
    topic_prefix: str | None = Field(
        None, description="Topic prefix the scanner publishes its notice and availability under "
                          "(default kouan/<lane>/<id>).",
    )
    folder: Path = Field(description="The watched folder the scanner writes its scan files into (an absolute path).")
    refer: Literal["loaded", "all", "none"] = Field(
        "loaded", description="Which scans the lane refers to central image review: those of containers not declared "
        "empty (loaded), every scan (all), or none.")
    poll_period_s: float = Field(0.5, gt=0, le=60, description="How often the folder is listed, in seconds.")
    max_side: int = Field(DEFAULT_MAX_SIDE, ge=1, le=100_000,
                          description="Largest width or height of one image plane accepted, in pixels (a bigger "
                                      "header is refused before decoding).")
    max_file_bytes: int = Field(256 * 1024 * 1024, ge=1, le=256 * 1024 * 1024,
                                description="Largest scan file accepted, in bytes (the media store keeps at most 256 MiB).")
    notice_wait_s: float = Field(120.0, gt=0, description="How long a notice waits for its file before `file_missing`.")
    file_wait_s: float = Field(30.0, gt=0, description="How long a file waits for its notice before `file_without_notice`.")
    max_pending: int = Field(8, ge=1, le=1000,
                             description="Notices waiting for their file at most; more stay unacknowledged on the broker. "
                                         "Each one waiting holds a slot of the broker's in-flight window to the edge "
                                         "(Mosquitto's max_inflight_messages, 20 by default), shared with every device.")

    @field_validator("folder")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        if not value.is_absolute():
            raise ValueError("must be an absolute path (the edge's working directory is no place to guess from)")
        return value

    @field_validator("topic_prefix")
    @classmethod
    def _plain_topic(cls, value: str | None) -> str | None:
        if value is not None and (not value or "+" in value or "#" in value or value.endswith("/")):
            raise ValueError("must be a topic without wildcards or a trailing '/', e.g. kouan/lane-3/scanner1")
        return value


class ScannerDefaults(KindDefaults):
    """Site-wide settings for container scanners (`[kinds.scanner]`)."""

    offline_after_s: float = Field(
        3600.0, gt=0,
        description="A scanner silent for longer is shown offline (scanners are quiet between trucks: a long default).",
    )
