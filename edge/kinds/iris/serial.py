"""An iris reader speaking the framed protocol (docs/protocols.md) over a serial port.

A capture is answered with an ack frame (0x81, result "stored") only in its reading's
`on_stored`, after the store committed it, so a capture the edge lost is resent by the reader.
A frame whose CRC-32 holds but whose capture payload cannot be used is answered "refused" (its
bounds and sequence number are trustworthy; the reader must not resend it); a capture whose code
or mask could not be written to the media store is answered "busy" (resend later).

The byte and frame counters (bytes_in, frames, bad_bytes, bad_frames, bad_frames_<reason>) are
the deframer's own accounting, summed over every connection: a new deframer is started at each
connect, after the old one's unfinished frame has been counted as truncated.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable

from drivers.iris import (
    Ack, AckResult, Deframer, IrisCapture, IrisDecodeError, Message, MessageType, Reason, Status, encode_message,
)
from drivers.iris.framing import HEADER_LEN, parse_header
from drivers.serial_transport import SerialTransport
from edge.kinds.base import DeviceContext
from edge.kinds.deframer_counts import DeframerCounts
from edge.kinds.iris.readings import capture_reading, status_reading
from edge.media import MediaError

log = logging.getLogger(__name__)
BAD_FRAME_LOG_S = 10.0


class SerialIris:
    """The iris reader on a serial URL; see the module docstring."""

    def __init__(self, ctx: DeviceContext) -> None:
        config = ctx.config
        if ctx.media is None:
            raise ValueError(f"iris reader {config.id}: the edge has no media store for iris codes")
        self.status = status = ctx.status
        self._id = config.id
        self._ingest = ctx.ingest
        self._media = ctx.media
        self._defaults = ctx.defaults
        self._changed = ctx.changed
        self._bad_logged_at = float("-inf")
        self._bad_since_log = 0
        self._deframer = Deframer(on_error=self._on_bad_frame)
        self._counts = DeframerCounts(status.counters, (reason.value for reason in Reason))
        self._seq = 0
        self._seq_lock = threading.Lock()
        self._transport = SerialTransport(config.address, self._on_data, self._on_state, baudrate=config.baudrate,
                                          name=config.id)
        for name in ("bytes_in", "frames", "bad_frames", "bad_bytes", "captures", "statuses", "refused",
                     "busy", "other_messages", "replies", "reply_failures",
                     *(f"bad_frames_{reason.value}" for reason in Reason)):
            status.counters[name] = 0

    def start(self) -> None:
        self._transport.start()

    def stop(self) -> None:
        self._transport.stop()

    def handles_topic(self, topic: str) -> bool:
        return False

    def on_mqtt_message(self, topic: str, payload: bytes, ack: Callable[[], None]) -> None:  # pragma: no cover
        raise RuntimeError("a serial iris reader receives no MQTT messages")

    # ------------------------------------------------------------ transport thread

    def _on_state(self, connected: bool, reason: str) -> None:
        self.status.connected = connected
        self.status.last_error = "" if connected else reason
        if connected:
            self._new_deframer()
        log.info("iris %s serial %s: %s", self._id, "connected" if connected else "disconnected", reason)
        self._changed(self._id)

    def _new_deframer(self) -> None:
        """Count the old deframer's half frame as truncated, fold its stats into the totals, start afresh."""
        old = self._deframer
        old.flush()
        self._counts.retire(old.stats)
        self._deframer = Deframer(on_error=self._on_bad_frame)
        self._counts.export(self._deframer.stats)

    def _on_bad_frame(self, error: IrisDecodeError, content: bytes) -> None:
        """Logged at most every BAD_FRAME_LOG_S (counted in full); a capture frame whose CRC held but
        whose payload is wrong is refused, so the reader stops resending it."""
        if error.reason in (Reason.BAD_PAYLOAD, Reason.UNKNOWN_TYPE) and len(content) >= HEADER_LEN:
            try:
                header = parse_header(content[:HEADER_LEN])
            except IrisDecodeError:
                header = None
            if header is not None and header.message_type == MessageType.CAPTURE:
                self.status.counters["refused"] += 1
                self._reply(header.seq, AckResult.REFUSED)
        self._bad_since_log += 1
        now = time.monotonic()
        if now - self._bad_logged_at < BAD_FRAME_LOG_S:
            log.debug("iris %s: bad frame skipped (%s)", self._id, error)
            return
        log.warning("iris %s: %d bad frame(s) skipped, the last: %s", self._id, self._bad_since_log, error)
        self._bad_logged_at, self._bad_since_log = now, 0

    def _on_data(self, data: bytes) -> None:
        messages = self._deframer.feed(data)
        self._counts.export(self._deframer.stats)
        for message in messages:
            try:
                self._handle(message)
            except Exception:  # a message we cannot use must not kill the reader thread
                log.exception("iris %s: cannot handle message type 0x%02x", self._id, int(message.message_type))

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
        frame = encode_message(own, Ack(MessageType.CAPTURE, seq, result))
        try:
            self._transport.write(frame)
            self.status.counters["replies"] += 1
        except (ConnectionError, OSError) as exc:
            # The reader resends an unanswered capture; the resend is stored once.
            self.status.counters["reply_failures"] += 1
            log.warning("iris %s: ack of capture %s not sent: %s", self._id, seq, exc)
