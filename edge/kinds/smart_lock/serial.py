"""A smart lock speaking JT/T 808 over a serial port (or a pty, socket://, rfc2217://).

The edge plays the platform: it answers registration with 0x8100 and every other terminal
message with 0x8001. A location report is acknowledged only after it is stored, so a lock
whose report was lost in the edge keeps retransmitting it.

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

from drivers.jt808 import (
    BATCH_LOCATION, LOCATION_REPORT, BatchLocation, Deframer, Jt808DecodeError, Message, Reason, describe,
    describe_location, encode_frame, reply_for,
)
from drivers.serial_transport import SerialTransport
from drivers.smart_lock import LockReading
from edge.ingest import Reading
from edge.kinds.base import DeviceContext
from edge.kinds.deframer_counts import DeframerCounts
from edge.kinds.smart_lock.state import lock_reading

log = logging.getLogger(__name__)
BAD_FRAME_LOG_S = 10.0


def frame_sha256(message: Message) -> str:
    """SHA-256 of the frame as it travels (re-encoded from the decoded message, which is lossless)."""
    return hashlib.sha256(encode_frame(message.header, message.body)).hexdigest()


class SerialLock:
    """JT/T 808 lock on a serial URL; see the module docstring."""

    def __init__(self, ctx: DeviceContext) -> None:
        config = ctx.config
        self.status = status = ctx.status
        self._id = config.id
        self._ingest = ctx.ingest
        self._changed = ctx.changed
        self._low_battery_pct: int | None = ctx.defaults.low_battery_pct
        self._bad_logged_at = float("-inf")
        self._bad_since_log = 0
        self._deframer = Deframer(on_error=self._on_bad_frame)
        self._counts = DeframerCounts(status.counters, (reason.value for reason in Reason))
        self._serial = 0
        self._serial_lock = threading.Lock()
        self._transport = SerialTransport(
            config.address, self._on_data, self._on_state, baudrate=config.baudrate, name=config.id,
        )
        for name in ("bytes_in", "frames", "bad_frames", "bad_bytes", "replies", "reply_failures", "readings",
                     "not_lock_reports", *(f"bad_frames_{reason.value}" for reason in Reason)):
            status.counters[name] = 0

    def start(self) -> None:
        self._transport.start()

    def stop(self) -> None:
        self._transport.stop()

    def handles_topic(self, topic: str) -> bool:
        return False

    def on_mqtt_message(self, topic: str, payload: bytes, ack: Callable[[], None]) -> None:  # pragma: no cover
        raise RuntimeError("a serial lock receives no MQTT messages")

    # ------------------------------------------------------------ transport thread

    def _on_state(self, connected: bool, reason: str) -> None:
        self.status.connected = connected
        self.status.last_error = "" if connected else reason
        if connected:
            self._new_deframer()
        log.info("lock %s serial %s: %s", self._id, "connected" if connected else "disconnected", reason)
        self._changed(self._id)

    def _new_deframer(self) -> None:
        """Count the old deframer's half frame as truncated, fold its stats into the totals, start afresh."""
        old = self._deframer
        old.flush()
        self._counts.retire(old.stats)
        self._deframer = Deframer(on_error=self._on_bad_frame)
        self._counts.export(self._deframer.stats)

    def _on_bad_frame(self, error: Jt808DecodeError, content: bytes) -> None:
        """A WARNING for the first bad frame, then at most one every BAD_FRAME_LOG_S with the count
        since: a line full of garbage is counted in full (the counters) without flooding the log."""
        self._bad_since_log += 1
        now = time.monotonic()
        if now - self._bad_logged_at < BAD_FRAME_LOG_S:
            log.debug("lock %s: bad frame skipped (%s)", self._id, error)
            return
        log.warning("lock %s: %d bad frame(s) skipped, the last: %s", self._id, self._bad_since_log, error)
        self._bad_logged_at, self._bad_since_log = now, 0

    def _on_data(self, data: bytes) -> None:
        messages = self._deframer.feed(data)
        self._counts.export(self._deframer.stats)
        for message in messages:
            try:
                self._handle(message)
            except Exception:  # a frame we cannot use must not kill the reader
                log.exception("lock %s: cannot handle message 0x%04x", self._id, message.header.message_id)

    def _handle(self, message: Message) -> None:
        mid = message.header.message_id
        if mid == LOCATION_REPORT or mid == BATCH_LOCATION:
            readings = self._readings(message)
            if readings:
                last = len(readings) - 1
                for index, reading in enumerate(readings):
                    if index == last:
                        reading.on_stored = lambda m=message: self._reply(m)
                    self._ingest.submit(reading)
                return
        # heartbeat, registration, authentication, reports without a lock item: answer and note it
        self._ingest.submit(Reading(
            self._id, f"0x{mid:04x}", frame_sha256(message), describe(message),
            on_stored=lambda m=message: self._reply(m),
        ))

    def _readings(self, message: Message) -> list[Reading]:
        body = message.body
        header = message.header
        reports = body.reports if isinstance(body, BatchLocation) else (body,)
        out: list[Reading] = []
        digest = frame_sha256(message)
        for index, report in enumerate(reports):
            try:
                lock = LockReading.from_location(report, self._id, header.terminal, header.serial, header.message_id)
            except (ValueError, TypeError) as exc:
                self.status.counters["not_lock_reports"] += 1
                log.warning("lock %s: report without lock status: %s", self._id, exc)
                continue
            self.status.counters["readings"] += 1
            out.append(lock_reading(
                self._id, f"0x{header.message_id:04x}", f"{digest}:{index}" if len(reports) > 1 else digest,
                describe(message) if len(reports) == 1 else {
                    "message_id": f"0x{header.message_id:04x}", "terminal": header.terminal, "serial": header.serial,
                    "batch_index": index, "body": describe_location(report),
                },
                lock, self._low_battery_pct,
            ))
        return out

    def _reply(self, message: Message) -> None:
        with self._serial_lock:
            self._serial = (self._serial + 1) & 0xFFFF
            serial = self._serial
        frame = reply_for(message, serial)
        if frame is None:
            return
        try:
            self._transport.write(frame)
            self.status.counters["replies"] += 1
        except (ConnectionError, OSError) as exc:
            # The lock retransmits an unanswered report; the duplicate is stored once.
            self.status.counters["reply_failures"] += 1
            log.warning("lock %s: reply to 0x%04x not sent: %s", self._id, message.header.message_id, exc)
