"""Streaming deframer: bytes in, decoded messages out; survives garbage, cuts and oversize runs.

Every 0x7E is a delimiter. The bytes between two delimiters are a candidate frame; a 0x7E that
closes one frame also opens the next. A rejected candidate is counted by reason and its bytes as
bad bytes; the next 0x7E resynchronises. The buffer never holds more than `max_escaped` bytes.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.jt808.errors import Jt808DecodeError, Reason
from drivers.jt808.framing import MAX_ESCAPED, unwrap
from drivers.jt808.messages import Message, decode_payload

log = logging.getLogger(__name__)

ErrorHook = Callable[[Jt808DecodeError, bytes], None]


@dataclass
class DeframerStats:
    """Counters an operator watches. bytes_in = frame_bytes + bad_bytes + delimiters + pending."""

    bytes_in: int = 0
    frames: int = 0
    frame_bytes: int = 0
    bad_bytes: int = 0
    delimiters: int = 0
    bad_frames: Counter[str] = field(default_factory=Counter)

    @property
    def bad_frame_total(self) -> int:
        return sum(self.bad_frames.values())


class Deframer:
    """Feed raw bytes from a serial port or a file; get back every valid message in order."""

    def __init__(self, on_error: ErrorHook | None = None, max_escaped: int = MAX_ESCAPED) -> None:
        self.stats = DeframerStats()
        self._on_error = on_error
        self._max = max_escaped
        self._buf = bytearray()
        self._in_frame = False   # a 0x7E has been seen; bytes now belong to a candidate
        self._overflow = False   # the current candidate exceeded the limit; discard to the next 0x7E

    @property
    def pending(self) -> int:
        """Bytes held for an unfinished candidate frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Message]:
        """Consume a chunk of the stream; return the messages it completed."""
        out: list[Message] = []
        self.stats.bytes_in += len(data)
        pos, size = 0, len(data)
        while pos < size:
            idx = data.find(b"\x7e", pos)
            end = size if idx < 0 else idx
            if not self._in_frame:
                self.stats.bad_bytes += end - pos   # noise before any frame start
            elif self._overflow:
                self.stats.bad_bytes += end - pos
            elif len(self._buf) + (end - pos) > self._max:
                self.stats.bad_bytes += len(self._buf) + (end - pos)
                self._reject(Jt808DecodeError(Reason.OVERSIZE, f"more than {self._max} bytes without 0x7E"),
                             bytes(self._buf[:64]), count_bytes=False)
                self._buf.clear()
                self._overflow = True
            else:
                self._buf += data[pos:end]
            if idx < 0:
                break
            self.stats.delimiters += 1
            if self._in_frame and self._buf and not self._overflow:
                self._candidate(bytes(self._buf), out)
            self._buf.clear()
            self._overflow = False
            self._in_frame = True
            pos = idx + 1
        return out

    def flush(self) -> None:
        """The stream ended (port closed): an unfinished candidate is counted as truncated."""
        if self._buf and not self._overflow:
            self._reject(Jt808DecodeError(Reason.TRUNCATED, f"stream ended {len(self._buf)} bytes into a frame"),
                         bytes(self._buf))
        self._buf.clear()
        self._in_frame = False
        self._overflow = False

    def _candidate(self, content: bytes, out: list[Message]) -> None:
        try:
            message = decode_payload(unwrap(content))
        except Jt808DecodeError as exc:
            self._reject(exc, content)
            return
        self.stats.frames += 1
        self.stats.frame_bytes += len(content)
        out.append(message)

    def _reject(self, exc: Jt808DecodeError, content: bytes, count_bytes: bool = True) -> None:
        self.stats.bad_frames[exc.reason.value] += 1
        if count_bytes:
            self.stats.bad_bytes += len(content)
        log.debug("dropped JT/T 808 candidate of %s bytes: %s", len(content), exc)
        if self._on_error is not None:
            self._on_error(exc, content)
