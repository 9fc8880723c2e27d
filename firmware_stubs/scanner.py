"""A large container scanner: renders a scan, puts the file in the watched folder, publishes the notice.

Per scan: render (firmware_stubs.scanner_render), write `<scan id>.<ext>.part`, fsync, rename to the
final name (the folder rule), hash it, then publish the notice (QoS 1) on
`kouan/<lane>/<device>/notice`. Like a real scanner's outbox it keeps every notice until the broker
acknowledged it (PUBACK), keeps scanning while the link is down, and sends what waits after the
reconnect, oldest first (`firmware_stubs.mqtt_outbox`). Availability `online` / `offline` retained,
with `offline` as the Last Will.

Scripted events, "SECONDS:ACTION" separated by commas:
  scan=CSQU3054383/empty     one scan; containers joined by '+', cargo empty|cargo|cartons|drums|pallets,
  scan=TGHU1234567/cargo/dual   '/dual' for dual energy ("cargo" picks cartons, drums or pallets)
  scan=TGHU1234567/cargo/plate=新F12345   '/plate=PLATE': the plate read for this truck (default --plate)
  corrupt[=...]              a scan whose file no longer matches its notice (a byte flipped after hashing)
  silent / resume            the scanner stops publishing (scans still land in the folder, their notices
                             wait) / publishes again, what waited first
`kouan sim scanner --mqtt URL --lane L --device D --folder DIR --format tiff|png|dicos --events ... [--scale S]`
(also `python -m firmware_stubs.scanner ...`). SIGINT and SIGTERM stop it; counters go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path


from drivers.mqtt_url import parse_mqtt_url
from drivers.scanner import ScanNotice, availability_topic, file_name_for, notice_topic, sha256_path, write_into_folder
from drivers.scanner.notice import validate_container_number
from firmware_stubs.cli_runner import run_stub
from firmware_stubs.mqtt_outbox import MqttOutbox
from firmware_stubs.scanner_render import CARGO_KINDS, RenderRequest, render_scan
from firmware_stubs.script_clock import script_origin
from firmware_stubs.firmware_thread import FirmwareThread

log = logging.getLogger(__name__)

BUFFER_LIMIT = 1_000  # notices kept while the broker has not acknowledged them
ACTIONS = ("scan", "corrupt", "silent", "resume")
_PLATE = re.compile(r"^[\w·\- ]{1,16}$")  # what a notice accepts (drivers/scanner/notice.py)
LANE_TZ = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class ScannerEvent:
    """At `at_s` seconds after start: `action`, for scans with containers, cargo and energy."""

    at_s: float
    action: str
    containers: tuple[str, ...] = ("CSQU3054383",)
    cargo: str = "cartons"
    dual: bool = False
    plate: str | None = None  # the plate read for this scan; None: the scanner's --plate


def parse_scanner_events(text: str) -> list[ScannerEvent]:
    """Parse `SECONDS:ACTION[=CONTAINERS/CARGO[/dual][/plate=PLATE]]` entries; ValueError naming the bad one."""
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
        plates = [flag.removeprefix("plate=") for flag in parts[2:] if flag.startswith("plate=")]
        flags = [flag for flag in parts[2:] if not flag.startswith("plate=")]
        try:
            for number in containers:
                validate_container_number(number)
        except ValueError as exc:
            raise ValueError(f"event {entry!r}: {exc}") from None
        if cargo not in (*CARGO_KINDS, "cargo") or any(flag != "dual" for flag in flags):
            raise ValueError(f"event {entry!r}: cargo is one of {', '.join((*CARGO_KINDS, 'cargo'))}, "
                             "optionally followed by /dual and /plate=PLATE")
        if len(plates) > 1 or (plates and not _PLATE.match(plates[0])):
            raise ValueError(f"event {entry!r}: /plate=PLATE takes one plate of 1-16 letters, digits, '·', '-' "
                             "or spaces, e.g. plate=新F12345")
        events.append(ScannerEvent(at_s, name, containers, cargo, "dual" in flags, plates[0] if plates else None))
    return sorted(events, key=lambda e: e.at_s)


class MqttScanner(FirmwareThread):
    """The scanner firmware: a thread that runs the script, writes files and publishes notices."""

    stop_timeout_s = 10.0

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
        super().__init__("scanner-stub")
        self.outbox = MqttOutbox(
            client_id=f"kouan-scanner-{lane}-{device}", host=self.host, port=self.port, username=broker.username,
            password=broker.password, availability_topic=self.availability_topic, label=f"scanner {device}",
            topic=self.notice_topic, noun="notice", counters=self.counters, acked="notices_acked",
            dropped="notices_dropped", sent="notices_sent", limit=BUFFER_LIMIT)
        self.client = self.outbox.client

    @property
    def connected(self) -> bool:
        """Whether the link to the broker is up."""
        return self.outbox.connected

    @property
    def waiting(self) -> int:
        """Notices the broker has not acknowledged yet."""
        return self.outbox.waiting

    # -- life cycle ------------------------------------------------------------------------------
    def run(self) -> None:
        """The firmware loop: connect, run the script, keep sending what waits; blocks until stop()."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.outbox.start()
        t0 = script_origin()
        try:
            while not self._stop.is_set():
                while self._events and self._events[0].at_s <= time.monotonic() - t0:
                    self._apply(self._events.pop(0))
                if not self._silent:
                    self.outbox.send_waiting()
                self._stop.wait(0.05)
        finally:
            self.outbox.stop()

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
        cargo, plate = event.cargo, event.plate or self.plate
        if cargo == "cargo":
            cargo = ("cartons", "drums", "pallets")[(self.seed + number) % 3]
        started = time.perf_counter()
        planes = render_scan(RenderRequest(cargo, event.dual, self.scale, self.seed * 7919 + number))
        name = file_name_for(scan_id, self.format)
        path = write_into_folder(self.folder, name, planes, self.format, scan_id=scan_id, scan_time=moment,
                                 device=self.device, containers=event.containers, plate=plate)
        sha, size = sha256_path(path)
        height, width = planes[0].shape
        notice = ScanNotice(self.device, scan_id, event.containers, plate, moment, name, self.format, size,
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
        self.outbox.keep(scan_id, payload)
        return notice


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

    def made() -> MqttScanner:
        print(f"scanning into {args.folder}, notices on {stub.notice_topic} via {stub.host}:{stub.port}", flush=True)
        return stub

    return run_stub(made, args.duration)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _parser = argparse.ArgumentParser(prog="python -m firmware_stubs.scanner", description=__doc__.split("\n")[0])
    configure(_parser)
    sys.exit(run(_parser.parse_args()))
