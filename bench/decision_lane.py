"""The lane, the device stubs and the timing taps of `bench/passage_decision.py`.

The edge's config for each phase (iris enrolment, each plate's reference pass, the measured
run), the vehicles, the hand-over times, the bare paho round trip that is the baseline, and the
phases run before the measurement. Kept apart so that the bench itself is the measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drivers.iso6346 import iso6346_check_digit  # noqa: E402
from edge.config import EdgeConfig  # noqa: E402
from edge.kinds.iris.enrol_store import enrol_card  # noqa: E402
from edge.media import MediaStore  # noqa: E402
from firmware_stubs import scanner as scanner_stub  # noqa: E402
from firmware_stubs.empty_box import DetectorConfig, EmptyBoxStub  # noqa: E402
from firmware_stubs.empty_box import parse_events as ebox_events  # noqa: E402
from firmware_stubs.iris_reader import ReaderConfig  # noqa: E402
from firmware_stubs.iris_reader import parse_events as iris_events  # noqa: E402
from firmware_stubs.iris_reader_mqtt import MqttIrisReader  # noqa: E402
from firmware_stubs.scanner import MqttScanner, parse_scanner_events  # noqa: E402
from firmware_stubs.smart_lock import LockConfig  # noqa: E402
from firmware_stubs.smart_lock_mqtt import MqttSmartLock  # noqa: E402
from firmware_stubs.under_vehicle import CameraConfig, UnderVehicleCamera  # noqa: E402
from firmware_stubs.under_vehicle import parse_events as pass_events  # noqa: E402
from tests.lane_harness import EdgeThread  # noqa: E402

LANE = "bench-decision"
DEVICES = ("lock", "iris", "ebox", "scanner", "uvss")
DECIDED = ("clear", "flagged", "released")
TRAILER_MM = 17_000.0      # mid-range tractor-trailer length (firmware_stubs.undercarriage: 16-18 m)
IMAGE_LINES = 2048
# seconds into a vehicle's slot at which each device is scripted; a stub's own work (rendering)
# comes on top, so the hand-overs are measured, not assumed
OFFSETS = {
    "uvss-last": {"lock": 0.0, "iris": 0.1, "scanner": 0.15, "ebox": 0.2, "uvss": 0.5},
    "uvss-first": {"uvss": 0.0, "lock": 1.1, "iris": 1.15, "scanner": 1.2, "ebox": 1.25},
}

@dataclass
class Vehicle:
    index: int
    plate: str
    container: str
    lock: str
    card: str

    @property
    def declaration(self) -> str:
        return f"D-{self.index:04d}"


@dataclass
class Times:
    """Hand-overs (monotonic s) per vehicle and device, and what the decision listener saw."""

    handed: dict[int, dict[str, float]] = field(default_factory=dict)
    extra: dict[int, dict[str, float]] = field(default_factory=dict)   # ebox image, scanner rename
    sizes: dict[int, int] = field(default_factory=dict)
    last_payload: dict[int, bytes] = field(default_factory=dict)
    decided: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    image_sha: dict[str, int] = field(default_factory=dict)               # pass image SHA-256 -> vehicle
    media_put: dict[int, tuple[float, float]] = field(default_factory=dict)  # vehicle -> put_bytes start, end
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, index: int | None, device: str, at: float, extra: bool = False) -> None:
        if index is None:
            return
        with self.lock:
            target = (self.extra if extra else self.handed).setdefault(index, {})
            target.setdefault(device, at)   # a re-send later does not move the first hand-over


def make_vehicles(n: int) -> list[Vehicle]:
    out = []
    for k in range(n):
        ten = f"KOUU{200000 + k:06d}"
        out.append(Vehicle(k, f"新F{30000 + k:05d}", ten + str(iso6346_check_digit(ten)), f"SEAL-{k:04d}",
                           f"CARD{k:04d}"))
    return out


# ---------------------------------------------------------------- broker and MQTT helpers

CHECKS = {"compare": (False, True), "model": (True, False), "both": (True, True)}   # model_check, compare


def tap(client: mqtt.Client, topic: str, seen: Callable[[float, bytes], None]) -> None:
    """Note when each publish on `topic` returns (the stub's own client, wrapped in place)."""
    original = client.publish

    def publish(t: str, payload: Any = None, qos: int = 0, retain: bool = False, properties: Any = None) -> Any:
        info = original(t, payload, qos, retain, properties)
        if t == topic:
            seen(time.monotonic(), payload if isinstance(payload, bytes) else str(payload).encode())
        return info

    client.publish = publish  # type: ignore[method-assign]


def connected_client(port: int, name: str, on_message: Callable[..., None] | None = None,
                     subscribe: str | None = None) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{name}-{time.time_ns()}")
    ready = threading.Event()
    if subscribe is not None:
        client.on_connect = lambda c, *_: c.subscribe(subscribe, qos=1)
        client.on_subscribe = lambda *_: ready.set()
    else:
        client.on_connect = lambda *_: ready.set()
    if on_message is not None:
        client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not ready.wait(10):
        raise TimeoutError(f"{name}: no connection to the broker")
    return client


class RoundTrip:
    """The baseline: bare paho publish -> on_message, QoS 1, same broker, same process."""

    def __init__(self, port: int) -> None:
        self.topic = f"kouanbench/{LANE}/rtt"
        self._got = threading.Event()
        self._at = 0.0
        self.sub = connected_client(port, "bench-rtt-sub", self._on_message, self.topic)
        self.pub = connected_client(port, "bench-rtt-pub")

    def _on_message(self, *_: Any) -> None:
        self._at = time.monotonic()
        self._got.set()

    def once(self, payload: bytes) -> float:
        self._got.clear()
        self.pub.publish(self.topic, payload, qos=1)
        start = time.monotonic()
        if not self._got.wait(10):
            raise TimeoutError("baseline message not received")
        return self._at - start

    def close(self) -> None:
        for client in (self.pub, self.sub):
            client.disconnect()
            client.loop_stop()


# ---------------------------------------------------------------- stubs with their hand-overs noted

class TimedEmptyBox(EmptyBoxStub):
    """The empty-box stub, noting when a scan's result became readable in its input registers."""

    def __init__(self, *args: Any, on_result: Callable[[str, float], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_result = on_result
        self._noted = 0

    def _tick(self, now: float) -> None:
        super()._tick(now)   # the register lock is let go when this returns: a poll can read the result
        reading = self._reading
        if reading.scan_state.name == "RESULT_READY" and reading.sequence != self._noted:
            self._noted = reading.sequence
            self._on_result(reading.container or "", time.monotonic())


def lane_config(tmp: Path, port: int, enrol_phase: bool, model: str, check: str = "model",
                reference_phase: bool = False) -> EdgeConfig:
    common = {"lane": {"id": LANE}, "store": {"path": str(tmp / "edge.sqlite3")},
              "mqtt": {"url": f"mqtt://127.0.0.1:{port}"}, "web": {"host": "127.0.0.1", "port": 0}}
    if enrol_phase:   # the iris reader is not waited for, so its captures open no passage
        return EdgeConfig.model_validate({**common, "passages": {"deadlines": {"uvss": 30}}, "devices": [
            {"id": "uvss", "kind": "under_vehicle", "analyse": False},
            {"id": "iris", "kind": "iris", "transport": "mqtt"}]})
    model_check, compare = CHECKS[check]
    uvss = {"id": "uvss", "kind": "under_vehicle", "analyse": True, "model": model, "model_check": model_check,
            "compare": compare}
    if reference_phase:   # the camera alone: each plate's first (reference) pass
        return EdgeConfig.model_validate({**common, "passages": {
            "deadlines": {"uvss": 30}, "declarations_file": str(tmp / "references.jsonl")}, "devices": [uvss]})
    return EdgeConfig.model_validate({
        **common,
        "passages": {"deadlines": {d: 30 for d in DEVICES}, "declarations_file": str(tmp / "declarations.jsonl")},
        "devices": [
            uvss,
            {"id": "iris", "kind": "iris", "transport": "mqtt"},
            {"id": "lock", "kind": "smart_lock", "transport": "mqtt"},
            {"id": "ebox", "kind": "empty_box",
             "modbus": {"port": str(tmp / "ebox.tty"), "poll_period_s": 0.2, "timeout_s": 0.2}},
            {"id": "scanner", "kind": "scanner", "folder": str(tmp / "scans"), "poll_period_s": 0.2}]})


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.02)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def enrol(tmp: Path, port: int, vehicles: list[Vehicle]) -> float:
    """Two genuine captures per card through a first run of the edge, then each card enrolled; seconds."""
    start = time.monotonic()
    config = lane_config(tmp, port, True, "")
    edge = EdgeThread(config).start()
    script = ",".join(f"{0.3 + 0.04 * i:.2f}:present={v.card}/genuine" for i, v in
                      enumerate(v for v in vehicles for _ in range(2)))
    reader = MqttIrisReader(ReaderConfig(events=iris_events(script), heartbeat_period_s=1.0, seed=11),
                            f"mqtt://127.0.0.1:{port}", LANE, "iris")
    try:
        reader.start()
        wait_for(lambda: reader.counters["acks"] >= 2 * len(vehicles), 60, "the enrolment captures stored")
        for v in vehicles:
            enrol_card(config, v.card, 2, device_id="iris", who="bench")
    finally:
        reader.stop()
        edge.stop()
    return time.monotonic() - start


def references(args: argparse.Namespace, tmp: Path, port: int, vehicles: list[Vehicle]
               ) -> tuple[float, dict[str, str], dict[str, list[str]]]:
    """Each plate's first pass, clean, through an edge with the camera alone. Seconds, plate -> the
    reference pass's image SHA-256, and plate -> the holding reasons of each reference the machine did
    not release (a check's false alarm on a clean first pass: that plate has no reference)."""
    start = time.monotonic()
    plates = {f"R-{v.index:04d}": v.plate for v in vehicles}   # each reference pass's own declaration
    (tmp / "references.jsonl").write_text("".join(json.dumps({
        "id": rid, "plate": plate, "cargo": "empty container"}, ensure_ascii=False) + "\n"
        for rid, plate in plates.items()), encoding="utf-8")
    decided: dict[str, dict[str, Any]] = {}

    def on_passage(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            passage = json.loads(message.payload)
        except ValueError:
            return
        if passage.get("state") in DECIDED and passage.get("declaration_id") in plates:
            decided.setdefault(passage["declaration_id"], passage)

    listener = connected_client(port, "bench-references", on_passage, f"kouan/{LANE}/passages/+")
    edge = EdgeThread(lane_config(tmp, port, False, args.model, args.check, reference_phase=True)).start()
    url = f"mqtt://127.0.0.1:{port}"
    shas: dict[str, str] = {}
    camera = UnderVehicleCamera(CameraConfig(lane=LANE, device="uvss", scale=args.scale, events=pass_events(",".join(
        f"{1.0 + 1.0 * i:.2f}:pass={v.plate}/clean/type=tractor_trailer" for i, v in enumerate(vehicles)))), url)

    def pass_seen(_t: float, payload: bytes) -> None:
        header = json.loads(payload[8:8 + int.from_bytes(payload[4:8], "big")])
        shas.setdefault(str(header.get("plate")), str(header.get("sha256")))

    tap(camera.client, camera.pass_topic, pass_seen)
    try:
        assert edge.runtime is not None and edge.runtime.mqtt is not None
        if not edge.runtime.mqtt.wait_connected(10):
            raise RuntimeError("edge not connected to the broker")
        camera.start()
        wait_for(lambda: len(decided) == len(vehicles), 30 + 2.0 * len(vehicles), "every reference passage decided")
    finally:
        camera.stop()
        edge.stop()
        listener.disconnect()
        listener.loop_stop()
    held = {plates[k]: [r["code"] for r in p.get("reasons", []) if r.get("holds")] or [p["state"]]
            for k, p in sorted(decided.items()) if p["state"] != "released" or any(r.get("holds") for r in p["reasons"])}
    return time.monotonic() - start, shas, held


# ---------------------------------------------------------------- the measured run


def run(args: argparse.Namespace, tmp: Path, port: int, model: str, vehicles: list[Vehicle]) -> dict[str, Any]:
    """The measured run: the whole lane and every stub, one vehicle per slot, each hand-over and
    decision noted, a baseline round trip in each slot's idle time; the times and the baselines."""
    times = Times()
    by_plate = {v.plate: v.index for v in vehicles}
    by_card = {v.card: v.index for v in vehicles}
    by_lock = {v.lock: v.index for v in vehicles}
    by_container = {v.container: v.index for v in vehicles}
    by_declaration = {v.declaration: v.index for v in vehicles}
    (tmp / "declarations.jsonl").write_text("".join(json.dumps({
        "id": v.declaration, "plate": v.plate, "driver_card": v.card, "cargo": "empty container",
        "containers": [{"number": v.container, "lock_id": v.lock, "declared_empty": True}]},
        ensure_ascii=False) + "\n" for v in vehicles), encoding="utf-8")
    (tmp / "scans").mkdir()

    def on_passage(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        at = time.monotonic()
        try:
            passage = json.loads(message.payload)
        except ValueError:
            return
        if passage.get("state") in DECIDED and passage.get("declaration_id") in by_declaration:
            with times.lock:
                times.decided.setdefault(passage["declaration_id"], (at, passage))

    listener = connected_client(port, "bench-decisions", on_passage, f"kouan/{LANE}/passages/+")
    rtt = RoundTrip(port)
    edge = EdgeThread(lane_config(tmp, port, False, model, args.check)).start()
    assert edge.runtime is not None and edge.runtime.mqtt is not None
    if not edge.runtime.mqtt.wait_connected(10):
        raise RuntimeError("edge not connected to the broker")
    url = f"mqtt://127.0.0.1:{port}"
    offsets = OFFSETS[args.order]
    lead = 2.0

    def at(v: Vehicle, device: str) -> float:
        return lead + v.index * args.slot + offsets[device]

    camera = UnderVehicleCamera(CameraConfig(lane=LANE, device="uvss", scale=args.scale, events=pass_events(",".join(
        f"{at(v, 'uvss'):.2f}:pass={v.plate}/{'object=box' if v.index in args.object_indices else 'clean'}"
        f"/type=tractor_trailer" for v in vehicles))), url)
    iris = MqttIrisReader(ReaderConfig(events=iris_events(",".join(f"{at(v, 'iris'):.2f}:present={v.card}/genuine"
                                                                   for v in vehicles)), heartbeat_period_s=5.0,
                                       seed=23), url, LANE, "iris")
    ebox = TimedEmptyBox(DetectorConfig(lane=LANE, device="ebox", startup_s=0.3, trigger_s=0.1, scan_s=0.2,
                                        events=ebox_events(",".join(f"{at(v, 'ebox'):.2f}:truck={v.container}/empty"
                                                                    for v in vehicles))),
                         link=tmp / "ebox.tty", mqtt_url=url,
                         on_result=lambda number, t: times.note(by_container.get(number), "ebox", t))
    scanner = MqttScanner(url, LANE, "scanner", tmp / "scans", "tiff", parse_scanner_events(",".join(
        f"{at(v, 'scanner'):.2f}:scan={v.container}/empty" for v in vehicles)), scale=0.05, plate=None)

    def pass_seen(t: float, payload: bytes) -> None:
        header = json.loads(payload[8:8 + int.from_bytes(payload[4:8], "big")])
        index = by_plate.get(header.get("plate"))
        times.note(index, "uvss", t)
        if index is not None:
            times.image_sha[str(header.get("sha256"))] = index
            times.sizes.setdefault(index, len(payload))
            times.last_payload.setdefault(index, payload)

    tap(camera.client, camera.pass_topic, pass_seen)
    tap(iris.client, iris.capture_topic, lambda t, p: times.note(by_card.get(json.loads(p)["card_id"]), "iris", t))
    assert ebox.publisher is not None
    tap(ebox.publisher.client, ebox.publisher.topic, lambda t, p: times.note(
        by_container.get(json.loads(p[4:4 + int.from_bytes(p[:4], "big")]).get("container")), "ebox image", t, True))
    tap(scanner.client, scanner.notice_topic, lambda t, p: times.note(
        by_container.get((json.loads(p).get("containers") or [""])[0]), "scanner", t))
    original_write = scanner_stub.write_into_folder

    def write_noted(folder: Path, name: str, planes: Any, fmt: str, **kwargs: Any) -> Path:
        path = original_write(folder, name, planes, fmt, **kwargs)
        times.note(by_container.get(tuple(kwargs.get("containers") or ("",))[0]), "scanner rename",
                   time.monotonic(), True)
        return path

    scanner_stub.write_into_folder = write_noted  # type: ignore[assignment]
    # a timing probe only (the call itself unchanged): when the edge's intake stores each pass image
    original_put = MediaStore.put_bytes

    def put_timed(self: MediaStore, data: bytes, expected_sha256: str | None = None) -> Any:
        start = time.monotonic()
        try:
            return original_put(self, data, expected_sha256)
        finally:
            index = times.image_sha.get(str(expected_sha256))
            if index is not None:
                times.media_put.setdefault(index, (start, time.monotonic()))

    MediaStore.put_bytes = put_timed  # type: ignore[method-assign]
    stubs: list[Any] = [camera, iris, ebox, scanner]

    def baseline_payload(index: int) -> bytes:
        """The vehicle's last message: its pass (uvss-last); with uvss-first, the pass too (the largest)."""
        return times.last_payload[index]
    locks: list[MqttSmartLock] = []
    baseline: dict[int, float] = {}
    try:
        t0 = time.monotonic()
        for stub in stubs:
            stub.start()
        for v in vehicles:
            wait_until_t = t0 + at(v, "lock")
            time.sleep(max(0.0, wait_until_t - time.monotonic()))
            lock = MqttSmartLock(LockConfig(lock_id=v.lock, report_period_s=3600, heartbeat_period_s=3600),
                                 url, LANE, "lock")
            tap(lock.client, lock.report_topic, lambda t, p: times.note(by_lock.get(json.loads(p)["lock_id"]),
                                                                          "lock", t))
            lock.start()
            locks.append(lock)
            slot_end = t0 + lead + (v.index + 1) * args.slot - 0.15
            while time.monotonic() < slot_end and v.declaration not in times.decided:
                time.sleep(0.01)
            lock.stop()   # before the next vehicle's lock comes up under the same client id
            if v.declaration in times.decided and time.monotonic() < slot_end:
                baseline[v.index] = rtt.once(baseline_payload(v.index))
        wait_for(lambda: all(v.declaration in times.decided for v in vehicles), 40, "every decision")
        ended = time.monotonic()
        for v in vehicles:   # a vehicle whose decision came too late for its slot gets its baseline now
            if v.index not in baseline:
                baseline[v.index] = rtt.once(baseline_payload(v.index))
        counters = {d["id"]: d["counters"] for d in edge.get("/api/devices")}
    finally:
        scanner_stub.write_into_folder = original_write  # type: ignore[assignment]
        MediaStore.put_bytes = original_put  # type: ignore[method-assign]
        for stub in [*locks, *stubs]:
            try:
                stub.stop()
            except Exception as exc:   # keep stopping the others
                print(f"stopping {type(stub).__name__}: {exc}", file=sys.stderr)
        edge.stop()
        rtt.close()
        listener.disconnect()
        listener.loop_stop()
    return {"times": times, "baseline": baseline, "counters": counters, "seconds": ended - t0,
            "truth": camera.truth}
