"""The empty-box detector as a kind of the edge, end to end: the stub's pymodbus RTU server on a
real pty (the edge's poller on the other end), its images through a real Mosquitto, the real
edge (tests.lane_harness.EdgeThread) with its SQLite store and media store on disk."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from drivers.empty_box import ScanState, encode_image_message
from edge.config import ConfigError, EdgeConfig, load_config
from firmware_stubs.empty_box import DetectorConfig, EmptyBoxStub, parse_events
from firmware_stubs.empty_box_image import render_interior
from tests.conftest import Broker
from tests.lane_harness import EdgeThread, MqttListener, wait_until

LANE, DEVICE = "lane-t", "ebox"
EVENTS_TOPIC = f"kouan/{LANE}/events/empty_box"


class TracingStub(EmptyBoxStub):
    """The stub, noting for each acknowledgement whether the scan was already in the edge's store,
    and able to freeze its heartbeat register (a hung application that still answers)."""

    def __init__(self, *args: Any, db: Path, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.db = db
        self.acks_with_stored_scan: list[tuple[int, bool]] = []
        self.frozen: int | None = None

    def _acknowledge(self, sequence: int) -> None:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as db:
            stored = any(json.loads(p)["sequence"] == sequence for (p,) in db.execute(
                "SELECT payload_json FROM readings WHERE device_id=? AND message='scan'", (DEVICE,)))
        self.acks_with_stored_scan.append((sequence, stored))
        super()._acknowledge(sequence)

    def _tick(self, now: float) -> None:
        super()._tick(now)
        if self.frozen is not None:
            with self._lock:
                self._reading = replace(self._reading, heartbeat=self.frozen)


def edge_config(tmp: Path, broker: Broker, link: Path, models: dict[str, str] | None = None,
                passages: dict[str, Any] | None = None, **modbus: Any) -> dict[str, Any]:
    return {
        "passages": passages or {},
        "lane": {"id": LANE},
        "store": {"path": str(tmp / "edge.sqlite3")},
        "mqtt": {"url": broker.url},
        "web": {"host": "127.0.0.1", "port": 0},
        "kinds": {"empty_box": {"offline_after_s": 3.0, "heartbeat_stale_s": 2.5, "pair_timeout_s": 2.0}},
        "devices": [{"id": DEVICE, "kind": "empty_box", "models": models or {},
                     "modbus": {"port": str(link), "poll_period_s": 0.1, "timeout_s": 0.2, **modbus}}],
    }


@pytest.fixture
def lane(tmp_path: Path, mosquitto: Broker) -> Iterator[Callable[..., dict[str, Any]]]:
    parts: list[Any] = []

    def start(events: str, images: bool = True, **config: Any) -> dict[str, Any]:
        link = tmp_path / "ebox.tty"
        listener = MqttListener(mosquitto.host, mosquitto.port, EVENTS_TOPIC)
        parts.append(listener)
        edge = EdgeThread(EdgeConfig.model_validate(edge_config(tmp_path, mosquitto, link, **config))).start()
        parts.append(edge)
        assert edge.runtime is not None and edge.runtime.mqtt is not None
        assert edge.runtime.mqtt.wait_connected(10), "edge not connected to the broker"
        stub = TracingStub(DetectorConfig(lane=LANE, device=DEVICE, startup_s=0.3, trigger_s=0.3, scan_s=0.3,
                                          events=parse_events(events)),
                           link=link, mqtt_url=mosquitto.url if images else None, db=tmp_path / "edge.sqlite3")
        stub.start()
        parts.append(stub)
        return {"edge": edge, "stub": stub, "listener": listener, "db": tmp_path / "edge.sqlite3"}

    yield start
    for part in reversed(parts):
        part.close() if isinstance(part, MqttListener) else part.stop()


def device(edge: EdgeThread) -> dict[str, Any]:
    return next(d for d in edge.get("/api/devices") if d["id"] == DEVICE)


def event(parts: dict[str, Any], name: str, timeout: float = 30) -> dict[str, Any]:
    return parts["listener"].wait_for(lambda p: p.get("event") == name, timeout)[2]


def pairs(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT sequence, container, scan_reading_id, image_reading_id, image_sha256, closed "
                            "FROM empty_box_pairs ORDER BY sequence, id").fetchall()


def test_declared_empty_and_empty_is_confirmed(lane: Callable[..., dict[str, Any]]) -> None:
    parts = lane("1.0:truck=CSQU3054383/empty")
    confirmed = event(parts, "empty_confirmed")
    assert confirmed["subject"] == "CSQU3054383" and confirmed["kind"] == "empty_box" and confirmed["lane"] == LANE
    assert "declared empty, device says empty (0.97)" in confirmed["detail"] and confirmed["device_time"]
    edge, stub = parts["edge"], parts["stub"]
    wait_until(lambda: device(edge)["summary"] == "CSQU3054383: declared empty, device says empty (0.97)", 10,
               what="the summary")
    wait_until(lambda: stub.reading().scan_state is ScanState.IDLE, 10, what="the scan acknowledged")
    assert stub.acks_with_stored_scan == [(1, True)]
    # the edge counts the acknowledgement once its write returns, which may be after the stub saw it
    wait_until(lambda: device(edge)["counters"]["acks"] == 1, 10, what="the edge counting its acknowledgement")
    assert device(edge)["online"]


def test_declared_empty_but_full_is_not_empty_with_its_image_stored_and_paired(
        lane: Callable[..., dict[str, Any]]) -> None:
    parts = lane("1.0:truck=CSQU3054383/full/declared=empty")
    not_empty = event(parts, "not_empty")
    assert not_empty["subject"] == "CSQU3054383"
    assert "declared empty, device says not empty (0.99)" in not_empty["detail"]
    edge = parts["edge"]
    row = wait_until(lambda: next((r for r in pairs(parts["db"]) if r[5] == 1), None), 15, what="scan and image paired")
    sequence, container, scan_id, image_id, sha, _ = row
    assert (sequence, container) == (1, "CSQU3054383") and scan_id and image_id
    assert edge.runtime.media.has(sha)
    with edge.runtime.media.open(sha, verify=True) as stored:   # verify: its bytes hash to its name
        assert stored.read(8) == b"\x89PNG\r\n\x1a\n"
    with sqlite3.connect(f"file:{parts['db']}?mode=ro", uri=True) as db:
        (payload,) = db.execute("SELECT payload_json FROM readings WHERE id=?", (image_id,)).fetchone()
    meta = json.loads(payload)
    assert meta["sha256"] == sha and meta["sequence"] == 1 and "data" not in meta  # metadata and hash only
    assert device(edge)["summary"] == "CSQU3054383: declared empty, device says not empty (0.99)"


def test_a_result_is_acknowledged_only_after_it_is_stored(lane: Callable[..., dict[str, Any]]) -> None:
    parts = lane("1.0:truck=CSQU3054383/empty")
    edge, stub = parts["edge"], parts["stub"]
    gate = threading.Event()
    held = asyncio.run_coroutine_threadsafe(edge.runtime.store.call(lambda _store: gate.wait(60)), edge._loop)
    try:
        # the runtime's own status: the API's login needs the store, which this test holds on purpose
        wait_until(lambda: edge.runtime.status[DEVICE].counters["scans"] >= 1, 15, what="the scan submitted")
        wait_until(lambda: stub.counters["fc_0x04"] > 20, 10, what="more polls while the store is held")
        assert stub.reading().scan_state is ScanState.RESULT_READY and stub.counters["acks"] == 0
    finally:
        gate.set()
    held.result(10)
    wait_until(lambda: stub.reading().scan_state is ScanState.IDLE, 10, what="the acknowledgement")
    assert stub.acks_with_stored_scan and all(stored for _, stored in stub.acks_with_stored_scan)
    event(parts, "empty_confirmed")


def test_a_device_fault_raises_fault(lane: Callable[..., dict[str, Any]]) -> None:
    parts = lane("1.0:error=4")
    fault = event(parts, "fault")
    assert "safety interlock open" in fault["detail"] and "4" in fault["detail"]
    wait_until(lambda: "fault: safety interlock open" in device(parts["edge"])["summary"], 10, what="fault shown")


def test_a_scan_without_its_image_is_reported_after_the_timeout(lane: Callable[..., dict[str, Any]]) -> None:
    parts = lane("1.0:truck=CSQU3054383/empty", images=False)
    missing = event(parts, "image_missing")
    assert missing["subject"] == "CSQU3054383" and "scan 1" in missing["detail"]
    assert pairs(parts["db"])[0][5] == 2


def test_a_silent_device_goes_offline_with_a_reason_and_comes_back(lane: Callable[..., dict[str, Any]]) -> None:
    parts = lane("")
    edge, stub = parts["edge"], parts["stub"]
    wait_until(lambda: device(edge)["online"], 15, what="online")
    stub._silent = True   # the line goes quiet (as the scripted `silent` event does)
    down = wait_until(lambda: (d := device(edge)) and not d["online"] and d["last_error"] and d, 15, what="offline")
    assert "no answer" in down["last_error"]
    stub._silent = False
    wait_until(lambda: device(edge)["online"], 15, what="back online")
    stub.frozen = stub.reading().heartbeat   # answers, but the application is hung
    hung = wait_until(lambda: (d := device(edge)) and not d["online"] and d, 15, what="offline when hung")
    assert "heartbeat frozen" in hung["last_error"]
    stub.frozen = None
    wait_until(lambda: device(edge)["online"] and not device(edge)["last_error"], 15, what="online after the hang")


def test_an_image_with_a_lying_hash_is_refused_counted_and_intake_goes_on(
        lane: Callable[..., dict[str, Any]], mosquitto: Broker) -> None:
    parts = lane("2.0:truck=CSQU3054383/full/declared=empty")
    edge = parts["edge"]
    good = encode_image_message(render_interior("camera", full=False, seed=5), sequence=99, container="CSQU3054383",
                                kind="camera", time=datetime.now(UTC))
    (length,) = struct.unpack(">I", good[:4])
    header = json.loads(good[4:4 + length])
    header["sha256"] = "0" * 64
    lying = json.dumps(header).encode()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    try:
        client.publish(f"kouan/{LANE}/{DEVICE}/image", struct.pack(">I", len(lying)) + lying + good[4 + length:],
                       qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()
    wait_until(lambda: device(edge)["counters"]["bad_images"] == 1, 10, what="the lying image counted")
    event(parts, "not_empty")
    wait_until(lambda: device(edge)["counters"]["images_stored"] == 1, 15, what="the next image stored")
    assert not edge.runtime.media.has("0" * 64) and [r[0] for r in pairs(parts["db"])] == [1]


@pytest.mark.parametrize(("modbus", "field", "reason"), [
    ('parity = "X"', "devices[0].modbus.parity", "'N', 'E' or 'O'"),
    ("unit = 300", "devices[0].modbus.unit", "less than or equal to 247"),
    ("baud = 9600", "devices[0].modbus.baud", "Extra inputs are not permitted"),
])
def test_a_bad_modbus_field_names_the_file_and_the_field(tmp_path: Path, modbus: str, field: str, reason: str) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(f'[lane]\nid = "l1"\n\n[[devices]]\nid = "ebox"\nkind = "empty_box"\n\n[devices.modbus]\n'
                    f'port = "/dev/ttyUSB0"\n{modbus}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"config error in {path}:") and f"{field}: " in message and reason in message, message


def test_pairing_waits_for_whichever_half_comes_second_and_reports_a_lone_half(tmp_path: Path) -> None:
    """On the real store: image before scan, scan before image, and an image whose scan never came."""
    from edge.kinds.empty_box.pairing import MIGRATIONS, image_deriver, scan_deriver, timeout_deriver
    from edge.store import Store

    store = Store(tmp_path / "s.sqlite3", MIGRATIONS)
    scan = {"sequence": 4, "container": "CSQU3054383", "container_check_ok": True, "declared_empty": True,
            "verdict": 2, "confidence": 0.93, "scan_time": None}

    def record(key: str, derive: Any, at: float) -> list[Any]:
        recorded = store.record_reading(DEVICE, at, None, key, key, {}, None, derive, "empty_box")
        return recorded.derived.events

    assert record("img4", image_deriver(4, "CSQU3054383", "a" * 64, 2.0), 100.0) == []
    (raised,) = record("scan4", scan_deriver(scan, 2.0), 100.5)
    assert raised.event == "not_empty" and raised.subject == "CSQU3054383" and "a" * 64 in raised.detail
    assert record("scan5", scan_deriver({**scan, "sequence": 5, "verdict": 1}, 2.0), 101.0)[0].event == "empty_confirmed"
    assert record("img5", image_deriver(5, "CSQU3054383", "b" * 64, 2.0), 101.2) == []
    assert record("img6", image_deriver(6, None, "c" * 64, 2.0), 102.0) == []
    assert record("t1", timeout_deriver(2.0), 103.0) == []          # not yet over the timeout
    (lone,) = record("t2", timeout_deriver(2.0), 104.5)
    assert lone.event == "scan_missing" and "scan 6" in lone.detail
    store.close()
    assert [(r[0], r[4], r[5]) for r in pairs(tmp_path / "s.sqlite3")] == [(4, "a" * 64, 1), (5, "b" * 64, 1),
                                                                          (6, "c" * 64, 2)]


def test_a_misread_container_number_and_no_verdict_are_both_raised(lane: Callable[..., dict[str, Any]]) -> None:
    parts = lane("1.0:truck=CSQU3054384/unknown/declared=empty")
    invalid = event(parts, "container_number_invalid")
    assert invalid["subject"] == "CSQU3054384" and "ISO 6346 gives 3" in invalid["detail"]
    unknown = event(parts, "verdict_unknown")
    assert unknown["subject"] == "CSQU3054384" and "no verdict" in unknown["detail"]


def test_the_interior_model_draws_where_a_container_declared_empty_is_not(lane: Callable[..., dict[str, Any]],
                                                                         tmp_path: Path) -> None:
    """With a model for the camera images (the demo lane's, fitted on the stub's empty interiors), the
    passage of a container declared empty but full says so with regions on the interior image."""
    declared = {"id": "D-E", "plate": "新F12345", "containers": [{"number": "MSKU1234565", "declared_empty": True}]}
    (tmp_path / "declarations.jsonl").write_text(json.dumps(declared, ensure_ascii=False) + "\n", encoding="utf-8")
    parts = lane("1.0:truck=MSKU1234565/full/declared=empty", models={"camera": "demo_lane/empty_container"},
                 passages={"deadlines": {DEVICE: 20}, "declarations_file": str(tmp_path / "declarations.jsonl")})
    edge: EdgeThread = parts["edge"]

    def decided() -> dict[str, Any] | None:
        items = edge.get("/api/passages")["items"]
        return items[0] if items and items[0]["state"] == "flagged" else None

    summary = wait_until(decided, 30, what="the passage flagged")
    passage = edge.get(f"/api/passages/{summary['id']}")
    assert passage["declaration_id"] == "D-E"
    reason = next(r for r in passage["reasons"] if r["code"] == "not_empty")
    assert reason["holds"] and reason["evidence"]["regions"], reason
    (seen,) = passage["observations"]
    assert not seen["pending"] and seen["images"][0]["regions"] == reason["evidence"]["regions"]
    assert device(edge)["counters"]["interiors_analysed"] == 1
