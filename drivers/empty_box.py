"""Container empty-box detector: its Modbus register map, the typed reading, the MQTT image message.

Registers (docs/protocols.md has the vendor's table). Input registers (0x04), read-only:

| addr | meaning | type, units |
| --- | --- | --- |
| 0 | register layout version, 1 | u16 |
| 1 | heartbeat counter, +1 per second the firmware runs | u16, wraps 65535 -> 0 |
| 2-3 | uptime | u32 seconds, high word first |
| 4 | device status: 0 starting, 1 ready, 2 fault | enum |
| 5 | error code, 0 none (`ERROR_NAMES`) | u16 |
| 6 | scan state: 0 idle, 1 triggered, 2 scanning, 3 result ready | enum |
| 7 | scan sequence number, 1-65535 then 1 again; 0 no scan since start | u16 |
| 8-13 | container number, ISO 6346, 11 ASCII chars, 2 per register high byte first, last byte 0; all 0 = none read | char[12] |
| 14 | declared empty: 0 declared loaded, 1 declared empty, 2 not known | enum |
| 15 | device verdict: 0 unknown, 1 empty, 2 not empty | enum |
| 16 | confidence of the verdict | u16 per mille 0-1000, 0xFFFF none |
| 17 | interior image: 0 none, 1 camera 8-bit, 2 transmission 16-bit | enum |
| 18-19 | scan time (trigger) | u32 Unix seconds, high word first, 0 none |

Holding register (0x03 / 0x06 / 0x10): 0 = acknowledged sequence. The edge writes the sequence it
has stored; a device in state 3 with that sequence returns to 0 (idle).

Image message, topic `kouan/<lane>/<device>/image`, one MQTT payload (QoS 1, so a scan's image
is delivered whole or not at all, with no pairing of parts):

    u32 big-endian N | N bytes of JSON header (`ImageMeta`) | the PNG or JPEG file (header.size bytes)

`decode_image_message` refuses (ValueError saying why) a payload over 64 MiB before reading it,
a header over 16 KiB, a size, hash, encoding, width, height, channel count or bit depth that the
image bytes contradict.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from drivers.bounded_json import load_bounded
from drivers.iso6346 import CONTAINER, CONTAINER_PATTERN, iso6346_check_digit
from drivers.modbus_rtu import READ_HOLDING, READ_INPUT, RegisterBlock
from drivers.wire_common import offset_required, validate_wire

LAYOUT_VERSION = 1
INPUT_COUNT = 20
INPUT_BLOCK = RegisterBlock(READ_INPUT, 0x0000, INPUT_COUNT)
HOLDING_BLOCK = RegisterBlock(READ_HOLDING, 0x0000, 1)
BLOCKS = (INPUT_BLOCK, HOLDING_BLOCK)
ACK_REGISTER = 0x0000   # holding register the edge writes the stored sequence to
IMAGE_CHANNEL = "image"
MAX_IMAGE_PAYLOAD = 64 * 1024 * 1024
MAX_HEADER = 16 * 1024
MAX_DECODED_BYTES = 256 * 1024 * 1024
NO_CONFIDENCE = 0xFFFF
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
ERROR_NAMES = {1: "x-ray source or illumination fault", 2: "detector fault", 3: "camera fault",
               4: "safety interlock open", 5: "calibration due", 6: "image upload failed"}


def image_topic(lane: str, device: str) -> str:
    """Where a detector publishes its interior images."""
    return f"kouan/{lane}/{device}/{IMAGE_CHANNEL}"


# ---------------------------------------------------------------- ISO 6346 container numbers

def container_check_ok(number: str) -> bool:
    """True when `number` is an ISO 6346 container number whose check digit is right."""
    return bool(CONTAINER.match(number)) and iso6346_check_digit(number[:10]) == int(number[10])


def validate_container(number: str) -> str:
    """`number` if it is a well-formed ISO 6346 number with the right check digit; ValueError why not."""
    if not CONTAINER.match(number):
        raise ValueError(f"container number {number!r} is not 3 letters, U/J/Z and 7 digits")
    expected = iso6346_check_digit(number[:10])
    if expected != int(number[10]):
        raise ValueError(f"container number {number} has check digit {number[10]}, ISO 6346 gives {expected}")
    return number


# ---------------------------------------------------------------- registers

class DeviceStatus(IntEnum):
    STARTING = 0
    READY = 1
    FAULT = 2


class ScanState(IntEnum):
    IDLE = 0
    TRIGGERED = 1
    SCANNING = 2
    RESULT_READY = 3


class Verdict(IntEnum):
    UNKNOWN = 0
    EMPTY = 1
    NOT_EMPTY = 2


class ImageKind(IntEnum):
    NONE = 0
    CAMERA_8BIT = 1
    TRANSMISSION_16BIT = 2


def _enum(kind: type[IntEnum], value: int, address: int) -> Any:
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(f"{m.value} {m.name.lower()}" for m in kind)
        raise ValueError(f"register {address} ({kind.__name__}) holds {value}, not one of {known}") from None


def pack_ascii(text: str, registers: int) -> list[int]:
    """ASCII text into `registers` registers, 2 chars each, high byte first, zero padded."""
    raw = text.encode("ascii").ljust(2 * registers, b"\0")
    if len(raw) > 2 * registers:
        raise ValueError(f"{text!r} does not fit in {registers} registers")
    return [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]


def unpack_ascii(values: tuple[int, ...] | list[int]) -> str:
    """The inverse of `pack_ascii` (trailing zero bytes dropped)."""
    return b"".join(v.to_bytes(2, "big") for v in values).rstrip(b"\0").decode("ascii")


@dataclass(frozen=True)
class EmptyBoxReading:
    """What one complete poll of the detector says (registers 0-19, and the acknowledged sequence)."""

    device: str
    heartbeat: int
    uptime_s: int
    status: DeviceStatus
    error_code: int
    scan_state: ScanState
    sequence: int
    container: str | None
    declared_empty: bool | None
    verdict: Verdict
    confidence: float | None          # 0.0-1.0
    image: ImageKind
    scan_time: datetime | None
    acknowledged: int | None = None   # holding register 0, when it was polled
    layout: int = LAYOUT_VERSION

    @property
    def container_check_ok(self) -> bool | None:
        """The ISO 6346 check digit of the container number (None: none read)."""
        return None if self.container is None else container_check_ok(self.container)

    @property
    def error(self) -> str | None:
        """The error code in words (None: no error)."""
        return None if self.error_code == 0 else ERROR_NAMES.get(self.error_code, f"vendor error {self.error_code}")

    @property
    def result_ready(self) -> bool:
        return self.scan_state is ScanState.RESULT_READY and self.sequence != 0

    @classmethod
    def from_registers(cls, inputs: tuple[int, ...] | list[int], device: str,
                       holding: tuple[int, ...] | list[int] | None = None) -> EmptyBoxReading:
        """Decode input registers 0-19 (and holding register 0); ValueError naming what is wrong."""
        regs = list(inputs)
        if len(regs) != INPUT_COUNT:
            raise ValueError(f"empty-box detector {device}: {len(regs)} input registers, expected {INPUT_COUNT}")
        for address, value in enumerate(regs + list(holding or ())):
            if not isinstance(value, int) or not 0 <= value <= 0xFFFF:
                raise ValueError(f"empty-box detector {device}: register {address} holds {value!r}, not a u16")
        if regs[0] != LAYOUT_VERSION:
            raise ValueError(f"empty-box detector {device}: register layout {regs[0]}, only {LAYOUT_VERSION} is known")
        try:
            container_text = unpack_ascii(regs[8:14])
        except UnicodeDecodeError:
            raise ValueError(f"empty-box detector {device}: container registers 8-13 are not ASCII") from None
        container = container_text or None
        if container is not None and not CONTAINER.match(container):
            raise ValueError(f"empty-box detector {device}: container registers hold {container!r}, "
                             "not an ISO 6346 number")
        if regs[16] != NO_CONFIDENCE and regs[16] > 1000:
            raise ValueError(f"empty-box detector {device}: confidence {regs[16]} is over 1000 per mille")
        declared = {0: False, 1: True, 2: None}
        if regs[14] not in declared:
            raise ValueError(f"empty-box detector {device}: declared-empty register 14 holds {regs[14]}, not 0, 1 or 2")
        scan_time = (regs[18] << 16) | regs[19]
        return cls(
            device=device, heartbeat=regs[1], uptime_s=(regs[2] << 16) | regs[3],
            status=_enum(DeviceStatus, regs[4], 4), error_code=regs[5], scan_state=_enum(ScanState, regs[6], 6),
            sequence=regs[7], container=container, declared_empty=declared[regs[14]],
            verdict=_enum(Verdict, regs[15], 15),
            confidence=None if regs[16] == NO_CONFIDENCE else regs[16] / 1000,
            image=_enum(ImageKind, regs[17], 17),
            scan_time=datetime.fromtimestamp(scan_time, UTC) if scan_time else None,
            acknowledged=holding[0] if holding else None, layout=regs[0],
        )

    def to_registers(self) -> list[int]:
        """Input registers 0-19 holding this reading (what the firmware serves)."""
        if self.container is not None and not CONTAINER.match(self.container):
            raise ValueError(f"container {self.container!r} is not an ISO 6346 number")
        when = int(self.scan_time.timestamp()) if self.scan_time else 0
        confidence = NO_CONFIDENCE if self.confidence is None else round(self.confidence * 1000)
        declared = 2 if self.declared_empty is None else int(self.declared_empty)
        return [self.layout, self.heartbeat & 0xFFFF, (self.uptime_s >> 16) & 0xFFFF, self.uptime_s & 0xFFFF,
                int(self.status), self.error_code, int(self.scan_state), self.sequence,
                *pack_ascii(self.container or "", 6), declared, int(self.verdict), confidence, int(self.image),
                (when >> 16) & 0xFFFF, when & 0xFFFF]


# ---------------------------------------------------------------- the image message

class ImageMeta(BaseModel):
    """JSON header of one interior image; the image bytes follow it in the same payload."""

    model_config = ConfigDict(extra="forbid")

    sequence: int = Field(ge=1, le=0xFFFF, description="scan sequence number, as in input register 7")
    container: str | None = Field(pattern=CONTAINER_PATTERN, description="ISO 6346 container number, null if none read")
    kind: Literal["camera", "transmission"] = Field(description="camera photo or X-ray transmission image")
    encoding: Literal["png", "jpeg"] = Field(description="file format of the image bytes")
    bit_depth: Literal[8, 16] = Field(description="bits per sample: 8 (camera) or 16 (transmission, png only)")
    channels: Literal[1, 3] = Field(description="1 grey, 3 colour (BGR once decoded)")
    width: int = Field(ge=1, le=65535, description="pixels")
    height: int = Field(ge=1, le=65535, description="pixels")
    size: int = Field(ge=1, le=MAX_IMAGE_PAYLOAD, description="length of the image bytes after the header")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the image bytes, lowercase hex")
    time: datetime = Field(description="scan time, ISO 8601 with an offset")

    _aware = offset_required("time")

    @model_validator(mode="after")
    def _consistent(self) -> ImageMeta:
        if self.encoding == "jpeg" and self.bit_depth != 8:
            raise ValueError("a jpeg image is 8-bit")
        if self.kind == "transmission" and self.channels != 1:
            raise ValueError("a transmission image has one channel")
        if self.width * self.height * self.channels * self.bit_depth // 8 > MAX_DECODED_BYTES:
            raise ValueError(f"{self.width}x{self.height}x{self.channels} at {self.bit_depth} bits decodes to "
                             f"over {MAX_DECODED_BYTES} bytes")
        return self


@dataclass(frozen=True)
class EmptyBoxImage:
    """A decoded, verified interior image."""

    device: str
    meta: ImageMeta
    image: np.ndarray     # uint8 or uint16, HxW or HxWx3 (BGR)
    data: bytes           # the file bytes, whose SHA-256 is meta.sha256


def encode_image_message(image: np.ndarray, *, sequence: int, container: str | None, kind: str,
                         time: datetime, encoding: str = "png") -> bytes:
    """One image payload: length, JSON header, file bytes (what the firmware publishes)."""
    ok, buffer = cv2.imencode(".png" if encoding == "png" else ".jpg", image)
    if not ok:
        raise ValueError(f"OpenCV could not encode the image as {encoding}")
    data = buffer.tobytes()
    meta = ImageMeta(sequence=sequence, container=container, kind=kind, encoding=encoding,
                     bit_depth=16 if image.dtype == np.uint16 else 8, channels=1 if image.ndim == 2 else image.shape[2],
                     width=image.shape[1], height=image.shape[0], size=len(data),
                     sha256=hashlib.sha256(data).hexdigest(), time=time)
    header = meta.model_dump_json().encode("utf-8")
    return struct.pack(">I", len(header)) + header + data


def decode_image_message(payload: bytes | bytearray | memoryview, device: str,
                         max_bytes: int = MAX_IMAGE_PAYLOAD) -> EmptyBoxImage:
    """Check and decode one image payload; ValueError saying why it was refused."""
    what = f"empty-box image from {device}"
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise ValueError(f"{what}: payload is {type(payload).__name__}, not bytes")
    if len(payload) > max_bytes:
        raise ValueError(f"{what} is {len(payload)} bytes, over the limit of {max_bytes}")
    payload = bytes(payload)
    if len(payload) < 4:
        raise ValueError(f"{what} is {len(payload)} bytes, too short for the header length")
    (header_len,) = struct.unpack(">I", payload[:4])
    if not 2 <= header_len <= MAX_HEADER:
        raise ValueError(f"{what}: header length {header_len} is outside 2-{MAX_HEADER}")
    if 4 + header_len > len(payload):
        raise ValueError(f"{what}: header of {header_len} bytes runs past the payload's {len(payload)}")
    header = load_bounded(payload[4:4 + header_len], what=f"{what} header", max_bytes=MAX_HEADER, max_depth=2)
    meta = validate_wire(ImageMeta, header, what)
    data = payload[4 + header_len:]
    if len(data) != meta.size:
        raise ValueError(f"{what}: {len(data)} image bytes, the header says {meta.size}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != meta.sha256:
        raise ValueError(f"{what}: SHA-256 of the image is {digest}, the header says {meta.sha256}")
    _check_file_header(data, meta, what)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ValueError(f"{what}: OpenCV cannot decode it: {exc}") from None
    if image is None:
        raise ValueError(f"{what}: OpenCV cannot decode it as {meta.encoding}")
    channels = 1 if image.ndim == 2 else image.shape[2]
    depth = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(image.dtype)
    found = (image.shape[1], image.shape[0], channels, depth)
    if found != (meta.width, meta.height, meta.channels, meta.bit_depth):
        raise ValueError(f"{what}: the image is {found[0]}x{found[1]}, {found[2]} channel(s), {found[3]} bits; "
                         f"the header says {meta.width}x{meta.height}, {meta.channels}, {meta.bit_depth}")
    return EmptyBoxImage(device, meta, image, data)


def _check_file_header(data: bytes, meta: ImageMeta, what: str) -> None:
    """The file's own magic (and, for PNG, its IHDR size and depth) against the header, before decoding."""
    if meta.encoding == "jpeg":
        if not data.startswith(JPEG_MAGIC):
            raise ValueError(f"{what}: the header says jpeg but the bytes do not start with FF D8 FF")
        return
    if not data.startswith(PNG_MAGIC) or len(data) < 33 or data[12:16] != b"IHDR":
        raise ValueError(f"{what}: the header says png but the bytes are not a PNG with an IHDR chunk")
    width, height, depth = struct.unpack(">IIB", data[16:25])
    if (width, height, depth) != (meta.width, meta.height, meta.bit_depth):
        raise ValueError(f"{what}: the PNG is {width}x{height} at {depth} bits; the header says "
                         f"{meta.width}x{meta.height} at {meta.bit_depth}")
