"""A container empty-box detector that behaves like its firmware: Modbus RTU on a pty, images on MQTT.

The registers (drivers/empty_box.py) are served by pymodbus's own server with the RTU framer.
pymodbus opens its port by path and a pty's master side has none, so the server listens on a
loopback `socket://` port and this stub carries the bytes between it and the pty master: what
the edge reads on the pty are pymodbus's RTU frames, CRC and all. The carrier is also where a
device's line behaviour lives: requests for another unit id are ignored (an RS-485 bus is
shared), `silent` drops requests unanswered, `crc=N` spoils the CRC of the next N answers.

Firmware behaviour: status "starting" for `startup_s`, then "ready"; heartbeat and uptime
registers every second; a truck (scripted) starts a scan: sequence + 1, state triggered, then
scanning, then result ready with the verdict, and the interior image goes out on
`kouan/<lane>/<device>/image` with that sequence. The edge writing the sequence to holding
register 0 returns the state to idle. `error=N` is a fault (status 2, code N, a scan in
progress is lost); `error=0` or `clear` ends it; `restart` reboots (uptime, heartbeat and
sequence from 0).

Events: "3:truck=CSQU3054383/empty,12:truck=MSKU1234565/full,20:silent,25:resume,30:error=4";
a truck is NUMBER/CONTENT[/declared=empty|loaded|unknown], CONTENT empty, full or unknown.
The number's format is checked, its check digit is not (a misread can be scripted).
"""

from __future__ import annotations

import asyncio
import logging
import re
import select
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.empty_box import (
    CONTAINER_PATTERN, INPUT_COUNT, DeviceStatus, EmptyBoxReading, ImageKind, ScanState, Verdict,
    encode_image_message,
)
from firmware_stubs.empty_box_image import render_interior
from firmware_stubs.empty_box_mqtt import ImagePublisher
from firmware_stubs.pty_port import PtyPort
from firmware_stubs.script_clock import script_origin

log = logging.getLogger(__name__)

CHINA_TZ = timezone(timedelta(hours=8))
ACTIONS = ("truck", "silent", "resume", "error", "clear", "restart", "crc")
_TRUCK = re.compile(r"^(?P<number>[^/]+)/(?P<content>empty|full|unknown)(?:/declared=(?P<declared>empty|loaded|unknown))?$")


@dataclass(frozen=True)
class DetectorEvent:
    """At `at_s` seconds after start: `action` with its value (a truck: number, content, declared)."""

    at_s: float
    action: str
    number: str = ""
    content: str = ""
    declared: bool | None = None
    value: int = 0


def parse_events(text: str) -> list[DetectorEvent]:
    """Parse "SECONDS:ACTION[=VALUE]" entries, comma separated; ValueError naming a bad one."""
    events = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        at, sep, action = entry.partition(":")
        try:
            at_s = float(at)
        except ValueError:
            raise ValueError(f"event {entry!r}: {at!r} is not a number of seconds") from None
        if not sep:
            raise ValueError(f"event {entry!r}: expected SECONDS:ACTION, e.g. 3:truck=CSQU3054383/empty")
        name, eq, raw = action.strip().partition("=")
        if name not in ACTIONS:
            raise ValueError(f"event {entry!r}: unknown action {name!r} (known: {', '.join(ACTIONS)})")
        if name == "truck":
            match = _TRUCK.match(raw)
            if not match or not re.match(CONTAINER_PATTERN, match["number"]):
                raise ValueError(f"event {entry!r}: expected truck=NUMBER/empty|full|unknown[/declared=empty|loaded"
                                 "|unknown], NUMBER like CSQU3054383")
            declared = match["declared"] or {"empty": "empty", "full": "loaded"}.get(match["content"], "unknown")
            events.append(DetectorEvent(at_s, name, match["number"], match["content"],
                                        {"empty": True, "loaded": False}.get(declared)))
        elif name in ("error", "crc"):
            if not eq or not raw.isdigit() or int(raw) > 0xFFFF:
                raise ValueError(f"event {entry!r}: {name} needs a number 0-65535, e.g. {name}=4")
            events.append(DetectorEvent(at_s, name, value=int(raw)))
        elif eq:
            raise ValueError(f"event {entry!r}: {name} takes no value")
        else:
            events.append(DetectorEvent(at_s, name))
    return sorted(events, key=lambda e: e.at_s)


