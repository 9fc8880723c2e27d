"""The under-vehicle camera (UVSS) pass: one MQTT message = JSON metadata + the stitched image.

Topic `kouan/<lane>/<device>/pass`, QoS 1, one message per vehicle pass:

    0      4      8               8+N
    | KUV1 | N    | JSON header   | image bytes (JPEG or PNG, `image_size` bytes) |

`KUV1` is the magic and layout version, N the header length (uint32 big-endian), the header
UTF-8 JSON (`PassHeader`). Everything is bounded before it is parsed: the whole message
(`MAX_MESSAGE_BYTES`), the header (`MAX_HEADER_BYTES`, nesting), and the image's declared size
(PNG IHDR / JPEG SOF, read from bytes) before any pixel is decoded, so a small file that
declares 100,000 x 100,000 pixels is refused without allocating them. The image bytes are kept
as they came (the edge stores them first, content-addressed by the SHA-256 the header carries
and the decoder checks); pixels are decoded only on request (`UnderVehiclePass.image()`).
Availability: `kouan/<lane>/<device>/availability`, retained "online" / "offline" (Last Will).
Every refusal is a ValueError that says why.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drivers.bounded_json import load_bounded
from drivers.wire_common import offset_required, validate_wire

PASS_CHANNEL = "pass"
AVAILABILITY_CHANNEL = "availability"
MAGIC = b"KUV1"
PREFIX_BYTES = 8                       # magic + header length
MAX_MESSAGE_BYTES = 32 * 1024 * 1024   # a 4096 x 6000 PNG of a long truck is ~15 MB
MAX_HEADER_BYTES = 16 * 1024           # the header is one flat object of ~600 bytes
MAX_HEADER_DEPTH = 2
IMAGE_WIDTH = 4096
MAX_LINES = 40_000                     # 40 m at 1 mm per line: longer than any road vehicle
MAX_PASS_DURATION = timedelta(minutes=10)

# Chinese plates: province abbreviation + issuing-office letter + 5 (6 for new-energy) characters,
# or 4 characters + a class suffix (挂 trailer, 学 learner, 警 police, 港/澳 cross-border, ...).
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_CN_PLATE = re.compile(rf"^[{PROVINCES}][A-HJ-NP-Z](?:[A-HJ-NP-Z0-9]{{5,6}}|[A-HJ-NP-Z0-9]{{4}}[挂学警港澳领试超])$")
# Foreign plates (Kazakhstan, Kyrgyzstan, Mongolia, Russia, Pakistan ...): upper-case Latin or
# Cyrillic letters and digits, single spaces or hyphens between groups, 2-12 characters, a digit.
_FOREIGN_CHAR = "A-Z0-9\u0401\u0406\u0410-\u042f\u0492\u049a\u04a2\u04ae\u04b0\u04ba\u04d8\u04e8"
_FOREIGN_PLATE = re.compile(rf"^[{_FOREIGN_CHAR}]+(?:[ -][{_FOREIGN_CHAR}]+)*$")


def pass_topic(lane: str, device: str) -> str:
    """Where an under-vehicle camera publishes its passes."""
    return f"kouan/{lane}/{device}/{PASS_CHANNEL}"


def availability_topic(lane: str, device: str) -> str:
    """Retained "online" / "offline" (the Last Will) of an under-vehicle camera."""
    return f"kouan/{lane}/{device}/{AVAILABILITY_CHANNEL}"


def check_plate(plate: str) -> str:
    """`plate` if it is a plausible Chinese or foreign plate; ValueError saying why not."""
    if plate[:1] in PROVINCES:
        if not _CN_PLATE.match(plate):
            raise ValueError(f"Chinese plate {plate!r} must be province + letter + 5-6 letters/digits "
                             "(or 4 + a class suffix such as 挂), without separators, e.g. 新F12345")
        return plate
    if not 2 <= len(plate) <= 12 or not _FOREIGN_PLATE.match(plate) or not any(c.isdigit() for c in plate):
        raise ValueError(f"plate {plate!r} is neither a Chinese plate nor a foreign one (2-12 upper-case "
                         "Latin/Cyrillic letters and digits, single spaces or hyphens, at least one digit)")
    return plate


class PassHeader(BaseModel):
    """The JSON header of one pass message: what the camera measured and what the image is."""

    model_config = ConfigDict(extra="forbid")

    pass_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$",
                         description="the camera's own id for this pass, unique per device; a re-sent pass keeps it")
    plate: str | None = Field(description="plate read by the camera's ANPR, canonical form without separators "
                                          "(e.g. 新F12345, 123ABC02); null when nothing was read")
    plate_confidence: float = Field(ge=0.0, le=1.0, description="ANPR confidence 0-1; 0 when plate is null")
    speed_kmh: float = Field(gt=0.0, le=80.0, description="mean measured speed over the pass, km/h")
    direction: Literal["forward", "reverse"] = Field(
        description="travel over the camera against the lane's direction; row 0 is always the first line "
                    "scanned (forward: the front of the vehicle)")
    start_time: datetime = Field(description="first line scanned, ISO 8601 with a UTC offset")
    end_time: datetime = Field(description="last line scanned, ISO 8601 with a UTC offset")
    line_rate_hz: float = Field(gt=0.0, le=200_000.0,
                                description="mean line rate; mm per line = speed_kmh / 3.6 * 1000 / line_rate_hz")
    encoding: Literal["jpeg", "png"] = Field(description="image format of the bytes after the header")
    width: Literal[4096] = Field(description="pixels per line (across the lane)")
    height: int = Field(ge=1, le=MAX_LINES, description="lines in the stitched image (along the vehicle)")
    bit_depth: Literal[8] = Field(description="bits per sample")
    channels: Literal[1, 3] = Field(default=1, description="1 grey (what Kouan cameras send), 3 colour")
    image_size: int = Field(ge=1, le=MAX_MESSAGE_BYTES, description="bytes of image after the header")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the image bytes, lower-case hex")

    @field_validator("plate")
    @classmethod
    def _plate(cls, value: str | None) -> str | None:
        return None if value is None else check_plate(value)

    _aware = offset_required("start_time", "end_time")

    @model_validator(mode="after")
    def _consistent(self) -> PassHeader:
        if self.plate is None and self.plate_confidence != 0.0:
            raise ValueError("plate_confidence must be 0 when plate is null")
        if not timedelta(0) <= self.end_time - self.start_time <= MAX_PASS_DURATION:
            raise ValueError(f"end_time must be after start_time, at most {MAX_PASS_DURATION} later")
        return self

    @property
    def mm_per_line(self) -> float:
        """Mean distance the vehicle moved per line, from the measured speed and the line rate."""
        return self.speed_kmh / 3.6 * 1000.0 / self.line_rate_hz


@dataclass(frozen=True)
class ImageInfo:
    """What an image's own header declares, read from its bytes without decoding pixels."""

    encoding: Literal["jpeg", "png"]
    width: int
    height: int
    bit_depth: int
    channels: int


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}   # colour type -> channels after decoding
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def image_info(data: bytes) -> ImageInfo:
    """Format and declared size of a PNG (IHDR) or JPEG (SOF) image; ValueError for anything else."""
    if data.startswith(_PNG_SIGNATURE):
        if len(data) < 33 or data[12:16] != b"IHDR" or data[8:12] != b"\x00\x00\x00\x0d":
            raise ValueError("PNG does not start with a 13-byte IHDR chunk")
        width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
        if colour not in _PNG_CHANNELS:
            raise ValueError(f"PNG colour type {colour} is not defined")
        if not data.endswith(_PNG_IEND):
            raise ValueError("PNG is truncated: it does not end with an IEND chunk")
        return ImageInfo("png", width, height, depth, _PNG_CHANNELS[colour])
    if data.startswith(b"\xff\xd8"):
        return _jpeg_info(data)
    raise ValueError(f"image is neither PNG nor JPEG (starts with {data[:8].hex() or 'nothing'})")


