"""A smart lock (e-seal) that behaves like real JT/T 808 firmware, over a pty (serial) or MQTT.

Serial: register (0x0100 -> 0x8100), authenticate (0x0102 -> 0x8001), then heartbeat (0x0002) and
report (0x0200 with the 0xE0 lock item) on periods and at once on a state change. A report not
answered by 0x8001 is retransmitted with the same serial: wait T after sending, then
T(n) = T(n-1) * (n + 1) after the n-th retransmission (T, 2T, 6T, 24T ...), at most N times;
then it is kept and sent later in a 0x0704 blind-area batch once the platform answers again.
"""

from __future__ import annotations

import logging
import select
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from drivers.jt808 import (
    ALARM_UNDERVOLTAGE, AUTHENTICATION, BATCH_LOCATION, CHINA_TZ, HEARTBEAT, LOCATION_REPORT,
    PLATFORM_RESPONSE, REGISTRATION, REGISTRATION_RESPONSE, STATUS_POSITIONED, Authentication,
    BatchLocation, Body, Deframer, ExtraItem, GeneralResponse, Header, Heartbeat, LocationReport, Message,
    Registration, RegistrationResponse, encode_frame, encode_lock_status,
)
from firmware_stubs.lock_events import ScriptedEvent, SimLock
from firmware_stubs.pty_port import PtyPort
from firmware_stubs.script_clock import script_origin
from firmware_stubs.firmware_thread import FirmwareThread

log = logging.getLogger(__name__)


def retransmit_timeouts(timeout_s: float, retries: int) -> list[float]:
    """Waits after the first send and after each of `retries` retransmissions: T, 2T, 6T, 24T ..."""
    waits = [timeout_s]
    for n in range(1, retries + 1):
        waits.append(waits[-1] * (n + 1))
    return waits


@dataclass
class LockConfig:
    """How the simulated lock is set up (all times in seconds)."""

    terminal: str = "013800138000"
    lock_id: str = "KL-0001"
    protocol_2019: bool = False
    report_period_s: float = 10.0
    heartbeat_period_s: float = 30.0
    response_timeout_s: float = 5.0
    retries: int = 3
    latitude: float = 44.2117      # Khorgos border crossing
    longitude: float = 80.4194
    battery_pct: int = 95
    events: list[ScriptedEvent] = field(default_factory=list)


class LockStubBase(FirmwareThread):
    """Thread, clock, scripted events and report content shared by the serial and MQTT locks."""

    def __init__(self, config: LockConfig) -> None:
        self.config = config
        self.lock = SimLock(config.lock_id, battery_pct=config.battery_pct)
        self.counters: Counter[str] = Counter()
        super().__init__()
        self._events = list(config.events)
        self._t0 = 0.0
        self._report_due = 0.0

    # -- life cycle -------------------------------------------------------------------------
    def _never_started(self) -> None:
        self._close()   # stopped without a start: still release the transport

    def run(self) -> None:
        """The firmware main loop (blocks until stop())."""
        self._t0 = script_origin()
        self._open()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                self._apply_events(now)
                if not self.lock.silent:
                    self._tick(now)
                self._wait(max(0.0, min(self._next_deadline(now) - time.monotonic(), 0.1)))
        finally:
            self._close()

    def _apply_events(self, now: float) -> None:
        while self._events and self._events[0].at_s <= now - self._t0:
            event = self._events.pop(0)
            log.info("scripted event at %.1f s: %s%s", event.at_s, event.action,
                     f"={event.lock_id}" if event.lock_id else "" if event.value is None else f"={event.value}")
            self.counters[f"event_{event.action}"] += 1
            if self.lock.apply(event):
                self._report_due = now   # report at once on a state change

    def location(self) -> LocationReport:
        """A 0x0200 body describing the lock now."""
        status = self.lock.status()
        alarm = ALARM_UNDERVOLTAGE if status.battery_low else 0
        moment = datetime.now(CHINA_TZ).replace(microsecond=0)
        extras = (encode_lock_status(status), ExtraItem(0x30, bytes([25])), ExtraItem(0x31, bytes([9])))
        return LocationReport(alarm, STATUS_POSITIONED, self.config.latitude, self.config.longitude, 520, 0.0,
                              0, moment, extras)

    # -- for subclasses ------------------------------------------------------------------------
    def _open(self) -> None: ...
    def _close(self) -> None: ...
    def _tick(self, now: float) -> None: ...

    def _next_deadline(self, now: float) -> float:
        return now + 0.1

    def _wait(self, timeout: float) -> None:
        self._stop.wait(timeout)


@dataclass
class _Pending:
    """A sent message waiting for its answer."""

    frame: bytes
    message_id: int
    serial: int
    deadline: float
    attempt: int = 0
    reports: tuple[LocationReport, ...] = ()   # location data that must not be lost


