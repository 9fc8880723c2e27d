"""An iris reader that behaves like firmware: captures on scripted card presentations, heartbeats,
and keeps each capture until the edge acknowledges it; over a pty (the framed protocol of
docs/protocols.md) or MQTT (firmware_stubs/iris_reader_mqtt.py).

Events: "3:present=CARD123/genuine,10:present=CARD123/impostor,15:present=CARD999/poor,20:silent,25:resume".
`genuine`: the card holder's own eye (the iris is fixed by the card id); `impostor`: someone else
holding that card; `poor`: the holder, but blurred and half covered (fails the quality gate).
`silent` stops all sending (a cable pulled); `resume` sends what waited.

Retransmission: a capture not acknowledged (ACK result 0 stored, or 1 refused: dropped) is sent
again with the same sequence number after T, then 2T, 4T ... up to T * 2^retries, and from then on
every T * 2^retries until acknowledged; at most MAX_WAITING captures wait (the oldest is dropped).
"""

from __future__ import annotations

import argparse
import logging
import select
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from drivers.iris import (
    Ack, AckResult, Capture, Deframer, Eye, Message, MessageType, ReaderState, Status, encode_message, pack_bits,
)
from drivers.iris.messages import CARD_ID
from firmware_stubs.cli_runner import run_stub
from firmware_stubs.iris_codes import IrisSimulator
from firmware_stubs.pty_port import PtyPort
from firmware_stubs.script_clock import script_origin
from firmware_stubs.firmware_thread import FirmwareThread

log = logging.getLogger(__name__)

KINDS = ("genuine", "impostor", "poor")
MAX_WAITING = 32


@dataclass(frozen=True)
class IrisEvent:
    """At `at_s` seconds: `present` (card_id, kind), `silent` or `resume`."""

    at_s: float
    action: str
    card_id: str = ""
    kind: str = ""


def parse_events(text: str) -> list[IrisEvent]:
    """Parse `SECONDS:present=CARD/KIND`, `SECONDS:silent`, `SECONDS:resume`; ValueError naming a bad entry."""
    events: list[IrisEvent] = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        at, sep, action = entry.partition(":")
        try:
            at_s = float(at) if sep else float("nan")
        except ValueError:
            raise ValueError(f"event {entry!r}: {at!r} is not a number of seconds") from None
        if not sep or at_s != at_s or at_s < 0:
            raise ValueError(f"event {entry!r}: expected SECONDS:ACTION, e.g. 3:present=CARD123/genuine")
        name, _, value = action.strip().partition("=")
        if name in ("silent", "resume") and not value:
            events.append(IrisEvent(at_s, name))
            continue
        if name != "present":
            raise ValueError(f"event {entry!r}: unknown action {name!r} (known: present=CARD/KIND, silent, resume)")
        card, _, kind = value.partition("/")
        if not CARD_ID.match(card) or kind not in KINDS:
            raise ValueError(f"event {entry!r}: present needs CARD/KIND, KIND one of {', '.join(KINDS)}")
        events.append(IrisEvent(at_s, "present", card, kind))
    return sorted(events, key=lambda e: e.at_s)


@dataclass
class ReaderConfig:
    """How the simulated reader is set up (times in seconds)."""

    heartbeat_period_s: float = 5.0
    ack_timeout_s: float = 2.0
    retries: int = 3
    seed: int = 0
    eye: Eye = Eye.RIGHT
    events: list[IrisEvent] = field(default_factory=list)


@dataclass
class Waiting:
    """A capture sent and not yet acknowledged."""

    seq: int
    capture: Capture
    deadline: float
    attempt: int = 0


