"""0x7E framing, 0x7D escaping and the XOR check code of JT/T 808.

Sending: header + body -> append check code (XOR of every byte) -> escape -> wrap in 0x7E.
Receiving is the reverse: unescape, then verify the check code.
"""

from __future__ import annotations

import re
from functools import reduce
from operator import xor

from drivers.jt808.errors import Jt808DecodeError, Reason

FLAG = 0x7E
ESCAPE = 0x7D
MIN_PAYLOAD = 12 + 1          # smallest header (2013, no split) + check code
MAX_PAYLOAD = 21 + 1023 + 1   # largest header (2019, split) + 10-bit body length + check code
MAX_ESCAPED = 2 * MAX_PAYLOAD  # every byte escaped: the most a legal frame occupies between flags

_BAD_ESCAPE = re.compile(rb"\x7d(?![\x01\x02])", re.DOTALL)


def check_code(data: bytes) -> int:
    """XOR of all bytes (the JT/T 808 check code)."""
    return reduce(xor, data, 0)


def escape(data: bytes) -> bytes:
    """Escape 0x7D -> 7D 01 first, then 0x7E -> 7D 02."""
    return data.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")


def unescape(data: bytes) -> bytes:
    """Undo the escaping; a 0x7D not followed by 0x01/0x02 (or at the end) raises BAD_ESCAPE."""
    bad = _BAD_ESCAPE.search(data)
    if bad is not None:
        follow = data[bad.start() + 1: bad.start() + 2].hex() or "end of frame"
        raise Jt808DecodeError(Reason.BAD_ESCAPE, f"0x7D at offset {bad.start()} followed by {follow}")
    return data.replace(b"\x7d\x02", b"\x7e").replace(b"\x7d\x01", b"\x7d")


def wrap(payload: bytes) -> bytes:
    """Frame an unescaped header+body: append the check code, escape, add the 0x7E flags."""
    return b"\x7e" + escape(payload + bytes([check_code(payload)])) + b"\x7e"


def unwrap(frame: bytes) -> bytes:
    """Inverse of `wrap`: strip flags if present, unescape, verify the check code; return header+body."""
    content = frame
    if content[:1] == b"\x7e":
        content = content[1:]
    if content[-1:] == b"\x7e":
        content = content[:-1]
    if b"\x7e" in content:
        raise Jt808DecodeError(Reason.BAD_ESCAPE, "unescaped 0x7E inside the frame")
    data = unescape(content)
    if len(data) < MIN_PAYLOAD:
        raise Jt808DecodeError(Reason.TRUNCATED, f"{len(data)} bytes, a frame needs at least {MIN_PAYLOAD}")
    payload, received = data[:-1], data[-1]
    expected = check_code(payload)
    if expected != received:
        raise Jt808DecodeError(Reason.CHECK_CODE, f"check code 0x{received:02x}, computed 0x{expected:02x}")
    return payload
