"""Passages built by the real edge from real stubs over a real Mosquitto: an under-vehicle camera,
an iris reader and a lock reader, all on MQTT, against an advance declaration from a file.

- A device going silent mid-passage: the passage waits out its deadline and is flagged with that
  device as the reason; nothing the others said is lost; when the device speaks again, what it
  held back joins the passage, which is decided again.
- The edge killed with SIGKILL mid-passage and started again finishes the passage: each device's
  reading in it once, one passage, the decision made once.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from edge.config import load_config
from firmware_stubs.iris_reader import ReaderConfig
from firmware_stubs.iris_reader import parse_events as iris_events
from firmware_stubs.iris_reader_mqtt import MqttIrisReader
from firmware_stubs.lock_events import parse_events as lock_events
from firmware_stubs.smart_lock import LockConfig
from firmware_stubs.smart_lock_mqtt import MqttSmartLock
from firmware_stubs.under_vehicle import CameraConfig, UnderVehicleCamera
from firmware_stubs.under_vehicle import parse_events as pass_events
from tests.conftest import Broker
from tests.lane_harness import EdgeThread, wait_until

ROOT = Path(__file__).resolve().parents[1]
DECLARATION = {"id": "D-7", "plate": "新F12345", "driver_card": "CARD123", "cargo": "machine parts",
               "containers": [{"number": "CSQU3054383", "lock_id": "SEAL-0001", "declared_empty": False}]}


def write_config(tmp: Path, broker: Broker, lane: str, iris_deadline_s: float) -> Path:
    (tmp / "declarations.jsonl").write_text(json.dumps(DECLARATION, ensure_ascii=False) + "\n", encoding="utf-8")
    path = tmp / "edge.toml"
    path.write_text(f"""