@dataclass
class DetectorConfig:
    """How the simulated detector is set up (times in seconds)."""

    unit: int = 1
    lane: str = "lane1"
    device: str = "ebox1"
    image_kind: str = "camera"          # or "transmission"
    startup_s: float = 2.0
    trigger_s: float = 0.3               # triggered -> scanning
    scan_s: float = 0.7                  # scanning -> result ready
    events: list[DetectorEvent] = field(default_factory=list)


class EmptyBoxStub:
    """The detector: pty (optionally linked), pymodbus RTU server, firmware loop, MQTT images."""

    def __init__(self, config: DetectorConfig, link: Path | None = None, mqtt_url: str | None = None) -> None:
        self.config = config
        self.port = PtyPort(link)
        self.counters: Counter[str] = Counter()
        self.publisher = ImagePublisher(mqtt_url, config.lane, config.device, self.counters) if mqtt_url else None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stopped = False
        self._events = list(config.events)
        self._t0 = 0.0
        self._boot = 0.0
        self._fault = 0
        self._silent = False
        self._spoil = 0
        self._phase_due: float | None = None
        self._scan: DetectorEvent | None = None
        self._reading = self._blank()
        self._ack = 0
        self._loop = asyncio.new_event_loop()
        self._server: ModbusSerialServer | None = None
        self._sock: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    @property
    def name(self) -> str:
        """The pty path a driver opens."""
        return self.port.name

    def reading(self) -> EmptyBoxReading:
        """What the input registers hold now."""
        with self._lock:
            return self._reading

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the server, the carrier and the firmware loop (and the MQTT client)."""
        loop_thread = threading.Thread(target=self._loop.run_forever, name="empty-box-modbus", daemon=True)
        loop_thread.start()
        self._threads.append(loop_thread)
        port = asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self._sock.setblocking(False)
        if self.publisher is not None:
            self.publisher.start()
        self._boot, self._t0 = time.monotonic(), script_origin()
        firmware = threading.Thread(target=self._run, name="empty-box-firmware", daemon=True)
        firmware.start()
        self._threads.append(firmware)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop everything and release the pty (its link is removed); a second call does nothing."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        for thread in self._threads[1:]:
            thread.join(timeout)
        if self._server is not None and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(timeout)
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._threads[0].join(timeout)
        if not self._loop.is_running():
            self._loop.close()
        if self._sock is not None:
            self._sock.close()
        if self.publisher is not None:
            self.publisher.stop()
        self.port.close()
        self._threads.clear()

    async def _serve(self) -> int:
        """pymodbus's server on a loopback port (RTU framer); returns the port."""
        blocks = ([SimData(0, datatype=DataType.BITS)], [SimData(0, datatype=DataType.BITS)],
                  [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)],
                  [SimData(0, count=INPUT_COUNT, values=0, datatype=DataType.REGISTERS, readonly=True)])
        device = SimDevice(self.config.unit, simdata=blocks, action=self._action)
        self._server = ModbusSerialServer(device, framer=FramerType.RTU, port="socket://127.0.0.1:0")
        await self._server.serve_forever(background=True)
        return int(self._server.transport.sockets[0].getsockname()[1])   # type: ignore[union-attr]

    async def _action(self, function: int, start: int, address: int, count: int, registers: list[int],
                      values: list[int] | list[bool] | None) -> None:
        """pymodbus asks on every access: serve our input registers, take the edge's acknowledgement."""
        with self._lock:
            if function == 0x04:
                registers[0:INPUT_COUNT] = self._reading.to_registers()
            elif values is not None and address <= 0 < address + len(values):
                self._acknowledge(int(values[-address]))
            self.counters[f"fc_0x{function:02x}"] += 1

    # -- the firmware loop ---------------------------------------------------------------------
    def _run(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            readable, _, _ = select.select([self.port, self._sock], [], [], 0.05)
            if self.port in readable:
                self._request(self.port.read())
            if self._sock in readable:
                self._answer()
            self._tick(time.monotonic())

    def _request(self, data: bytes) -> None:
        if not data:
            return
        self.counters["requests"] += 1
        if self._silent:
            self.counters["requests_unanswered"] += 1
        elif data[0] not in (0, self.config.unit):
            self.counters["requests_other_unit"] += 1
        else:
            assert self._sock is not None
            self._sock.sendall(data)

    def _answer(self) -> None:
        assert self._sock is not None
        try:
            data = self._sock.recv(4096)
        except BlockingIOError:
            return
        if not data:
            log.warning("empty-box stub: the Modbus server closed its connection")
            self._stop.set()
            return
        if self._spoil > 0:
            self._spoil -= 1
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
            self.counters["answers_spoiled"] += 1
        if self.port.write(data):
            self.counters["answers"] += 1

    def _tick(self, now: float) -> None:
        while self._events and self._events[0].at_s <= now - self._t0:
            self._apply(self._events.pop(0), now)
        with self._lock:
            self._advance(now)
            up = int(now - self._boot)
            status = DeviceStatus.FAULT if self._fault else (
                DeviceStatus.STARTING if now - self._boot < self.config.startup_s else DeviceStatus.READY)
            self._reading = _replace(self._reading, heartbeat=up & 0xFFFF, uptime_s=up, status=status,
                                     error_code=self._fault)

    def _apply(self, event: DetectorEvent, now: float) -> None:
        log.info("scripted event at %.1f s: %s %s", event.at_s, event.action, event.number or event.value or "")
        self.counters[f"event_{event.action}"] += 1
        with self._lock:
            if event.action == "truck":
                self._trigger(event, now)
            elif event.action == "silent":
                self._silent = True
            elif event.action == "resume":
                self._silent = False
            elif event.action in ("error", "clear"):
                self._fault = event.value
                if self._fault and self._scan is not None:
                    self._scan, self._phase_due = None, None
                    self._reading = _replace(self._reading, scan_state=ScanState.IDLE)
            elif event.action == "restart":
                self._boot, self._fault, self._scan, self._phase_due, self._ack = now, 0, None, None, 0
                self._reading = self._blank()
            elif event.action == "crc":
                self._spoil = event.value

    def _trigger(self, event: DetectorEvent, now: float) -> None:
        """A truck in position (caller holds the lock): a new sequence, unless the device cannot scan."""
        if self._fault or now - self._boot < self.config.startup_s:
            self.counters["scans_refused"] += 1
            log.warning("empty-box stub: truck %s not scanned (device %s)", event.number,
                        "in fault" if self._fault else "starting")
            return
        sequence = self._reading.sequence % 0xFFFF + 1
        self._scan, self._phase_due = event, now + self.config.trigger_s
        self._reading = _replace(self._reading, scan_state=ScanState.TRIGGERED, sequence=sequence,
                                 container=event.number, declared_empty=event.declared, verdict=Verdict.UNKNOWN,
                                 confidence=None, image=ImageKind.NONE,
                                 scan_time=datetime.now(CHINA_TZ).replace(microsecond=0))
        self.counters["scans"] += 1

    def _advance(self, now: float) -> None:
        """Triggered -> scanning -> result ready (caller holds the lock)."""
        if self._scan is None or self._phase_due is None or now < self._phase_due:
            return
        if self._reading.scan_state is ScanState.TRIGGERED:
            self._reading = _replace(self._reading, scan_state=ScanState.SCANNING)
            self._phase_due = now + self.config.scan_s
            return
        scan, self._scan, self._phase_due = self._scan, None, None
        verdict = {"empty": Verdict.EMPTY, "full": Verdict.NOT_EMPTY}.get(scan.content, Verdict.UNKNOWN)
        kind = ImageKind.TRANSMISSION_16BIT if self.config.image_kind == "transmission" else ImageKind.CAMERA_8BIT
        confidence = {Verdict.EMPTY: 0.97, Verdict.NOT_EMPTY: 0.99}.get(verdict)
        self._reading = _replace(self._reading, scan_state=ScanState.RESULT_READY, verdict=verdict,
                                 confidence=confidence, image=kind)
        if self.publisher is not None:
            image = render_interior(self.config.image_kind, full=scan.content == "full", seed=self._reading.sequence)
            assert self._reading.scan_time is not None
            self.publisher.publish(encode_image_message(
                image, sequence=self._reading.sequence, container=scan.number, kind=self.config.image_kind,
                time=self._reading.scan_time))

    def _acknowledge(self, sequence: int) -> None:
        """The edge stored `sequence` (caller holds the lock)."""
        self._ack = sequence
        self.counters["acks"] += 1
        if self._reading.scan_state is ScanState.RESULT_READY and sequence == self._reading.sequence:
            self._reading = _replace(self._reading, scan_state=ScanState.IDLE)

    def _blank(self) -> EmptyBoxReading:
        return EmptyBoxReading(device=self.config.device, heartbeat=0, uptime_s=0, status=DeviceStatus.STARTING,
                               error_code=0, scan_state=ScanState.IDLE, sequence=0, container=None,
                               declared_empty=None, verdict=Verdict.UNKNOWN, confidence=None, image=ImageKind.NONE,
                               scan_time=None)


def _replace(reading: EmptyBoxReading, **changes: object) -> EmptyBoxReading:
    return replace(reading, **changes)  # type: ignore[arg-type]
