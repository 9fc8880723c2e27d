"""The large container scanner's MQTT notice: one scan is ready as a file.

Topic `kouan/<lane>/<device>/notice`, QoS 1, payload = `ScanNoticeWire` as JSON. The scanner
publishes it only after the file is in the watched folder under its final name (written as
`<name>.part`, then renamed), so the edge can look the file up as soon as the notice arrives.
The notice carries the file's size and SHA-256: the edge refuses a file that disagrees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drivers.bounded_json import load_bounded
from drivers.iso6346 import CONTAINER, iso6346_check_digit
from drivers.wire_common import offset_required, validate_wire

NOTICE_CHANNEL = "notice"
AVAILABILITY_CHANNEL = "availability"
# A notice is one flat object of about 400 bytes (a list of up to 4 container numbers inside).
MAX_NOTICE_BYTES = 16 * 1024
MAX_NOTICE_DEPTH = 3
MAX_CONTAINERS = 4
MAX_FILE_BYTES = 1 << 31  # what a notice may announce at all; the loader's own limit is tighter

ScanFormat = Literal["tiff", "png", "dicos"]
Energy = Literal["single", "dual"]

# Which file name endings go with each format (lower case).
EXTENSIONS: dict[str, tuple[str, ...]] = {"tiff": (".tif", ".tiff"), "png": (".png",), "dicos": (".dcm", ".dcs")}
PART_SUFFIX = ".part"

_FILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")


def notice_topic(lane: str, device: str) -> str:
    """Where a scanner publishes its scan notices."""
    return f"kouan/{lane}/{device}/{NOTICE_CHANNEL}"


def availability_topic(lane: str, device: str) -> str:
    """Retained "online" / "offline" (the Last Will) of a scanner."""
    return f"kouan/{lane}/{device}/{AVAILABILITY_CHANNEL}"


def validate_container_number(number: str) -> str:
    """`number` if it is a valid ISO 6346 container number (e.g. CSQU3054383); ValueError saying why."""
    if not CONTAINER.match(number):
        raise ValueError(f"container number {number!r} is not ISO 6346 (3 letters, U/J/Z, 6 digits, check digit)")
    expected = iso6346_check_digit(number[:10])
    if int(number[10]) != expected:
        raise ValueError(f"container number {number!r}: check digit is {number[10]}, should be {expected}")
    return number


def validate_file_name(name: str, fmt: str) -> str:
    """`name` if it is a plain file name (no path, no '..', not a temp name) ending as `fmt` files do."""
    if "/" in name or "\\" in name or ".." in name:
        raise ValueError(f"file name {name!r} must be a plain name: no path separators, no '..'")
    if not _FILE_NAME.match(name):
        raise ValueError(f"file name {name!r}: 1-128 characters of A-Z a-z 0-9 . _ -, not starting with . or -")
    if name.lower().endswith(PART_SUFFIX):
        raise ValueError(f"file name {name!r} is a temporary name ({PART_SUFFIX})")
    if not name.lower().endswith(EXTENSIONS[fmt]):
        raise ValueError(f"file name {name!r} does not end as a {fmt} file does ({', '.join(EXTENSIONS[fmt])})")
    return name


class ScanNoticeWire(BaseModel):
    """JSON form of one scan notice on MQTT; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")

    scan_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$",
                         description="the scanner's own id of this scan, unique per scanner, 1-64 characters")
    containers: list[str] = Field(max_length=MAX_CONTAINERS,
                                  description="ISO 6346 container numbers on the vehicle, check digit validated")
    plate: str | None = Field(default=None, pattern=r"^[\w·\- ]{1,16}$",
                              description="vehicle plate as read by the scanner's plate camera, null if none")
    scan_time: datetime = Field(description="when the scan was taken, ISO 8601 with an offset")
    file_name: str = Field(description="plain name of the image file in the watched folder (no path, no '..')")
    format: ScanFormat = Field(description="tiff / png (16-bit grey) or dicos (DICOS DX for processing)")
    size_bytes: int = Field(ge=1, le=MAX_FILE_BYTES, description="exact size of the file in bytes")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the whole file, 64 lower-case hex digits")
    energy: Energy = Field(description="single energy (one plane) or dual energy (high and low planes)")
    width: int = Field(ge=1, le=1_000_000, description="pixels per line of one plane (along the vehicle)")
    height: int = Field(ge=1, le=1_000_000, description="rows of one plane (detector elements), top of the vehicle first")

    _aware = offset_required("scan_time", said="scan_time")

    @field_validator("containers")
    @classmethod
    def _iso6346(cls, value: list[str]) -> list[str]:
        for number in value:
            validate_container_number(number)
        if len(set(value)) != len(value):
            raise ValueError("a container number is listed twice")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ScanNoticeWire:
        validate_file_name(self.file_name, self.format)
        if not self.containers and self.plate is None:
            raise ValueError("a notice needs container numbers or a plate: the scan must belong to a vehicle")
        return self


@dataclass(frozen=True)
class ScanNotice:
    """One typed scan notice: which file to fetch and what it must be."""

    device: str
    scan_id: str
    containers: tuple[str, ...]
    plate: str | None
    scan_time: datetime
    file_name: str
    format: str
    size_bytes: int
    sha256: str
    energy: str
    width: int
    height: int

    @property
    def planes(self) -> int:
        """Number of image planes the file holds: 1 single energy, 2 dual energy (high, low)."""
        return 2 if self.energy == "dual" else 1

    @classmethod
    def from_json(cls, payload: bytes | str, device: str) -> ScanNotice:
        """From an MQTT notice payload; ValueError naming the field (or the size / nesting limit)."""
        data = load_bounded(payload, what=f"scan notice from {device}", max_bytes=MAX_NOTICE_BYTES,
                            max_depth=MAX_NOTICE_DEPTH)
        wire = validate_wire(ScanNoticeWire, data, f"scan notice from {device}")
        return cls.from_wire(wire, device)

    @classmethod
    def from_wire(cls, wire: ScanNoticeWire, device: str) -> ScanNotice:
        return cls(device, wire.scan_id, tuple(wire.containers), wire.plate, wire.scan_time, wire.file_name,
                   wire.format, wire.size_bytes, wire.sha256, wire.energy, wire.width, wire.height)

    def to_wire(self) -> ScanNoticeWire:
        """The JSON model of this notice (validated: a stub cannot publish what the edge refuses)."""
        return ScanNoticeWire(scan_id=self.scan_id, containers=list(self.containers), plate=self.plate,
                              scan_time=self.scan_time, file_name=self.file_name, format=self.format,  # type: ignore[arg-type]
                              size_bytes=self.size_bytes, sha256=self.sha256, energy=self.energy,  # type: ignore[arg-type]
                              width=self.width, height=self.height)

    def to_json(self) -> bytes:
        """UTF-8 JSON payload for the notice topic."""
        return self.to_wire().model_dump_json().encode("utf-8")