class IrisReaderBase(FirmwareThread):
    """Thread, clock, scripted events, the capture generator and the retransmission schedule."""

    def __init__(self, config: ReaderConfig) -> None:
        self.config = config
        self.counters: Counter[str] = Counter()
        self.simulator = IrisSimulator(config.seed)
        self.silent = False
        self.waiting: dict[int, Waiting] = {}
        self._lock = threading.Lock()   # guards `waiting` (the MQTT ack arrives on paho's thread)
        self._events = list(config.events)
        self._seq = 0
        self._impostors = 0
        super().__init__()
        self._t0 = self._next_heartbeat = self._script_t0 = 0.0

    def _never_started(self) -> None:
        self._close()   # stopped without a start: still release the transport

    def run(self) -> None:
        """The firmware loop (blocks until stop())."""
        self._t0, self._script_t0 = time.monotonic(), script_origin()
        self._open()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                self._apply_events(now)
                if not self.silent:
                    self._tick(now)
                self._wait(0.05)
        finally:
            self._close()

    def next_seq(self) -> int:
        seq, self._seq = self._seq, (self._seq + 1) & 0xFFFF
        return seq

    def make_capture(self, card_id: str, kind: str) -> Capture:
        """What the camera and encoder produce for this presentation."""
        identity = card_id
        if kind == "impostor":
            self._impostors += 1
            identity = f"impostor-{self.config.seed}-{self._impostors}/{card_id}"
        sim = self.simulator.capture(identity, poor=kind == "poor")
        return Capture(card_id, datetime.now().astimezone().replace(microsecond=0), self.config.eye, sim.quality,
                       pack_bits(sim.code), pack_bits(sim.mask))

    def _apply_events(self, now: float) -> None:
        while self._events and self._events[0].at_s <= now - self._script_t0:
            event = self._events.pop(0)
            log.info("scripted event at %.1f s: %s %s %s", event.at_s, event.action, event.card_id, event.kind)
            self.counters[f"event_{event.action}" + (f"_{event.kind}" if event.kind else "")] += 1
            if event.action == "silent":
                self.silent = True
            elif event.action == "resume":
                self.silent = False
            else:
                self._queue(self.make_capture(event.card_id, event.kind), now)

    def _queue(self, capture: Capture, now: float) -> None:
        with self._lock:
            if len(self.waiting) >= MAX_WAITING:
                oldest = min(self.waiting.values(), key=lambda w: w.deadline)
                del self.waiting[oldest.seq]
                self.counters["captures_dropped"] += 1
            seq = self.next_seq()
            self.waiting[seq] = Waiting(seq, capture, now)   # due at once (or on resume)
        self.counters["captures"] += 1

    def _tick(self, now: float) -> None:
        with self._lock:
            due = [w for w in self.waiting.values() if w.deadline <= now]
            for w in due:
                w.deadline = now + self.config.ack_timeout_s * 2 ** min(w.attempt, self.config.retries)
                w.attempt += 1
        for w in sorted(due, key=lambda w: w.seq):
            self.counters["retransmissions" if w.attempt > 1 else "sent_capture"] += 1
            self._send_capture(w.seq, w.capture)
        if now >= self._next_heartbeat:
            with self._lock:
                pending = len(self.waiting)
            self._send_status(Status(int(now - self._t0), ReaderState.IDLE, 0, pending))
            self.counters["sent_status"] += 1
            self._next_heartbeat = now + self.config.heartbeat_period_s

    def on_ack(self, seq: int, result: AckResult) -> None:
        """The edge answered capture `seq`: stored or refused ends it; busy keeps the schedule."""
        with self._lock:
            if result is AckResult.BUSY:
                self.counters["acks_busy"] += 1
                return
            if self.waiting.pop(seq, None) is None:
                self.counters["acks_unmatched"] += 1
                return
            self.counters["acks_refused" if result is AckResult.REFUSED else "acks"] += 1

    # -- for subclasses --------------------------------------------------------------------------
    def _open(self) -> None: ...
    def _close(self) -> None: ...
    def _send_capture(self, seq: int, capture: Capture) -> None: ...
    def _send_status(self, status: Status) -> None: ...

    def _wait(self, timeout: float) -> None:
        self._stop.wait(timeout)


