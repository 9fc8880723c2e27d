"""Streaming deframer: bytes in, decoded iris-reader messages out; survives garbage, cuts, bad CRCs.

A frame starts at the sync pair 0xA5 0x5A. Bytes before a sync are noise (bad bytes). A
candidate whose header check, version, length or CRC-32 fails is counted by reason, its
sync pair is dropped as bad bytes and the search restarts right after it, so a good frame
that a cut-short frame's length swallowed is still found. A frame whose CRC-32 holds but whose
payload does not decode is dropped whole (its bounds are trustworthy). The buffer never
holds more than MAX_FRAME - 1 bytes between calls.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.iris.errors import IrisDecodeError, Reason
from drivers.iris.framing import HEADER_LEN, MAX_FRAME, SYNC, decode_frame, parse_header
from drivers.iris.messages import Message, decode_payload

log = logging.getLogger(__name__)

ErrorHook = Callable[[IrisDecodeError, bytes], None]


@dataclass
class DeframerStats:
    """Counters an operator watches. bytes_in = frame_bytes + bad_bytes + pending."""

    bytes_in: int = 0
    frames: int = 0
    frame_bytes: int = 0
    bad_bytes: int = 0
    bad_frames: Counter[str] = field(default_factory=Counter)

    @property
    def bad_frame_total(self) -> int:
        return sum(self.bad_frames.values())


class Deframer:
    """Feed raw bytes from a serial port or a file; get back every valid message in order."""

    def __init__(self, on_error: ErrorHook | None = None) -> None:
        self.stats = DeframerStats()
        self._on_error = on_error
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held for an unfinished frame (or a lone 0xA5 that may start one)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Message]:
        """Consume a chunk of the stream; return the messages it completed."""
        self.stats.bytes_in += len(data)
        out: list[Message] = []
        view = memoryview(data)
        for start in range(0, len(view), MAX_FRAME):   # bounded buffer even for a huge chunk
            self._buf += view[start:start + MAX_FRAME]
            self._drain(out, final=False)
        return out

    def flush(self) -> list[Message]:
        """The stream ended (port closed): a frame still incomplete is counted as truncated, and
        whatever followed its sync is searched again for complete frames."""
        out: list[Message] = []
        self._drain(out, final=True)
        return out

    def _drain(self, out: list[Message], final: bool) -> None:
        buf, stats = self._buf, self.stats
        while buf:
            at = buf.find(SYNC)
            if at < 0:
                keep = 1 if buf[-1] == SYNC[0] and not final else 0   # maybe the first half of a sync
                stats.bad_bytes += len(buf) - keep
                del buf[:len(buf) - keep]
                return
            if at:
                stats.bad_bytes += at
                del buf[:at]
            if len(buf) < HEADER_LEN:
                if final:
                    self._reject(IrisDecodeError(Reason.TRUNCATED, f"stream ended {len(buf)} bytes into a header"),
                                 bytes(buf))
                    continue
                return
            try:
                header = parse_header(bytes(buf[:HEADER_LEN]))
            except IrisDecodeError as exc:
                self._reject(exc, bytes(buf[:HEADER_LEN]))
                continue
            size = header.frame_len
            if len(buf) < size:
                if final:
                    self._reject(IrisDecodeError(Reason.TRUNCATED,
                                                 f"stream ended {len(buf)} bytes into a {size}-byte frame"),
                                 bytes(buf[:64]))
                    continue
                return
            candidate = bytes(buf[:size])
            try:
                frame = decode_frame(candidate)
            except IrisDecodeError as exc:
                self._reject(exc, candidate)
                continue
            del buf[:size]
            try:
                message = decode_payload(frame)
            except IrisDecodeError as exc:
                stats.bad_bytes += size
                self._count(exc, candidate)
                continue
            stats.frames += 1
            stats.frame_bytes += size
            out.append(message)

    def _reject(self, exc: IrisDecodeError, sample: bytes) -> None:
        """Drop the candidate's sync pair (counted as bad bytes) and search again after it."""
        del self._buf[:len(SYNC)]
        self.stats.bad_bytes += len(SYNC)
        self._count(exc, sample)

    def _count(self, exc: IrisDecodeError, sample: bytes) -> None:
        self.stats.bad_frames[exc.reason.value] += 1
        log.debug("dropped iris-reader candidate: %s", exc)
        if self._on_error is not None:
            self._on_error(exc, sample)