def _jpeg_info(data: bytes) -> ImageInfo:
    """Walk the JPEG markers up to the first SOF; the file must end with EOI (else it is truncated)."""
    if not data.endswith(b"\xff\xd9"):
        raise ValueError("JPEG is truncated: it does not end with the EOI marker FFD9")
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            raise ValueError(f"JPEG marker expected at byte {i}, found {data[i]:02x}")
        marker = data[i + 1]
        if marker == 0xFF:   # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:   # no length field
            i += 2
            continue
        if marker in (0xD9, 0xDA):
            raise ValueError("JPEG has no frame header (SOF) before its image data")
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if length < 2 or i + 2 + length > n:
            raise ValueError(f"JPEG segment {marker:02x} at byte {i} has a bad length {length}")
        if marker in _JPEG_SOF:
            if length < 8:
                raise ValueError("JPEG frame header (SOF) is too short")
            depth, height, width, components = struct.unpack(">BHHB", data[i + 4:i + 10])
            if height == 0:
                raise ValueError("JPEG declares its height later (DNL marker); not supported")
            return ImageInfo("jpeg", width, height, depth, components)
        i += 2 + length
    raise ValueError("JPEG has no frame header (SOF)")


@dataclass(frozen=True)
class UnderVehiclePass:
    """One checked pass: its header and the image bytes as they came; pixels decoded on request."""

    device: str
    header: PassHeader
    image_bytes: bytes = field(repr=False)

    @property
    def sha256(self) -> str:
        """Content address of the image (verified against the bytes when the pass was decoded)."""
        return self.header.sha256

    def image(self) -> np.ndarray:
        """Decode the pixels (uint8, `height x 4096`, or `height x 4096 x 3`), checked against the header."""
        import cv2

        h = self.header
        try:
            array = cv2.imdecode(np.frombuffer(self.image_bytes, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        except cv2.error as exc:
            raise ValueError(f"pass {h.pass_id} from {self.device}: image does not decode: {exc}") from None
        if array is None:
            raise ValueError(f"pass {h.pass_id} from {self.device}: {h.encoding} image does not decode")
        want = (h.height, h.width) if h.channels == 1 else (h.height, h.width, h.channels)
        if array.dtype != np.uint8 or array.shape != want:
            raise ValueError(f"pass {h.pass_id} from {self.device}: decoded {array.dtype} {array.shape}, "
                             f"header says uint8 {want}")
        return array


def decode_pass(payload: bytes, device: str) -> UnderVehiclePass:
    """Check a pass message from `device` (sizes, header, hash, the image's declared size) without
    decoding pixels; ValueError saying what is wrong."""
    what = f"under-vehicle pass from {device}"
    data = bytes(payload)
    if len(data) > MAX_MESSAGE_BYTES:
        raise ValueError(f"{what} is {len(data)} bytes, over the limit of {MAX_MESSAGE_BYTES}")
    if len(data) < PREFIX_BYTES or data[:4] != MAGIC:
        raise ValueError(f"{what} does not start with {MAGIC!r} + header length")
    (header_len,) = struct.unpack(">I", data[4:8])
    if header_len > MAX_HEADER_BYTES:
        raise ValueError(f"{what}: header of {header_len} bytes is over the limit of {MAX_HEADER_BYTES}")
    if PREFIX_BYTES + header_len > len(data):
        raise ValueError(f"{what}: header of {header_len} bytes runs past the end of the {len(data)}-byte message")
    raw = load_bounded(data[PREFIX_BYTES:PREFIX_BYTES + header_len], what=f"{what}: header",
                       max_bytes=MAX_HEADER_BYTES, max_depth=MAX_HEADER_DEPTH)
    if not isinstance(raw, dict):
        raise ValueError(f"{what}: header is not a JSON object")
    header = validate_wire(PassHeader, raw, what)
    image = data[PREFIX_BYTES + header_len:]
    check_image(header, image, what=f"{what}, pass {header.pass_id}")
    return UnderVehiclePass(device, header, image)


def check_image(header: PassHeader, image: bytes, *, what: str = "under-vehicle pass") -> ImageInfo:
    """The image bytes against the header: size, SHA-256, format, declared width/height/depth/channels."""
    if len(image) != header.image_size:
        raise ValueError(f"{what}: {len(image)} image bytes, header says image_size {header.image_size}")
    digest = hashlib.sha256(image).hexdigest()
    if digest != header.sha256:
        raise ValueError(f"{what}: image SHA-256 is {digest}, header says {header.sha256}")
    info = image_info(image)
    if info.height > MAX_LINES or info.width > IMAGE_WIDTH:
        raise ValueError(f"{what}: image declares {info.width} x {info.height}, over {IMAGE_WIDTH} x "
                         f"{MAX_LINES}; refused before decoding")
    declared = (info.encoding, info.width, info.height, info.bit_depth, info.channels)
    expected = (header.encoding, header.width, header.height, header.bit_depth, header.channels)
    if declared != expected:
        raise ValueError(f"{what}: image declares (encoding, width, height, bit depth, channels) = {declared}, "
                         f"header says {expected}")
    return info


def encode_pass(header: PassHeader, image: bytes) -> bytes:
    """The wire message for `header` + `image`; ValueError if they disagree (a camera never sends that)."""
    check_image(header, image)
    body = header.model_dump_json().encode("utf-8")
    if len(body) > MAX_HEADER_BYTES or PREFIX_BYTES + len(body) + len(image) > MAX_MESSAGE_BYTES:
        raise ValueError(f"pass {header.pass_id}: message would be over the size limits")
    return MAGIC + struct.pack(">I", len(body)) + body + image


def header_for(image: bytes, **fields: object) -> PassHeader:
    """A header for `image` with its format, size and hash filled in from the bytes themselves."""
    info = image_info(image)
    return PassHeader.model_validate({
        "encoding": info.encoding, "width": info.width, "height": info.height, "bit_depth": info.bit_depth,
        "channels": info.channels, "image_size": len(image), "sha256": hashlib.sha256(image).hexdigest(),
        **fields,
    })
