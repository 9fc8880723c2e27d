"""An iris reader speaking the framed protocol (docs/protocols.md) over a serial port.

A capture is answered with an ack frame (0x81, result "stored") only in its reading's
`on_stored`, after the store committed it, so a capture the edge lost is resent by the reader.
A frame whose CRC-32 holds but whose capture payload cannot be used is answered "refused" (its
bounds and sequence number are trustworthy; the reader must not resend it); a capture whose code
or mask could not be written to the media store is answered "busy" (resend later).

The line, the deframers' counters and bad-frame logging are `edge.kinds.framed_serial`'s.
"""

from __future__ import annotations

import hashlib
import logging
import threading

from drivers.iris import (
    Ack, AckResult, Deframer, IrisCapture, IrisDecodeError, Message, MessageType, Reason, Status, encode_message,
)
from drivers.iris.framing import HEADER_LEN, parse_header
from edge.kinds.base import DeviceContext
from edge.kinds.framed_serial import FramedSerialDevice
from edge.kinds.iris.legacy_codes import move_legacy_codes
from edge.kinds.iris.readings import capture_reading, status_reading
from edge.media import MediaError

log = logging.getLogger(__name__)


class SerialIris(FramedSerialDevice):
    """The iris reader on a serial URL; see the module docstring."""

    def __init__(self, ctx: DeviceContext) -> None:
        if ctx.private_media is None:
            raise ValueError(f"iris reader {ctx.config.id}: the edge has no private media store for iris codes")
        super().__init__(ctx, lambda on_error: Deframer(on_error=on_error), (reason.value for reason in Reason),
                         ("captures", "statuses", "refused", "busy", "other_messages"), "iris", log)
        self._media = ctx.private_media  # never served by the lane terminal
        if ctx.media is not None and ctx.read_store is not None:
            move_legacy_codes(ctx.read_store, ctx.media, ctx.private_media, ctx.config.id)
        self._defaults = ctx.defaults
        self._seq = 0
        self._seq_lock = threading.Lock()

    def _message_name(self, message: Message) -> str:
        return f"type 0x{int(message.message_type):02x}"

    def _bad_frame(self, error: IrisDecodeError, content: bytes) -> None:
        """A capture frame whose CRC held but whose payload is wrong is refused, so the reader stops
        resending it (its bounds and sequence number are trustworthy)."""
        if error.reason in (Reason.BAD_PAYLOAD, Reason.UNKNOWN_TYPE) and len(content) >= HEADER_LEN:
            try:
                header = parse_header(content[:HEADER_LEN])
            except IrisDecodeError:
                header = None
            if header is not None and header.message_type == MessageType.CAPTURE:
                self.status.counters["refused"] += 1
                self._reply(header.seq, AckResult.REFUSED)

    def _handle(self, message: Message) -> None:
        if message.message_type == MessageType.CAPTURE:
            capture = IrisCapture.from_message(message, self._id)
            try:
                reading = capture_reading(capture, self._media, self._defaults,
                                          on_stored=lambda seq=message.seq: self._reply(seq, AckResult.STORED))
            except (MediaError, OSError) as exc:
                self.status.counters["busy"] += 1
                log.warning("iris %s: capture %s not kept (media store: %s); the reader is told to resend",
                            self._id, message.seq, exc)
                self._reply(message.seq, AckResult.BUSY)
                return
            self.status.counters["captures"] += 1
            self._ingest.submit(reading)
        elif message.message_type == MessageType.STATUS and isinstance(message.body, Status):
            self.status.counters["statuses"] += 1
            frame = encode_message(message.seq, message.body)
            self._ingest.submit(status_reading(self._id, message.body, hashlib.sha256(frame).hexdigest()))
        else:
            self.status.counters["other_messages"] += 1

    def _reply(self, seq: int, result: AckResult) -> None:
        with self._seq_lock:
            own, self._seq = self._seq, (self._seq + 1) & 0xFFFF
        # the reader resends an unanswered capture; the resend is stored once
        self._write_reply(encode_message(own, Ack(MessageType.CAPTURE, seq, result)), f"ack of capture {seq}")