class SerialIrisReader(IrisReaderBase):
    """The reader on a pty, speaking the framed protocol; reads the edge's ACK frames."""

    def __init__(self, config: ReaderConfig, link: Path | None = None) -> None:
        super().__init__(config)
        self.port = PtyPort(link)
        self.deframer = Deframer()

    @property
    def name(self) -> str:
        return self.port.name

    def _close(self) -> None:
        self.port.close()

    def _write(self, frame: bytes) -> None:
        if not self.port.write(frame):
            self.counters["write_dropped"] += 1

    def _send_capture(self, seq: int, capture: Capture) -> None:
        self._write(encode_message(seq, capture))

    def _send_status(self, status: Status) -> None:
        self._write(encode_message(self.next_seq(), status))

    def _wait(self, timeout: float) -> None:
        if self.port.closed:
            self._stop.wait(timeout)
            return
        readable, _, _ = select.select([self.port], [], [], timeout)
        if readable:
            for message in self.deframer.feed(self.port.read()):
                self._on_message(message)

    def _on_message(self, message: Message) -> None:
        body = message.body
        if message.message_type == MessageType.ACK and isinstance(body, Ack) and body.acked_type == MessageType.CAPTURE:
            self.on_ack(body.acked_seq, body.result)
        else:
            self.counters["unexpected_messages"] += 1


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of `kouan sim iris`."""
    transport = parser.add_mutually_exclusive_group(required=True)
    transport.add_argument("--serial", action="store_true", help="create a pty and speak the framed protocol on it")
    transport.add_argument("--mqtt", metavar="URL", help="publish JSON captures to this broker (mqtt://host:port)")
    parser.add_argument("--link", type=Path, help="with --serial: keep a symlink PATH -> the pty")
    parser.add_argument("--lane", default="lane1", help="lane id for the MQTT topics (default lane1)")
    parser.add_argument("--device", default="iris1", help="device id for the MQTT topics (default iris1)")
    parser.add_argument("--events", default="", help='e.g. "3:present=CARD123/genuine,15:present=CARD999/poor"')
    parser.add_argument("--heartbeat-period", type=float, default=5.0, help="seconds between status messages")
    parser.add_argument("--ack-timeout", type=float, default=2.0, help="T: seconds before a capture is resent")
    parser.add_argument("--retries", type=int, default=3, help="doublings of T before the resend interval stays")
    parser.add_argument("--seed", type=int, default=0, help="seed of the capture noise (irises are fixed by card)")
    parser.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: run on)")


def run(args: argparse.Namespace) -> int:
    """Run the stub until Ctrl-C, SIGTERM or --duration; the link is removed, counters go to stderr."""
    try:
        config = ReaderConfig(args.heartbeat_period, args.ack_timeout, args.retries, args.seed,
                              events=parse_events(args.events))
    except ValueError as exc:
        print(f"kouan sim iris: {exc}", file=sys.stderr)
        return 2
    return run_stub(lambda: _make_stub(args, config), args.duration)


def _make_stub(args: argparse.Namespace, config: ReaderConfig) -> IrisReaderBase | None:
    """The serial or MQTT reader, its address printed on stdout; None (reason on stderr) if refused."""
    if args.serial:
        serial_stub = SerialIrisReader(config, link=args.link)
        print(serial_stub.name + (f" (linked as {args.link})" if args.link else ""), flush=True)
        return serial_stub
    from firmware_stubs.iris_reader_mqtt import MqttIrisReader
    try:
        mqtt_stub = MqttIrisReader(config, args.mqtt, args.lane, args.device)
    except ValueError as exc:
        print(f"kouan sim iris: {exc}", file=sys.stderr)
        return None
    print(f"publishing on {mqtt_stub.capture_topic} via {mqtt_stub.host}:{mqtt_stub.port}", flush=True)
    return mqtt_stub
