"""The under-vehicle camera (UVSS) stub: scripted vehicle passes published as KUV1 messages over MQTT.

`kouan sim under-vehicle --mqtt URL --lane L --device D --events "2:pass=新F12345/clean,
8:pass=新F12345/object=box,14:pass=苏E88888/clean,20:silent,25:resume" [--encoding jpeg|png] [--scale S]`

Each pass renders the plate's own undercarriage (`firmware_stubs.undercarriage`, seeded by the
plate: the same plate looks the same every time) through the line-scan camera
(`firmware_stubs.line_scan`: new lateral offset, speed, speed change and noise every pass) and
publishes one QoS 1 message on `kouan/<lane>/<device>/pass` (`drivers.under_vehicle`). Like a real
camera it keeps every pass until the broker acknowledged it (bounded by bytes, oldest dropped and
counted) and sends what waits after a reconnect, in order. `silent` stops publishing (the uplink
stalls; passes are still captured and kept), `resume` sends what waited. Availability is a
retained "online" / "offline" with a Last Will. What each pass really contained (vehicle, offset,
the object and where it is in the image) is kept in `truth` for tests.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Literal

import cv2

from drivers.mqtt_url import parse_mqtt_url
from drivers.under_vehicle import availability_topic, check_plate, encode_pass, header_for, pass_topic
from firmware_stubs.cli_runner import run_stub
from firmware_stubs.line_scan import NOMINAL_MM_PER_LINE, PassConditions, scan
from firmware_stubs.mqtt_outbox import MqttOutbox
from firmware_stubs.script_clock import script_origin
from firmware_stubs.undercarriage import OBJECT_KINDS, VehicleType, add_object, draw_vehicle, plate_rng, vehicle_for
from firmware_stubs.firmware_thread import FirmwareThread

log = logging.getLogger(__name__)

CHINA_TZ = timezone(timedelta(hours=8))
BUFFER_LIMIT_BYTES = 512 * 1024 * 1024   # passes kept while the broker has not acknowledged them


@dataclass(frozen=True)
class PassEvent:
    """At `at_s` seconds after start: a vehicle passes (`action` "pass"), or the uplink goes silent / resumes."""

    at_s: float
    action: Literal["pass", "silent", "resume"]
    plate: str = ""
    object: str | None = None
    kind: VehicleType | None = None
    speed_kmh: float | None = None
    direction: Literal["forward", "reverse"] = "forward"


def parse_events(text: str) -> list[PassEvent]:
    """`SECONDS:pass=PLATE[/clean|/object=KIND][/type=TYPE][/speed=KMH][/reverse]`, `SECONDS:silent`,
    `SECONDS:resume`, comma-separated; a bad entry raises ValueError naming it."""
    events: list[PassEvent] = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        at, sep, action = entry.partition(":")
        try:
            at_s = float(at) if sep else float("nan")
        except ValueError:
            at_s = float("nan")
        if at_s != at_s or at_s < 0:
            raise ValueError(f"event {entry!r}: expected SECONDS:ACTION, e.g. 2:pass=新F12345/clean")
        if action in ("silent", "resume"):
            events.append(PassEvent(at_s, action))  # type: ignore[arg-type]
            continue
        if not action.startswith("pass="):
            raise ValueError(f"event {entry!r}: unknown action (known: pass=PLATE/..., silent, resume)")
        plate, *options = action[len("pass="):].split("/")
        try:
            check_plate(plate)
        except ValueError as exc:
            raise ValueError(f"event {entry!r}: {exc}") from None
        fields: dict[str, object] = {}
        for option in options:
            name, _, value = option.partition("=")
            if name == "clean" and not value:
                fields["object"] = None
            elif name == "object" and value in OBJECT_KINDS:
                fields["object"] = value
            elif name == "type" and value in {t.value for t in VehicleType}:
                fields["kind"] = VehicleType(value)
            elif name == "speed" and value.replace(".", "", 1).isdigit() and 1 <= float(value) <= 60:
                fields["speed_kmh"] = float(value)
            elif name == "reverse" and not value:
                fields["direction"] = "reverse"
            else:
                raise ValueError(f"event {entry!r}: bad option {option!r} (clean, object={'|'.join(OBJECT_KINDS)}, "
                                 f"type={'|'.join(t.value for t in VehicleType)}, speed=1-60, reverse)")
        events.append(PassEvent(at_s, "pass", plate, **fields))  # type: ignore[arg-type]
    return sorted(events, key=lambda e: e.at_s)


@dataclass(frozen=True)
class PassTruth:
    """What the stub put in front of the camera for one pass (ground truth the edge never sees)."""

    pass_id: str
    plate: str
    kind: VehicleType
    length_mm: float
    offset_px: int
    height: int
    object: str | None = None
    object_box: tuple[int, int, int, int] | None = None   # rows r0, r1, columns c0, c1 in the image


@dataclass
class CameraConfig:
    """How the simulated camera is set up."""

    lane: str = "lane1"
    device: str = "uv1"
    encoding: Literal["jpeg", "png"] = "jpeg"
    scale: float = 0.25        # fraction of the full line rate (1.0: 3 mm per line)
    jpeg_quality: int = 90
    events: list[PassEvent] = field(default_factory=list)


def render_pass(event: PassEvent, config: CameraConfig, pass_id: str, end: datetime) -> tuple[bytes, PassTruth]:
    """One pass message (KUV1 bytes) for `event`, scanned just now, and what it really showed."""
    vehicle = vehicle_for(event.plate, event.kind)
    canvas = draw_vehicle(vehicle, NOMINAL_MM_PER_LINE / config.scale)
    placed = add_object(canvas, vehicle, event.object) if event.object else None
    rng = plate_rng(config.device, pass_id)
    cond = PassConditions.draw(rng, event.speed_kmh, event.direction)
    result = scan(canvas, vehicle.length_mm, cond, rng, config.device)
    params = [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality] if config.encoding == "jpeg" else \
        [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buf = cv2.imencode(".jpg" if config.encoding == "jpeg" else ".png", result.image, params)
    if not ok:
        raise RuntimeError(f"pass {pass_id}: {config.encoding} encoding failed")
    image = buf.tobytes()
    confidence = float(rng.uniform(0.86, 0.99) if "\u4e00" <= event.plate[0] <= "\u9fff" else rng.uniform(0.7, 0.92))
    header = header_for(image, pass_id=pass_id, plate=event.plate, plate_confidence=round(confidence, 3),
                        speed_kmh=round(result.speed_kmh, 2), direction=cond.direction,
                        start_time=end - timedelta(seconds=result.duration_s), end_time=end,
                        line_rate_hz=round(result.line_rate_hz, 2))
    box = None
    if placed is not None:
        box = (*result.rows_of(placed.y0_mm, placed.y1_mm), *result.cols_of(placed.x0_mm, placed.x1_mm))
    truth = PassTruth(pass_id, event.plate, vehicle.kind, vehicle.length_mm, result.offset_px, result.image.shape[0],
                      event.object, box)
    return encode_pass(header, image), truth


class UnderVehicleCamera(FirmwareThread):
    """The camera firmware: a thread that renders scripted passes and publishes them with QoS 1."""

    def __init__(self, config: CameraConfig, url: str) -> None:
        broker = parse_mqtt_url(url)
        self.host, self.port = broker.host, broker.port
        self.config = config
        self.pass_topic = pass_topic(config.lane, config.device)
        self.availability_topic = availability_topic(config.lane, config.device)
        self.counters: Counter[str] = Counter()
        self.truth: list[PassTruth] = []
        self.outbox = MqttOutbox(
            client_id=f"kouan-uv-{config.lane}-{config.device}", host=self.host, port=self.port,
            username=broker.username, password=broker.password, availability_topic=self.availability_topic,
            label=f"camera {config.device}", topic=self.pass_topic, noun="pass", counters=self.counters,
            acked="passes_acked", dropped="passes_dropped", sent_bytes="bytes_sent", limit=BUFFER_LIMIT_BYTES,
            weigh=len)
        self.client = self.outbox.client
        self.silent = False
        super().__init__("UnderVehicleCamera")
        self._boot = datetime.now(CHINA_TZ).strftime("%Y%m%d%H%M%S")

    # -- life cycle --------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """Whether the link to the broker is up."""
        return self.outbox.connected

    @property
    def waiting(self) -> int:
        """Passes the broker has not acknowledged yet."""
        return self.outbox.waiting

    def run(self) -> None:
        """The firmware main loop (blocks until stop())."""
        t0 = script_origin()
        events = list(self.config.events)
        self.outbox.start()
        try:
            while not self._stop.is_set():
                while events and events[0].at_s <= time.monotonic() - t0 and not self._stop.is_set():
                    self._apply(events.pop(0))
                if not self.silent:
                    self.outbox.send_waiting()
                self._stop.wait(0.05)
        finally:
            self.outbox.stop()

    def _apply(self, event: PassEvent) -> None:
        self.counters[f"event_{event.action}"] += 1
        if event.action != "pass":
            log.info("scripted event at %.1f s: %s", event.at_s, event.action)
            self.set_silent(event.action == "silent")
            return
        n = self.counters["passes"]
        device = re.sub(r"[^A-Za-z0-9._:-]", "-", self.config.device)
        pass_id = f"{device}.{self._boot}.{n:05d}"[-64:].lstrip("._:-")
        message, truth = render_pass(event, self.config, pass_id, datetime.now(CHINA_TZ))
        self.counters["passes"] += 1
        self.truth.append(truth)
        log.info("pass %s: %s %s, %d lines, %s, %d bytes", pass_id, truth.plate, truth.kind.value, truth.height,
                 truth.object or "clean", len(message))
        self.outbox.keep(pass_id, message)

    def set_silent(self, silent: bool) -> None:
        """Stall the uplink (passes are still captured and kept) or let it send what waits."""
        self.silent = silent


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of `kouan sim under-vehicle`."""
    parser.add_argument("--mqtt", metavar="URL", required=True, help="broker to publish to (mqtt://host:port)")
    parser.add_argument("--lane", default="lane1", help="lane id for the MQTT topics (default lane1)")
    parser.add_argument("--device", default="uv1", help="device id for the MQTT topics (default uv1)")
    parser.add_argument("--events", default="", help='scripted passes, e.g. "2:pass=新F12345/clean,'
                        '8:pass=新F12345/object=box,20:silent,25:resume"')
    parser.add_argument("--encoding", choices=["jpeg", "png"], default="jpeg", help="image format (default jpeg)")
    parser.add_argument("--scale", type=float, default=0.25,
                        help="fraction of the full line rate (1.0 = 3 mm per line; default 0.25, 12 mm)")
    parser.add_argument("--jpeg-quality", type=int, default=90, help="JPEG quality 1-100 (default 90)")
    parser.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: run on)")


def run(args: argparse.Namespace) -> int:
    """Run the camera until Ctrl-C, SIGTERM or --duration; counters on stderr; 2 for bad arguments."""
    try:
        events = parse_events(args.events)
        if not 0.05 <= args.scale <= 1.0:
            raise ValueError(f"--scale {args.scale} must be between 0.05 and 1")
        if not 1 <= args.jpeg_quality <= 100:
            raise ValueError(f"--jpeg-quality {args.jpeg_quality} must be 1-100")
        config = CameraConfig(args.lane, args.device, args.encoding, args.scale, args.jpeg_quality, events)
        camera = UnderVehicleCamera(config, args.mqtt)
    except ValueError as exc:
        print(f"kouan sim: {exc}", file=sys.stderr)
        return 2

    def made() -> UnderVehicleCamera:
        print(f"publishing on {camera.pass_topic} via {camera.host}:{camera.port}", flush=True)
        return camera

    return run_stub(made, args.duration)
