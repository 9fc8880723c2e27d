"""The iris reader's messages: capture, status (heartbeat) and the edge's ack, with their payloads.

The iris code is CODE_SHAPE = (8 rings, 256 angular columns, 2 phase bits) = 4096 bits, as
open-iris lays its code out (rings x columns x real/imaginary sign of a Gabor response), with
half its rings. Bits are packed C-order over (ring, column, bit), the first bit in the most
significant bit of byte 0 (`numpy.packbits`, bitorder "big"): 512 bytes. The mask has the
same layout; a 1 keeps the bit, a 0 means it lies under an eyelid, lashes or a reflection.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from enum import IntEnum

import numpy as np

from drivers.iris.errors import IrisDecodeError, Reason
from drivers.iris.framing import Frame, encode_frame

CODE_SHAPE = (8, 256, 2)
CODE_BITS = CODE_SHAPE[0] * CODE_SHAPE[1] * CODE_SHAPE[2]
CODE_BYTES = CODE_BITS // 8
CARD_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
LAYOUT_VERSION = 1
NOT_MEASURED = 0xFF
MAX_OFFSET_MIN = 18 * 60


class MessageType(IntEnum):
    """Frame byte 3."""

    CAPTURE = 0x01   # reader -> edge
    STATUS = 0x02    # reader -> edge, the heartbeat
    ACK = 0x81       # edge -> reader


class Eye(IntEnum):
    UNKNOWN = 0
    RIGHT = 1
    LEFT = 2


class AckResult(IntEnum):
    STORED = 0    # kept: the reader forgets the capture
    REFUSED = 1   # bad content: the reader must not send it again
    BUSY = 2      # not stored now: the reader sends it again later


class ReaderState(IntEnum):
    IDLE = 0
    CARD_READ = 1   # card read, waiting for an eye
    CAPTURING = 2
    FAULT = 3


FAULT_BITS = {0: "camera", 1: "NIR illuminator", 2: "card reader", 3: "over temperature"}


@dataclass(frozen=True)
class Quality:
    """ISO/IEC 29794-6 quality components of one capture; None = the reader did not measure it.

    Scores are 0-100 (usable iris area and iris-pupil ratio in percent), greyscale utilisation
    is in bits (0-8). On the wire each is one byte, greyscale in tenths of a bit, 0xFF = None.
    """

    usable_iris_area: float | None
    iris_sclera_contrast: float | None
    iris_pupil_contrast: float | None
    pupil_circularity: float | None
    greyscale_utilisation: float | None
    iris_pupil_ratio: float | None
    concentricity: float | None
    margin_adequacy: float | None
    sharpness: float | None

    def as_dict(self) -> dict[str, float | None]:
        """Component name -> value, in wire order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


QUALITY_NAMES = tuple(f.name for f in fields(Quality))
_SCALE = {name: (10.0 if name == "greyscale_utilisation" else 1.0) for name in QUALITY_NAMES}
_LIMIT = {name: (8.0 if name == "greyscale_utilisation" else 100.0) for name in QUALITY_NAMES}


def check_quality_range(quality: Quality) -> None:
    """ValueError naming the first component outside its range."""
    for name, value in quality.as_dict().items():
        if value is not None and not 0.0 <= value <= _LIMIT[name]:
            raise ValueError(f"quality {name} = {value} is outside 0-{_LIMIT[name]:g}")


def encode_quality(quality: Quality) -> bytes:
    check_quality_range(quality)
    return bytes(NOT_MEASURED if v is None else round(v * _SCALE[n]) for n, v in quality.as_dict().items())


def decode_quality(data: bytes) -> Quality:
    values: list[float | None] = []
    for name, raw in zip(QUALITY_NAMES, data, strict=True):
        if raw == NOT_MEASURED:
            values.append(None)
            continue
        value = raw / _SCALE[name]
        if value > _LIMIT[name]:
            raise IrisDecodeError(Reason.BAD_PAYLOAD, f"quality {name} byte {raw} is over {_LIMIT[name]:g}")
        values.append(value)
    return Quality(*values)