[lane]
id = "{lane}"
[store]
path = "edge.sqlite3"
[mqtt]
url = "{broker.url}"
[web]
port = 0
[passages]
declarations_file = "declarations.jsonl"
deadlines = {{ uvss = 30, iris = {iris_deadline_s}, lock = 30 }}
# analysis is off and nobody is enrolled in this test: those two reasons only inform here
inform = ["image_not_analysed", "iris_not_enrolled"]
[[devices]]
id = "uvss"
kind = "under_vehicle"
analyse = false
[[devices]]
id = "iris"
kind = "iris"
transport = "mqtt"
[[devices]]
id = "lock"
kind = "smart_lock"
transport = "mqtt"
""", encoding="utf-8")
    return path


class Stubs:
    """The three devices of one vehicle, each playing its script."""

    def __init__(self, broker: Broker, lane: str, uvss: str, iris: str, lock: str = "") -> None:
        self.camera = UnderVehicleCamera(CameraConfig(lane=lane, device="uvss", events=pass_events(uvss), scale=0.1),
                                         broker.url)
        self.iris = MqttIrisReader(ReaderConfig(events=iris_events(iris), heartbeat_period_s=1.0), broker.url, lane, "iris")
        self.lock = MqttSmartLock(LockConfig(lock_id="SEAL-0001", report_period_s=1.0, events=lock_events(lock)),
                                  broker.url, lane, "lock")

    def start(self) -> Stubs:
        for stub in (self.camera, self.iris, self.lock):
            stub.start()
        return self

    def stop(self) -> None:
        for stub in (self.camera, self.iris, self.lock):
            stub.stop()


def passages(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT id, state, declaration_id, reasons_json, decided_at, acted_by FROM passages "
                            "ORDER BY id").fetchall()
        out = []
        for pid, state, declaration, reasons, decided_at, acted_by in rows:
            observed = conn.execute("SELECT device_id, COUNT(*) FROM passage_observations WHERE passage_id=? "
                                    "GROUP BY device_id", (pid,)).fetchall()
            timeline = [r[0] for r in conn.execute("SELECT what FROM passage_timeline WHERE passage_id=? ORDER BY id",
                                                   (pid,))]
            out.append({"id": pid, "state": state, "declaration_id": declaration, "reasons": json.loads(reasons),
                        "decided_at": decided_at, "acted_by": acted_by, "observed": dict(observed),
                        "timeline": timeline})
    return out


def readings(db: Path, device: str, message: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM readings WHERE device_id=? AND message=?",
                                (device, message)).fetchone()[0])


def holding(passage: dict[str, Any]) -> list[str]:
    return [r["code"] for r in passage["reasons"] if r["holds"]]


@pytest.fixture
def lane_name(request: pytest.FixtureRequest) -> str:
    return f"pl-{request.node.name[5:30].replace('_', '-')}"


def test_a_device_silent_mid_passage_is_the_reason_and_loses_nothing(tmp_path: Path, mosquitto: Broker,
                                                                       lane_name: str) -> None:
    config = load_config(write_config(tmp_path, mosquitto, lane_name, iris_deadline_s=4))
    db = tmp_path / "edge.sqlite3"
    edge = EdgeThread(config).start()
    # the iris reader goes silent before the driver presents the card, and speaks again at 9 s
    stubs = Stubs(mosquitto, lane_name, "1:pass=新F12345/clean", "0.2:silent,1.5:present=CARD123/genuine,9:resume").start()
    try:
        wait_until(lambda: passages(db) and passages(db)[0]["state"] == "flagged", 20, what="the passage flagged")
        passage = passages(db)[0]
        assert holding(passage) == ["device_missing"]
        assert "iris did not report within 4 s" in passage["reasons"][0]["words"]
        assert passage["declaration_id"] == "D-7"
        assert passage["observed"] == {"uvss": 1, "lock": 1}  # what the others said is in the passage
        assert passage["decided_at"] is not None
        wait_until(lambda: passages(db)[0]["state"] == "released", 20, what="the held-back capture deciding it again")
        passage = passages(db)[0]
        assert passage["observed"] == {"uvss": 1, "lock": 1, "iris": 1} and holding(passage) == []
        assert passage["acted_by"] == "machine"
        assert readings(db, "iris", "capture") == 1 and len(passages(db)) == 1
    finally:
        stubs.stop()
        edge.stop()


def _start_edge(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "edge.cli", "edge", "--config", str(config)], cwd=ROOT, env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


def test_an_edge_killed_mid_passage_finishes_it_after_a_restart(tmp_path: Path, mosquitto: Broker,
                                                                  lane_name: str) -> None:
    config = write_config(tmp_path, mosquitto, lane_name, iris_deadline_s=40)
    db = tmp_path / "edge.sqlite3"
    log = tmp_path / "edge.log"
    edge = _start_edge(config, log)
    stubs = None
    try:
        wait_until(lambda: "terminal at" in log.read_text(errors="replace"), 30, what="the edge up")
        # the driver presents the card 6 s after the pass: the edge dies in between
        stubs = Stubs(mosquitto, lane_name, "0.5:pass=新F12345/clean", "7:present=CARD123/genuine").start()
        wait_until(lambda: passages(db) and passages(db)[0]["observed"].get("uvss") == 1, 20, what="the pass in a passage")
        assert passages(db)[0]["state"] == "open"
        edge.send_signal(signal.SIGKILL)
        edge.wait(10)
        time.sleep(3)  # the capture is sent while no edge is running; the broker keeps it for the edge's session
        edge = _start_edge(config, log)
        wait_until(lambda: passages(db)[0]["state"] == "released", 40, what="the passage finished after the restart")
        passage = passages(db)[0]
        assert len(passages(db)) == 1
        assert passage["observed"] == {"uvss": 1, "lock": 1, "iris": 1}
        assert readings(db, "uvss", "pass") == 1 and readings(db, "iris", "capture") == 1
        assert passage["timeline"].count("released") == 1 and passage["timeline"].count("arrival") == 1
        assert holding(passage) == []
    finally:
        if stubs is not None:
            stubs.stop()
        edge.send_signal(signal.SIGINT)
        try:
            edge.wait(15)
        except subprocess.TimeoutExpired:
            edge.kill()


def two_visits(tmp_path: Path, mosquitto: Broker, lane_name: str, second: str, model_check_when: str | None = None
               ) -> tuple[list[dict[str, Any]], UnderVehicleCamera, Path]:
    """A camera-only lane: plate 新F12345's tractor-trailer passes clean, then comes back as `second`
    (a pass option, e.g. "object=box/type=tractor_trailer"), each visit declared; the comparison runs,
    the model only with a `model_check_when`. Both passages once decided, the camera (for its truth), the store."""
    declarations = [{**DECLARATION, "id": f"D-{n}", "containers": [{"number": number, "declared_empty": True}]}
                    for n, number in ((1, "CSQU3054383"), (2, "MSKU1234565"))]
    config = load_config(write_config(tmp_path, mosquitto, lane_name, iris_deadline_s=5))
    lines = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in declarations)
    (tmp_path / "declarations.jsonl").write_text(lines, encoding="utf-8")
    config.devices = [d for d in config.devices if d.id == "uvss"]
    uvss = config.devices[0]
    uvss.analyse, uvss.model_check, uvss.compare = True, model_check_when is not None, True
    if model_check_when is not None:
        uvss.model_check_when = model_check_when  # type: ignore[assignment]
    config.passages.deadlines = {"uvss": 20}
    config.passages.declarations_file = tmp_path / "declarations.jsonl"
    db = tmp_path / "edge.sqlite3"
    edge = EdgeThread(config).start()
    camera = UnderVehicleCamera(CameraConfig(lane=lane_name, device="uvss", scale=0.25, events=pass_events(
        f"0.5:pass=新F12345/clean/type=tractor_trailer,6:pass=新F12345/{second}")), mosquitto.url)
    camera.start()
    try:
        wait_until(lambda: len(passages(db)) == 2 and passages(db)[1]["state"] not in ("open", "analysing"), 60,
                   what="both visits decided")
        return passages(db), camera, db
    finally:
        camera.stop()
        edge.stop()


def test_a_truck_back_with_something_under_it_is_held_for_what_changed(tmp_path: Path, mosquitto: Broker,
                                                                       lane_name: str) -> None:
    """The camera's passes are compared with the plate's last clean pass: the first visit informs
    (nothing to compare with) and is released; the next, with a box strapped under, is flagged with
    the region where the box is."""
    (first, second), camera, _ = two_visits(tmp_path, mosquitto, lane_name, "object=box/type=tractor_trailer")
    assert (first["state"], first["declaration_id"], holding(first)) == ("released", "D-1", [])
    assert [r["code"] for r in first["reasons"]] == ["no_reference"]
    assert (second["state"], second["declaration_id"]) == ("flagged", "D-2")
    assert holding(second) == ["foreign_object"]
    changed = next(r for r in second["reasons"] if r["code"] == "foreign_object")["evidence"]
    truth = camera.truth[1]
    assert truth.object_box is not None
    r0, r1, c0, c1 = truth.object_box
    assert any(x < c1 and c0 < x + w and y < r1 and r0 < y + h for x, y, w, h, _ in
               ((r["x"], r["y"], r["width"], r["height"], r["score"]) for r in changed["regions"])), (
        changed["regions"], truth.object_box)


def test_another_vehicle_under_a_known_plate_is_held_and_the_model_judges_it(tmp_path: Path, mosquitto: Broker,
                                                                               lane_name: str) -> None:
    """A cloned plate: a van comes with the plate of a tractor-trailer released earlier. Its pass does
    not register onto that clean pass, so the comparison says nothing about it: the passage holds for
    the mismatch, and the model (which `model_check_when = "no_reference"` skips for a plate on file)
    judges the image instead."""
    (first, second), _, db = two_visits(tmp_path, mosquitto, lane_name, "clean/type=van", "no_reference")
    assert first["state"] == "released", first["reasons"]
    assert (second["state"], second["declaration_id"]) == ("flagged", "D-2")
    assert "undercarriage_mismatch" in holding(second), second["reasons"]
    mismatch = next(r for r in second["reasons"] if r["code"] == "undercarriage_mismatch")
    assert mismatch["evidence"]["matched_fraction"] < 0.4
    with sqlite3.connect(db) as conn:
        said = [json.loads(row[0])["said"] for row in conn.execute(
            "SELECT observation_json FROM passage_observations WHERE passage_id=? AND device_id='uvss'",
            (second["id"],))]
    assert len(said) == 1 and "does not match the last clean pass" in said[0], said
    assert "model " in said[0] and "not run" not in said[0], said  # the model judged it
