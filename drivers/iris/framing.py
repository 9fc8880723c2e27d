"""The iris reader's serial frame: sync, header with its own CRC-16, payload, CRC-32.

```
offset  size  field
0       2     sync 0xA5 0x5A
2       1     frame version, 1
3       1     message type (drivers.iris.messages.MessageType)
4       2     sequence number, big-endian; the sender's own counter, a retransmission keeps it
6       2     payload length n, big-endian, 0..MAX_PAYLOAD
8       2     header check: CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of bytes 0-7
10      n     payload
10+n    4     CRC-32/ISO-HDLC (the zlib / Ethernet CRC) of bytes 0..9+n, big-endian
```

No escaping: the length field says where a frame ends, and the header check lets a receiver
reject a corrupted length after 10 bytes instead of waiting for bytes that never come.
"""

from __future__ import annotations

import binascii
import struct
import zlib
from dataclasses import dataclass

from drivers.iris.errors import IrisDecodeError, Reason

SYNC = b"\xa5\x5a"
VERSION = 1
HEADER_LEN = 10
CRC_LEN = 4
OVERHEAD = HEADER_LEN + CRC_LEN
MAX_PAYLOAD = 2048      # a capture is 1050 + card id length (<= 1082) bytes; room for a v2 payload
MAX_FRAME = OVERHEAD + MAX_PAYLOAD
_HEAD = struct.Struct(">2sBBHH")


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final XOR (check 0x29B1)."""
    return binascii.crc_hqx(data, 0xFFFF)


def crc32(data: bytes) -> int:
    """CRC-32/ISO-HDLC as zlib computes it (check 0xCBF43926)."""
    return zlib.crc32(data) & 0xFFFFFFFF


@dataclass(frozen=True)
class Frame:
    """One frame's header fields and its payload (unchecked content: messages.py decodes it)."""

    message_type: int
    seq: int
    payload: bytes


@dataclass(frozen=True)
class Header:
    """The ten header bytes, parsed and checked."""

    message_type: int
    seq: int
    length: int

    @property
    def frame_len(self) -> int:
        return OVERHEAD + self.length


def encode_frame(message_type: int, seq: int, payload: bytes) -> bytes:
    """Frame a payload; ValueError if a field does not fit."""
    if not 0 <= message_type <= 0xFF:
        raise ValueError(f"message type {message_type} does not fit in a byte")
    if not 0 <= seq <= 0xFFFF:
        raise ValueError(f"sequence number {seq} does not fit in 16 bits")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes is over the limit of {MAX_PAYLOAD}")
    head = _HEAD.pack(SYNC, VERSION, message_type, seq, len(payload))
    body = head + crc16(head).to_bytes(2, "big") + payload
    return body + crc32(body).to_bytes(4, "big")


def parse_header(data: bytes) -> Header:
    """Check the first HEADER_LEN bytes of a candidate frame (sync, header CRC, version, length)."""
    if len(data) < HEADER_LEN:
        raise IrisDecodeError(Reason.TRUNCATED, f"{len(data)} bytes, a header needs {HEADER_LEN}")
    sync, version, message_type, seq, length = _HEAD.unpack_from(data)
    if sync != SYNC:
        raise IrisDecodeError(Reason.HEADER_CHECK, f"sync {sync.hex()}, expected {SYNC.hex()}")
    received, computed = int.from_bytes(data[8:10], "big"), crc16(bytes(data[:8]))
    if received != computed:
        raise IrisDecodeError(Reason.HEADER_CHECK, f"header CRC-16 0x{received:04x}, computed 0x{computed:04x}")
    if version != VERSION:
        raise IrisDecodeError(Reason.BAD_VERSION, f"frame version {version}, this edge reads {VERSION}")
    if length > MAX_PAYLOAD:
        raise IrisDecodeError(Reason.OVERSIZE, f"payload length {length} over the limit of {MAX_PAYLOAD}")
    return Header(message_type, seq, length)


def decode_frame(data: bytes) -> Frame:
    """Check one whole frame (exactly its bytes) and return its fields; IrisDecodeError says why not."""
    header = parse_header(data)
    if len(data) < header.frame_len:
        raise IrisDecodeError(Reason.TRUNCATED, f"{len(data)} bytes, the header says {header.frame_len}")
    if len(data) > header.frame_len:
        raise IrisDecodeError(Reason.BAD_PAYLOAD, f"{len(data) - header.frame_len} bytes after the CRC-32")
    end = HEADER_LEN + header.length
    received, computed = int.from_bytes(data[end:end + CRC_LEN], "big"), crc32(bytes(data[:end]))
    if received != computed:
        raise IrisDecodeError(Reason.CRC, f"CRC-32 0x{received:08x}, computed 0x{computed:08x}")
    return Frame(header.message_type, header.seq, bytes(data[HEADER_LEN:end]))
