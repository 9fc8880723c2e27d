"""`IrisCapture`: one typed capture, whichever transport brought it, and its way back to each wire."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from drivers.iris.messages import (
    CODE_SHAPE, FAULT_BITS, Capture, Eye, Message, MessageType, Quality, ReaderState, Status, unpack_bits,
)
from drivers.iris.wire import (
    MAX_CAPTURE_BYTES, MAX_SMALL_BYTES, CaptureWire, QualityWire, StatusWire, parse_wire,
)

_EYE_NAMES = {Eye.UNKNOWN: "unknown", Eye.RIGHT: "right", Eye.LEFT: "left"}
_EYES = {name: eye for eye, name in _EYE_NAMES.items()}
_STATE_NAMES = {ReaderState.IDLE: "idle", ReaderState.CARD_READ: "card_read",
                ReaderState.CAPTURING: "capturing", ReaderState.FAULT: "fault"}
_STATES = {name: state for state, name in _STATE_NAMES.items()}


@dataclass(frozen=True)
class IrisCapture:
    """One capture as the edge sees it: device, the reader's sequence number, content, transport."""

    device: str
    seq: int
    card_id: str
    time: datetime
    eye: Eye
    quality: Quality
    code: bytes
    mask: bytes
    transport: str = "serial"

    def code_bits(self) -> np.ndarray:
        """Bool array of CODE_SHAPE (8 rings, 256 columns, 2 bits)."""
        return unpack_bits(self.code)

    def mask_bits(self) -> np.ndarray:
        """Bool array of CODE_SHAPE, True where the bit is usable."""
        return unpack_bits(self.mask)

    def body(self) -> Capture:
        """The serial message body (validates the content)."""
        return Capture(self.card_id, self.time, self.eye, self.quality, self.code, self.mask)

    @classmethod
    def from_message(cls, message: Message, device: str) -> IrisCapture:
        """From a decoded serial message; ValueError if it is not a capture."""
        body = message.body
        if message.message_type != MessageType.CAPTURE or not isinstance(body, Capture):
            raise ValueError(f"iris-reader message type 0x{int(message.message_type):02x} is not a capture")
        return cls(device, message.seq, body.card_id, body.time, body.eye, body.quality, body.code, body.mask)

    @classmethod
    def from_json(cls, payload: bytes | str, device: str) -> IrisCapture:
        """From an MQTT capture payload: bounded, then validated; ValueError naming the field otherwise."""
        wire = parse_wire(CaptureWire, payload, f"iris capture from {device}", MAX_CAPTURE_BYTES)
        quality = Quality(**wire.quality.model_dump())
        return cls(device, wire.seq, wire.card_id, wire.time, _EYES[wire.eye], quality, wire.code_bytes(),
                   wire.mask_bytes(), "mqtt")

    def to_wire(self) -> CaptureWire:
        self.body()   # the same checks as the serial encoder
        return CaptureWire(seq=self.seq, card_id=self.card_id, time=self.time, eye=_EYE_NAMES[self.eye],
                           quality=QualityWire(**self.quality.as_dict()), code_shape=CODE_SHAPE,
                           code=base64.b64encode(self.code).decode("ascii"),
                           mask=base64.b64encode(self.mask).decode("ascii"))

    def to_json(self) -> bytes:
        """UTF-8 JSON for the capture topic."""
        return self.to_wire().model_dump_json().encode("utf-8")


def status_from_json(payload: bytes | str, device: str) -> Status:
    """An MQTT status payload -> the same `Status` the serial heartbeat decodes to."""
    wire = parse_wire(StatusWire, payload, f"iris status from {device}", MAX_SMALL_BYTES)
    faults = sum(1 << bit for bit, name in FAULT_BITS.items() if name in wire.faults)
    return Status(wire.uptime_s, _STATES[wire.state], faults, wire.pending)


def status_to_json(status: Status) -> bytes:
    """A `Status` as the JSON a reader publishes on its status topic."""
    wire = StatusWire(uptime_s=status.uptime_s, state=_STATE_NAMES[status.state],  # type: ignore[arg-type]
                      faults=status.fault_names(), pending=status.pending)  # type: ignore[arg-type]
    return wire.model_dump_json().encode("utf-8")
