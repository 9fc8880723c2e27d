"""A large container scanner: renders a scan, puts the file in the watched folder, publishes the notice.

Per scan: render (firmware_stubs.scanner_render), write `<scan id>.<ext>.part`, fsync, rename to the
final name (the folder rule), hash it, then publish the notice (QoS 1) on
`kouan/<lane>/<device>/notice`. Like a real scanner's outbox it keeps every notice until the broker
acknowledged it (PUBACK), keeps scanning while the link is down, and sends what waits after the
reconnect, oldest first. paho is called without the stub's lock held (its network thread holds its
own locks while it calls on_publish, which takes ours). Availability `online` / `offline` retained,
with `offline` as the Last Will.

Scripted events, "SECONDS:ACTION" separated by commas:
  scan=CSQU3054383/empty     one scan; containers joined by '+', cargo empty|cargo|cartons|drums|pallets,
  scan=TGHU1234567/cargo/dual   '/dual' for dual energy ("cargo" picks cartons, drums or pallets)
  corrupt[=...]              a scan whose file no longer matches its notice (a byte flipped after hashing)
  silent / resume            the scanner stops publishing (scans still land in the folder, their notices
                             wait) / publishes again, what waited first
`kouan sim scanner --mqtt URL --lane L --device D --folder DIR --format tiff|png|dicos --events ... [--scale S]`
(also `python -m firmware_stubs.scanner ...`). SIGINT and SIGTERM stop it; counters go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import FrameType

import paho.mqtt.client as mqtt

from drivers.mqtt_url import parse_mqtt_url
from drivers.scanner import ScanNotice, availability_topic, file_name_for, notice_topic, sha256_path, write_into_folder
from drivers.scanner.notice import validate_container_number
from firmware_stubs.scanner_render import CARGO_KINDS, RenderRequest, render_scan

log = logging.getLogger(__name__)

BUFFER_LIMIT = 1_000  # notices kept while the broker has not acknowledged them
ACTIONS = ("scan", "corrupt", "silent", "resume")
LANE_TZ = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class ScannerEvent:
    """At `at_s` seconds after start: `action`, for scans with containers, cargo and energy."""

    at_s: float
    action: str
    containers: tuple[str, ...] = ("CSQU3054383",)
    cargo: str = "cartons"
    dual: bool = False


def parse_scanner_events(text: str) -> list[ScannerEvent]:
    """Parse `SECONDS:ACTION[=CONTAINERS/CARGO[/dual]]` entries; ValueError naming the bad one."""
    events: list[ScannerEvent] = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        at, sep, action = entry.partition(":")
        try:
            at_s = float(at) if sep else float("nan")
        except ValueError:
            raise ValueError(f"event {entry!r}: {at!r} is not a number of seconds") from None
        if not sep or at_s != at_s or at_s < 0:
            raise ValueError(f"event {entry!r}: expected SECONDS:ACTION, e.g. 2:scan=CSQU3054383/empty")
        name, eq, spec = action.strip().partition("=")
        if name not in ACTIONS:
            raise ValueError(f"event {entry!r}: unknown action {name!r} (known: {', '.join(ACTIONS)})")
        if name in ("silent", "resume"):
            if eq:
                raise ValueError(f"event {entry!r}: {name} takes no value")
            events.append(ScannerEvent(at_s, name))
            continue
        if name == "scan" and not eq:
            raise ValueError(f"event {entry!r}: scan needs CONTAINERS/CARGO, e.g. scan=CSQU3054383/cargo")
        parts = spec.split("/") if eq else ["CSQU3054383", "cartons"]
        containers = tuple(filter(None, parts[0].split("+")))
        cargo = parts[1] if len(parts) > 1 else "cartons"
        flags = parts[2:]
        try:
            for number in containers:
                validate_container_number(number)
        except ValueError as exc:
            raise ValueError(f"event {entry!r}: {exc}") from None
        if cargo not in (*CARGO_KINDS, "cargo") or any(flag != "dual" for flag in flags):
            raise ValueError(f"event {entry!r}: cargo is one of {', '.join((*CARGO_KINDS, 'cargo'))}, "
                             "optionally followed by /dual")
        events.append(ScannerEvent(at_s, name, containers, cargo, "dual" in flags))
    return sorted(events, key=lambda e: e.at_s)


class MqttScanner:
    """The scanner firmware: a thread that runs the script, writes files and publishes notices."""

    def __init__(self, url: str, lane: str, device: str, folder: Path, fmt: str, events: list[ScannerEvent], *,
                 scale: float = 0.1, plate: str | None = "XJF12345", seed: int = 0) -> None:
        broker = parse_mqtt_url(url)
        self.host, self.port = broker.host, broker.port
        self.lane, self.device, self.folder, self.format = lane, device, Path(folder), fmt
        self.scale, self.plate, self.seed = scale, plate, seed
        self.notice_topic = notice_topic(lane, device)
        self.availability_topic = availability_topic(lane, device)
        self.counters: Counter[str] = Counter()
        self.written: list[ScanNotice] = []  # every notice made, in order (for tests and the log)
        self._events = list(events)
        self._silent = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._waiting: OrderedDict[str, bytes] = OrderedDict()  # scan id -> notice not yet acknowledged
        self._handed: dict[int, str] = {}  # paho message id -> scan id paho holds
        self._acked_early: set[int] = set()
        self.connected = False
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"kouan-scanner-{lane}-{device}")
        if broker.username:
            self.client.username_pw_set(broker.username, broker.password)
        self.client.will_set(self.availability_topic, "offline", qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish

    # -- paho callbacks (paho's thread; short, never call paho under our lock) -------------------
    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason_code: mqtt.ReasonCode,
                    _p: object) -> None:
        if reason_code.is_failure:
            log.warning("scanner %s: MQTT connection refused: %s", self.device, reason_code)
            return
        client.publish(self.availability_topic, "online", qos=1, retain=True)
        with self._lock:
            self.connected = True

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason_code: mqtt.ReasonCode,
                       _p: object) -> None:
        with self._lock:
            if self.connected:
                log.warning("scanner %s: MQTT link lost (%s); %d notices waiting", self.device, reason_code,
                            len(self._waiting))
            self.connected = False

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, reason_code: mqtt.ReasonCode, _p: object) -> None:
        with self._lock:
            scan_id = self._handed.pop(mid, None)
            if reason_code.is_failure:
                return
            if scan_id is None:
                self._acked_early.add(mid)
            elif self._waiting.pop(scan_id, None) is not None:
                self.counters["notices_acked"] += 1

    @property
    def waiting(self) -> int:
        """Notices the broker has not acknowledged yet."""
        with self._lock:
            return len(self._waiting)

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="scanner-stub", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run(self) -> None:
        """The firmware loop: connect, run the script, keep sending what waits; blocks until stop()."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.client.connect_async(self.host, self.port, keepalive=10)
        self.client.loop_start()
        t0 = time.monotonic()
        try:
            while not self._stop.is_set():
                while self._events and self._events[0].at_s <= time.monotonic() - t0:
                    self._apply(self._events.pop(0))
                if not self._silent:
                    self._send_waiting()
                self._stop.wait(0.05)
        finally:
            if self.connected:
                self.client.publish(self.availability_topic, "offline", qos=1, retain=True).wait_for_publish(2)
            self.client.disconnect()
            self.client.loop_stop()

    def _apply(self, event: ScannerEvent) -> None:
        log.info("scripted event at %.1f s: %s", event.at_s, event.action)
        self.counters[f"event_{event.action}"] += 1
        if event.action == "silent":
            self._silent = True
        elif event.action == "resume":
            self._silent = False
        else:
            self.scan(event)

    def scan(self, event: ScannerEvent) -> ScanNotice:
        """Render, write (part, rename), hash, keep the notice for publishing; `corrupt` spoils the file."""
        number = self.counters["scans"]
        self.counters["scans"] += 1
        moment = datetime.now(LANE_TZ).replace(microsecond=0)
        scan_id = f"{self.device}-{moment:%Y%m%d%H%M%S}-{number:04d}"
        cargo = event.cargo
        if cargo == "cargo":
            cargo = ("cartons", "drums", "pallets")[(self.seed + number) % 3]
        started = time.perf_counter()
        planes = render_scan(RenderRequest(cargo, event.dual, self.scale, self.seed * 7919 + number))
        name = file_name_for(scan_id, self.format)
        path = write_into_folder(self.folder, name, planes, self.format, scan_id=scan_id, scan_time=moment,
                                 device=self.device, containers=event.containers, plate=self.plate)
        sha, size = sha256_path(path)
        height, width = planes[0].shape
        notice = ScanNotice(self.device, scan_id, event.containers, self.plate, moment, name, self.format, size,
                            sha, "dual" if event.dual else "single", width, height)
        payload = notice.to_json()  # validated: the stub never announces what the edge must refuse
        if event.action == "corrupt":
            with open(path, "r+b") as f:  # one byte flipped mid-file (pixels): same size, other hash
                f.seek(size // 2)
                byte = f.read(1)
                f.seek(size // 2)
                f.write(bytes([byte[0] ^ 0xFF]))
            self.counters["scans_corrupted"] += 1
        log.info("scan %s (%s, %s, %d bytes) written in %.2f s", scan_id, cargo, notice.energy, size,
                 time.perf_counter() - started)
        self.written.append(notice)
        with self._lock:
            if len(self._waiting) >= BUFFER_LIMIT:
                lost, _ = self._waiting.popitem(last=False)
                self.counters["notices_dropped"] += 1
                log.warning("scanner %s: notice buffer full; dropped notice %s", self.device, lost)
            self._waiting[scan_id] = payload
        return notice

    def _send_waiting(self) -> None:
        """Hand paho every waiting notice it does not hold yet, oldest first, while the link is up."""
        with self._lock:
            if not self.connected:
                return
            held = set(self._handed.values())
            todo = [(scan_id, payload) for scan_id, payload in self._waiting.items() if scan_id not in held]
        for scan_id, payload in todo:
            info = self.client.publish(self.notice_topic, payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                break
            self.counters["notices_sent"] += 1
            with self._lock:
                if info.mid in self._acked_early:
                    self._acked_early.discard(info.mid)
                    if self._waiting.pop(scan_id, None) is not None:
                        self.counters["notices_acked"] += 1
                else:
                    self._handed[info.mid] = scan_id


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of `kouan sim scanner`."""
    parser.add_argument("--mqtt", metavar="URL", required=True, help="broker, mqtt://host:1883")
    parser.add_argument("--lane", default="lane1", help="lane id for the MQTT topics (default lane1)")
    parser.add_argument("--device", default="scanner1", help="device id for the MQTT topics (default scanner1)")
    parser.add_argument("--folder", type=Path, required=True, help="the watched folder the scans are written to")
    parser.add_argument("--format", choices=["tiff", "png", "dicos"], default="tiff", help="scan file format")
    parser.add_argument("--events", default="1:scan=CSQU3054383/cargo",
                        help='scripted events, e.g. "2:scan=CSQU3054383/empty,10:scan=MSKU1234565/cargo/dual,'
                             '20:corrupt,25:silent,30:resume"')
    parser.add_argument("--scale", type=float, default=0.1,
                        help="image size as a fraction of a full 5000 x 3000 scan (1.0: 30 MB, 60 MB dual)")
    parser.add_argument("--plate", default="XJF12345", help="plate the scanner's camera reads")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rendered cargo")
    parser.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: run on)")


def run(args: argparse.Namespace) -> int:
    """Run the scanner stub until SIGINT, SIGTERM or --duration; counters on stderr; 0, or 2 if refused."""
    try:
        events = parse_scanner_events(args.events)
        if not 0.01 <= args.scale <= 1.0:
            raise ValueError(f"--scale {args.scale}: between 0.01 and 1.0")
        stub = MqttScanner(args.mqtt, args.lane, args.device, args.folder, args.format, events, scale=args.scale,
                           plate=args.plate or None, seed=args.seed)
    except ValueError as exc:
        print(f"kouan sim scanner: {exc}", file=sys.stderr)
        return 2
    stopping = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(f"scanning into {args.folder}, notices on {stub.notice_topic} via {stub.host}:{stub.port}", flush=True)
    stub.start()
    try:
        deadline = time.monotonic() + args.duration if args.duration > 0 else None
        while not stopping.is_set() and (deadline is None or time.monotonic() < deadline):
            stopping.wait(0.2)
    finally:
        stub.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(dict(stub.counters), file=sys.stderr)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _parser = argparse.ArgumentParser(prog="python -m firmware_stubs.scanner", description=__doc__.split("\n")[0])
    configure(_parser)
    sys.exit(run(_parser.parse_args()))