@dataclass(frozen=True)
class Capture:
    """One capture: whose card, when, which eye, how good, and the iris code with its mask."""

    card_id: str
    time: datetime
    eye: Eye
    quality: Quality
    code: bytes   # CODE_BYTES, packed as the module doc says
    mask: bytes

    def __post_init__(self) -> None:
        if not CARD_ID.match(self.card_id):
            raise ValueError(f"card id {self.card_id!r} must be 1-32 of A-Z a-z 0-9 _ -")
        if self.time.tzinfo is None:
            raise ValueError("capture time needs a UTC offset")
        for what, data in (("code", self.code), ("mask", self.mask)):
            if len(data) != CODE_BYTES:
                raise ValueError(f"iris {what} is {len(data)} bytes, expected {CODE_BYTES} ({CODE_BITS} bits)")
        check_quality_range(self.quality)

    def code_bits(self) -> np.ndarray:
        """The code as a bool array of CODE_SHAPE."""
        return unpack_bits(self.code)

    def mask_bits(self) -> np.ndarray:
        """The mask as a bool array of CODE_SHAPE (True = the bit counts)."""
        return unpack_bits(self.mask)


def pack_bits(bits: np.ndarray) -> bytes:
    """A bool array of CODE_SHAPE -> CODE_BYTES bytes; ValueError on another shape."""
    array = np.asarray(bits)
    if array.shape != CODE_SHAPE:
        raise ValueError(f"iris bit array has shape {array.shape}, expected {CODE_SHAPE}")
    return np.packbits(array.astype(bool).ravel(), bitorder="big").tobytes()


def unpack_bits(data: bytes) -> np.ndarray:
    """CODE_BYTES bytes -> a bool array of CODE_SHAPE."""
    if len(data) != CODE_BYTES:
        raise ValueError(f"iris bit data is {len(data)} bytes, expected {CODE_BYTES}")
    return np.unpackbits(np.frombuffer(data, np.uint8), bitorder="big").astype(bool).reshape(CODE_SHAPE)


@dataclass(frozen=True)
class Status:
    """The reader's heartbeat: how long it has run, its state, its faults, captures not yet acked."""

    uptime_s: int
    state: ReaderState
    faults: int
    pending: int

    def fault_names(self) -> list[str]:
        return [name for bit, name in FAULT_BITS.items() if self.faults >> bit & 1]


@dataclass(frozen=True)
class Ack:
    """The edge's answer to a reader message (a capture, normally)."""

    acked_type: int
    acked_seq: int
    result: AckResult


Body = Capture | Status | Ack


@dataclass(frozen=True)
class Message:
    """A decoded frame: its type, its sequence number, its body."""

    message_type: MessageType
    seq: int
    body: Body


_CAPTURE_FIXED = struct.Struct(">qhB9sBHB")   # time ms, offset min, eye, quality, rows, cols, bits
_STATUS = struct.Struct(">IBBH")
_ACK = struct.Struct(">BHB")


