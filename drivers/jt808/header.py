"""JT/T 808 message header, 2013 (BCD[6] terminal, 12/16 B) and 2019 (version byte, BCD[10], 17/21 B).

Attributes word: bits 0-9 body length, 10-12 encryption, 13 split packet, 14 version flag (2019),
bit 15 reserved.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from drivers.jt808.bcd import decode_bcd, encode_bcd
from drivers.jt808.errors import Jt808DecodeError, Reason

MAX_BODY = 0x3FF
_ENCRYPTION_NONE = 0
_ENCRYPTION_RSA = 1


@dataclass(frozen=True)
class SplitInfo:
    """Packet-split item: total number of packets and this packet's 1-based index."""

    total: int
    index: int


@dataclass(frozen=True)
class Header:
    """A decoded or to-be-encoded header. `protocol_version` None means the 2013 header."""

    message_id: int
    terminal: str
    serial: int
    protocol_version: int | None = None
    encryption: int = _ENCRYPTION_NONE
    split: SplitInfo | None = None
    body_length: int = 0

    @property
    def version(self) -> str:
        """'2013' or '2019' (which header layout this is)."""
        return "2013" if self.protocol_version is None else "2019"

    @property
    def is_2019(self) -> bool:
        return self.protocol_version is not None

    @property
    def size(self) -> int:
        """Header length in bytes."""
        return (17 if self.is_2019 else 12) + (4 if self.split else 0)


def encode_header(header: Header, body_length: int) -> bytes:
    """Serialise a header for a body of `body_length` bytes."""
    if not 0 <= body_length <= MAX_BODY:
        raise ValueError(f"body of {body_length} bytes does not fit the 10-bit length (max {MAX_BODY})")
    attributes = body_length | (header.encryption & 0x7) << 10
    if header.split is not None:
        attributes |= 1 << 13
    parts = [struct.pack(">HH", header.message_id, attributes | (1 << 14 if header.is_2019 else 0))]
    if header.is_2019:
        parts.append(bytes([header.protocol_version or 0]))
        parts.append(encode_bcd(header.terminal, 10))
    else:
        parts.append(encode_bcd(header.terminal, 6))
    parts.append(struct.pack(">H", header.serial & 0xFFFF))
    if header.split is not None:
        parts.append(struct.pack(">HH", header.split.total, header.split.index))
    return b"".join(parts)


def decode_header(payload: bytes) -> tuple[Header, int]:
    """Parse the header at the start of an unescaped payload; return it and the body offset."""
    if len(payload) < 4:
        raise Jt808DecodeError(Reason.TRUNCATED, "shorter than the message id and attributes")
    message_id, attributes = struct.unpack_from(">HH", payload, 0)
    body_length = attributes & MAX_BODY
    encryption = (attributes >> 10) & 0x7
    is_split = bool(attributes & (1 << 13))
    is_2019 = bool(attributes & (1 << 14))
    if attributes & 0x8000:
        raise Jt808DecodeError(Reason.BAD_HEADER, f"reserved attribute bit 15 set (0x{attributes:04x})")
    if encryption not in (_ENCRYPTION_NONE, _ENCRYPTION_RSA):
        raise Jt808DecodeError(Reason.BAD_HEADER, f"unknown encryption mode {encryption}")
    size = (17 if is_2019 else 12) + (4 if is_split else 0)
    if len(payload) < size:
        raise Jt808DecodeError(Reason.TRUNCATED, f"{len(payload)} bytes, the header needs {size}")
    offset = 4
    version: int | None = None
    if is_2019:
        version = payload[offset]
        offset += 1
        terminal_raw = payload[offset: offset + 10]
        offset += 10
    else:
        terminal_raw = payload[offset: offset + 6]
        offset += 6
    terminal = payload_terminal(terminal_raw)
    (serial,) = struct.unpack_from(">H", payload, offset)
    offset += 2
    split = None
    if is_split:
        total, index = struct.unpack_from(">HH", payload, offset)
        offset += 4
        split = SplitInfo(total, index)
    header = Header(message_id, terminal, serial, version, encryption, split, body_length)
    return header, offset


def payload_terminal(raw: bytes) -> str:
    """Terminal number digits; a non-BCD number is a header error (it is how noise is told apart)."""
    try:
        return decode_bcd(raw, "terminal number")
    except Jt808DecodeError as exc:
        raise Jt808DecodeError(Reason.BAD_HEADER, exc.detail) from exc