class SerialSmartLock(LockStubBase):
    """The lock on a pty: full registration, authentication, heartbeat, reports, retransmission."""

    def __init__(self, config: LockConfig, link: Path | None = None) -> None:
        super().__init__(config)
        self.port = PtyPort(link)
        self.phase = "registering"
        self.auth_code = ""
        self.sent: list[Message] = []
        self._deframer = Deframer()
        self._serial = 0
        self._pending: dict[int, _Pending] = {}
        self._waits = retransmit_timeouts(config.response_timeout_s, config.retries)
        self._next_heartbeat = 0.0
        self._next_register = 0.0
        self._backlog: list[LocationReport] = []

    @property
    def name(self) -> str:
        """The pty path a driver opens."""
        return self.port.name

    def _close(self) -> None:
        self.port.close()

    def _wait(self, timeout: float) -> None:
        readable, _, _ = select.select([self.port], [], [], timeout)
        if readable:
            for message in self._deframer.feed(self.port.read()):
                self._on_message(message)

    def _next_deadline(self, now: float) -> float:
        times = [p.deadline for p in self._pending.values()]
        if self.phase == "online":
            times += [self._report_due, self._next_heartbeat]
        return min(times, default=now + 0.1)

    # -- sending ------------------------------------------------------------------------------
    def _send(self, message_id: int, body: Body, now: float, tracked: bool = True,
              reports: tuple[LocationReport, ...] = ()) -> int:
        serial = self._serial
        self._serial = (self._serial + 1) & 0xFFFF
        header = Header(message_id, self.config.terminal, serial, 1 if self.config.protocol_2019 else None)
        frame = encode_frame(header, body)
        self._write(frame, message_id)
        self.sent.append(Message(header, body))
        if tracked:
            self._pending[serial] = _Pending(frame, message_id, serial, now + self._waits[0], reports=reports)
        return serial

    def _write(self, frame: bytes, message_id: int) -> None:
        if self.port.write(frame):
            self.counters[f"sent_0x{message_id:04x}"] += 1
        else:
            self.counters["write_dropped"] += 1

    def _tick(self, now: float) -> None:
        self._retransmit(now)
        if self.phase == "registering" and not self._pending and now >= self._next_register:
            self._send(REGISTRATION, Registration(65, 4000, "KOUAN", "SL-808", self.config.lock_id[:7], 0, ""),
                       now)
        if self.phase != "online":
            return
        if now >= self._next_heartbeat:
            self._send(HEARTBEAT, Heartbeat(), now, tracked=False)
            self._next_heartbeat = now + self.config.heartbeat_period_s
        if now >= self._report_due:
            report = self.location()
            self._send(LOCATION_REPORT, report, now, reports=(report,))
            self.counters["reports"] += 1
            self._report_due = now + self.config.report_period_s

    def _retransmit(self, now: float) -> None:
        for serial, pending in list(self._pending.items()):
            if now < pending.deadline:
                continue
            if pending.attempt >= self.config.retries:
                del self._pending[serial]
                self.counters[f"gave_up_0x{pending.message_id:04x}"] += 1
                log.warning("no answer to 0x%04x serial %s after %s retransmissions",
                            pending.message_id, serial, pending.attempt)
                if pending.reports:
                    self._backlog.extend(pending.reports)   # sent again in a later 0x0704
                elif pending.message_id in (REGISTRATION, AUTHENTICATION):
                    self.phase, self._next_register = "registering", now + self._waits[-1]
                continue
            pending.attempt += 1
            pending.deadline = now + self._waits[pending.attempt]
            self.counters["retransmissions"] += 1
            self._write(pending.frame, pending.message_id)

    # -- receiving ----------------------------------------------------------------------------
    def _on_message(self, message: Message) -> None:
        body, now = message.body, time.monotonic()
        if message.header.terminal.lstrip("0") != self.config.terminal.lstrip("0"):
            self.counters["foreign_terminal"] += 1
            return
        if message.header.message_id == REGISTRATION_RESPONSE and isinstance(body, RegistrationResponse):
            if self._pending.pop(body.reply_serial, None) is None:
                return
            self.counters["acks"] += 1
            if body.result == 0:
                self.auth_code, self.phase = body.auth_code, "authenticating"
                self._send(AUTHENTICATION, Authentication(body.auth_code, "860000000000001", "kouan-stub-1.0"), now)
            else:
                self._next_register = now + self._waits[-1]
        elif message.header.message_id == PLATFORM_RESPONSE and isinstance(body, GeneralResponse):
            pending = self._pending.get(body.reply_serial)
            if pending is None or pending.message_id != body.reply_id:
                self.counters["acks_unmatched" if body.reply_id != HEARTBEAT else "acks_heartbeat"] += 1
                return
            del self._pending[body.reply_serial]
            self.counters["acks"] += 1
            if pending.message_id == AUTHENTICATION:
                if body.result == 0:
                    self.phase, self._report_due, self._next_heartbeat = "online", now, now
                else:
                    self.phase, self._next_register = "registering", now + self._waits[-1]
            elif self._backlog and body.result == 0:
                batch, self._backlog = self._backlog[:20], self._backlog[20:]
                self._send(BATCH_LOCATION, BatchLocation(1, tuple(batch)), now, reports=tuple(batch))
