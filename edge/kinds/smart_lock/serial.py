"""A smart lock speaking JT/T 808 over a serial port (or a pty, socket://, rfc2217://).

The edge plays the platform: it answers registration with 0x8100 and every other terminal
message with 0x8001. A location report is acknowledged only after it is stored, so a lock
whose report was lost in the edge keeps retransmitting it.

The line, the deframers' counters and bad-frame logging are `edge.kinds.framed_serial`'s.
"""

from __future__ import annotations

import hashlib
import logging
import threading

from drivers.jt808 import (
    BATCH_LOCATION, LOCATION_REPORT, BatchLocation, Deframer, Message, Reason, describe, describe_location,
    encode_frame, reply_for,
)
from drivers.smart_lock import LockReading
from edge.ingest import Reading
from edge.kinds.base import DeviceContext
from edge.kinds.framed_serial import FramedSerialDevice
from edge.kinds.smart_lock.state import lock_reading

log = logging.getLogger(__name__)


def frame_sha256(message: Message) -> str:
    """SHA-256 of the frame as it travels (re-encoded from the decoded message, which is lossless)."""
    return hashlib.sha256(encode_frame(message.header, message.body)).hexdigest()


class SerialLock(FramedSerialDevice):
    """JT/T 808 lock on a serial URL; see the module docstring."""

    def __init__(self, ctx: DeviceContext) -> None:
        super().__init__(ctx, lambda on_error: Deframer(on_error=on_error), (reason.value for reason in Reason),
                         ("readings", "not_lock_reports"), "lock", log)
        self._low_battery_pct: int | None = ctx.defaults.low_battery_pct
        self._serial = 0
        self._serial_lock = threading.Lock()

    def _message_name(self, message: Message) -> str:
        return f"0x{message.header.message_id:04x}"

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
        if frame is not None:  # the lock retransmits an unanswered report; the duplicate is stored once
            self._write_reply(frame, f"reply to 0x{message.header.message_id:04x}")
