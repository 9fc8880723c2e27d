"""Iris reader codec: a framed serial protocol (docs/protocols.md) and its MQTT JSON form.

Public API:
    Deframer(on_error=None).feed(bytes) -> list[Message]; .flush(); .stats (DeframerStats)
    encode_message(seq, body) -> bytes;  decode_frame(bytes) -> Frame;  decode_payload(Frame) -> Message
    IrisCapture.from_message(message, device) / .from_json(payload, device); .code_bits(); .mask_bits()
    Capture, Status, Ack (bodies), Quality (ISO/IEC 29794-6 components), CODE_SHAPE (8, 256, 2)
    wire.topic(lane, device, channel); CaptureWire, StatusWire, AckWire (pydantic, extra="forbid")
"""

from drivers.iris.capture import IrisCapture, status_from_json, status_to_json
from drivers.iris.deframer import Deframer, DeframerStats
from drivers.iris.errors import IrisDecodeError, Reason
from drivers.iris.framing import MAX_FRAME, MAX_PAYLOAD, Frame, crc16, crc32, decode_frame, encode_frame
from drivers.iris.messages import (
    CODE_BITS, CODE_BYTES, CODE_SHAPE, QUALITY_NAMES, Ack, AckResult, Body, Capture, Eye, Message, MessageType,
    Quality, ReaderState, Status, decode_payload, encode_message, pack_bits, unpack_bits,
)

__all__ = [
    "CODE_BITS", "CODE_BYTES", "CODE_SHAPE", "MAX_FRAME", "MAX_PAYLOAD", "QUALITY_NAMES", "Ack", "AckResult",
    "Body", "Capture", "Deframer", "DeframerStats", "Eye", "Frame", "IrisCapture", "IrisDecodeError", "Message",
    "MessageType", "Quality", "ReaderState", "Reason", "Status", "crc16", "crc32", "decode_frame",
    "decode_payload", "encode_frame", "encode_message", "pack_bits", "status_from_json", "status_to_json",
    "unpack_bits",
]