def encode_payload(body: Body) -> tuple[MessageType, bytes]:
    """The message type and payload bytes of a body."""
    if isinstance(body, Capture):
        offset = body.time.utcoffset() or timedelta(0)
        offset_min = int(offset.total_seconds() // 60)
        if abs(offset_min) > MAX_OFFSET_MIN or offset.total_seconds() % 60:
            raise ValueError(f"UTC offset {offset} is not a whole number of minutes within +-18 h")
        millis = round(body.time.timestamp() * 1000)
        card = body.card_id.encode("ascii")
        fixed = _CAPTURE_FIXED.pack(millis, offset_min, int(body.eye), encode_quality(body.quality), *CODE_SHAPE)
        return MessageType.CAPTURE, bytes([LAYOUT_VERSION, len(card)]) + card + fixed + body.code + body.mask
    if isinstance(body, Status):
        return MessageType.STATUS, _STATUS.pack(body.uptime_s, int(body.state), body.faults, body.pending)
    return MessageType.ACK, _ACK.pack(body.acked_type, body.acked_seq, int(body.result))


def encode_message(seq: int, body: Body) -> bytes:
    """A whole frame carrying `body` with sequence number `seq`."""
    message_type, payload = encode_payload(body)
    return encode_frame(message_type, seq, payload)


def _bad(detail: str) -> IrisDecodeError:
    return IrisDecodeError(Reason.BAD_PAYLOAD, detail)


def _decode_capture(p: bytes) -> Capture:
    if len(p) < 2:
        raise _bad(f"capture payload of {len(p)} bytes is too short for its card id length")
    if p[0] != LAYOUT_VERSION:
        raise _bad(f"capture layout version {p[0]}, this edge reads {LAYOUT_VERSION}")
    n = p[1]
    expected = 2 + n + _CAPTURE_FIXED.size + 2 * CODE_BYTES
    if not 1 <= n <= 32:
        raise _bad(f"card id length {n}, must be 1-32")
    if len(p) != expected:
        raise _bad(f"capture payload is {len(p)} bytes, a {n}-character card id needs {expected}")
    try:
        card = p[2:2 + n].decode("ascii")
    except UnicodeDecodeError:
        raise _bad("card id is not ASCII") from None
    millis, offset_min, eye, quality, rows, cols, bits = _CAPTURE_FIXED.unpack_from(p, 2 + n)
    if (rows, cols, bits) != CODE_SHAPE:
        raise _bad(f"iris code shape {rows}x{cols}x{bits}, this edge reads {'x'.join(map(str, CODE_SHAPE))}")
    if abs(offset_min) > MAX_OFFSET_MIN:
        raise _bad(f"UTC offset {offset_min} min is beyond +-18 h")
    if eye not in Eye._value2member_map_:
        raise _bad(f"eye {eye}, expected 0 unknown, 1 right, 2 left")
    tz = timezone(timedelta(minutes=offset_min))
    try:
        when = datetime.fromtimestamp(millis / 1000, tz)
    except (OverflowError, OSError, ValueError):
        raise _bad(f"capture time {millis} ms is out of range") from None
    start = 2 + n + _CAPTURE_FIXED.size
    try:
        return Capture(card, when, Eye(eye), decode_quality(quality), p[start:start + CODE_BYTES],
                       p[start + CODE_BYTES:])
    except IrisDecodeError:
        raise
    except ValueError as exc:
        raise _bad(str(exc)) from None


def decode_payload(frame: Frame) -> Message:
    """A checked frame -> its message; IrisDecodeError (UNKNOWN_TYPE or BAD_PAYLOAD) says why not."""
    kind, p = frame.message_type, frame.payload
    if kind == MessageType.CAPTURE:
        return Message(MessageType.CAPTURE, frame.seq, _decode_capture(p))
    if kind == MessageType.STATUS:
        if len(p) != _STATUS.size:
            raise _bad(f"status payload is {len(p)} bytes, expected {_STATUS.size}")
        uptime, state, faults, pending = _STATUS.unpack(p)
        if state not in ReaderState._value2member_map_:
            raise _bad(f"reader state {state}, expected 0-3")
        return Message(MessageType.STATUS, frame.seq, Status(uptime, ReaderState(state), faults, pending))
    if kind == MessageType.ACK:
        if len(p) != _ACK.size:
            raise _bad(f"ack payload is {len(p)} bytes, expected {_ACK.size}")
        acked_type, acked_seq, result = _ACK.unpack(p)
        if result not in AckResult._value2member_map_:
            raise _bad(f"ack result {result}, expected 0 stored, 1 refused, 2 busy")
        return Message(MessageType.ACK, frame.seq, Ack(acked_type, acked_seq, AckResult(result)))
    raise IrisDecodeError(Reason.UNKNOWN_TYPE, f"message type 0x{kind:02x}")
