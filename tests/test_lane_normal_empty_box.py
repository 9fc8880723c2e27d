"""A container lane learns its normal, end to end with real parts: the empty-box stub's pymodbus
RTU server on a real pty, its camera images through a real Mosquitto, the real edge with its
SQLite store and media files, the real `kouan` command.

The detector's camera model is "lane" and the lane has no model yet and no baseline: 44
containers declared empty are scanned empty, each image is recorded as not checked by a model,
and the machine releases them clean, so the lane keeps their images. `kouan model fit
--from-store` fits the empty-box kind's default (PatchCore on the pretrained backbone) on the
oldest 35 and judges it on the newest 9 and the shipped empty-box canaries against no model:
adopted as v1. Six containers declared empty that the detector found full were held, and the
hub's reviewer judged them suspicious (its verdicts applied as the uplink applies them): the
lane keeps them as confirmed finds, and the refit scores them with its candidate; all six sit
above the fit's threshold, so they leave it where it is. The running edge picks v1 up on the
next image, without a restart: a clean container stays clean with the model's figures, and a
full one gets regions on its image. A transmission image of the next container (a detector that
sends both kinds) is released clean but stays out of the camera model's normal.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from contract.uplink import VerdictWire
from edge.commands.demo_scenario import container_number
from edge.config import load_config
from edge.store import Store
from edge.uplink.verdicts import apply_verdict
from firmware_stubs.empty_box import DetectorConfig, DetectorEvent, EmptyBoxStub, parse_events
from tests.conftest import Broker
from tests.lane_harness import EdgeThread, wait_until

ROOT = Path(__file__).resolve().parents[1]
FIRST = 44
FOUND = 6
NUMBERS = [container_number("KOUU", 100 + i) for i in range(FIRST + FOUND + 3)]


class Detector(EmptyBoxStub):
    """The stub with one more truck on demand (the scripted ones run first)."""

    def arrive(self, number: str, content: str) -> None:
        with self._lock:
            self._events.append(DetectorEvent(0.0, "truck", number, content, True))


def write_config(tmp: Path, broker: Broker, link: Path) -> Path:
    declarations = [{"id": f"D-{n}", "plate": f"新F{i:05d}", "containers": [{"number": n, "declared_empty": True}]}
                    for i, n in enumerate(NUMBERS)]
    (tmp / "declarations.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in declarations),
                                            encoding="utf-8")
    path = tmp / "lane.toml"
    path.write_text(f"""
[lane]
id = "eb-normal-{time.time_ns() % 10**8}"
[store]
path = "edge.sqlite3"
[mqtt]
url = "{broker.url}"
[web]
port = 0
[passages]
declarations_file = "declarations.jsonl"
deadlines = {{ ebox = 30 }}
[kinds.empty_box]
pair_timeout_s = 10.0
[[devices]]
id = "ebox"
kind = "empty_box"
models = {{ camera = "lane" }}
modbus = {{ port = "{link}", poll_period_s = 0.1, timeout_s = 0.2 }}
[normal]
devices = ["ebox"]
min_images = 40
min_held_back = 8
models_dir = "models"
""", encoding="utf-8")
    return path


def query(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql, params).fetchall()


def analyses(db: Path) -> list[dict[str, Any]]:
    return [json.loads(r[0]) for r in query(db, "SELECT payload_json FROM readings WHERE device_id='ebox' AND "
                                                "message='analysis' ORDER BY id")]


@pytest.mark.timeout(600)
def test_a_container_lane_refits_its_camera_model_and_runs_it_without_a_restart(tmp_path: Path,
                                                                                 mosquitto: Broker) -> None:
    link = tmp_path / "ebox.tty"
    config_path = write_config(tmp_path, mosquitto, link)
    config = load_config(config_path)
    db, models = tmp_path / "edge.sqlite3", tmp_path / "models" / "ebox"
    edge = EdgeThread(config).start()
    script = ",".join(f"{1.0 + 0.9 * i:.1f}:truck={n}/{'full' if i >= FIRST else 'empty'}"
                      for i, n in enumerate(NUMBERS[:FIRST + FOUND]))
    stub = Detector(DetectorConfig(lane=config.lane.id, device="ebox", startup_s=0.3, trigger_s=0.2, scan_s=0.2,
                                   events=parse_events(script)), link=link, mqtt_url=mosquitto.url)
    stub.start()
    try:
        wait_until(lambda: query(db, "SELECT COUNT(*) FROM passages WHERE state IN ('released', 'flagged')")[0][0]
                   == FIRST + FOUND, 180, what=f"{FIRST + FOUND} containers decided")
        states = dict(query(db, "SELECT state, COUNT(*) FROM passages GROUP BY state"))
        reasons = query(db, "SELECT reason_word, COUNT(*) FROM passages GROUP BY reason_word")
        assert states == {"released": FIRST, "flagged": FOUND}, (states, reasons)
        assert query(db, "SELECT COUNT(*) FROM normal_images WHERE device_id='ebox'")[0][0] == FIRST
        before = analyses(db)
        assert len(before) == FIRST + FOUND
        assert all(a["model"] is None and "no model yet" in a["model_skipped"] for a in before)
        runtime = edge.runtime
        assert runtime is not None and runtime.normal is not None
        for cursor, (passage_id,) in enumerate(query(db, "SELECT id FROM passages WHERE state='flagged' ORDER BY id"), 1):
            wire = VerdictWire(cursor=cursor, lane=config.lane.id, passage_id=passage_id, verdict="suspicious",
                               note="cartons behind the doors", reviewer="rev-ana", stage="review",
                               decided_at=datetime.now(UTC))
            edge.call(runtime.store.call(Store.transact, apply_verdict, wire, config.lane.id, None, time.time(),
                                         [runtime.normal.retention]))
        assert [json.loads(r[0]) for r in query(db, "SELECT reasons FROM normal_finds WHERE device_id='ebox'")] == \
            [["not_empty"]] * FOUND

        proc = subprocess.run([sys.executable, "-m", "edge.cli", "model", "fit", "--from-store", "--config",
                               str(config_path), "--device", "ebox"], cwd=ROOT, capture_output=True, text=True,
                              timeout=400)
        assert proc.returncode == 0, proc.stderr[-3000:]
        first = json.loads(proc.stdout)
        new = first["candidate"]
        print(proc.stderr)
        print("container refit:", {k: new[k] for k in ("clean_flagged_n", "canary_found_n", "canary_auroc",
                                                       "threshold")}, f"{first['seconds']} s")
        assert first["adopted"] and first["version"] == "v1" and (first["fitted"], first["held_back"]) == (35, 9)
        assert first["current"]["model"] == "current: no model"
        assert new["clean_flagged_n"] == 0 and new["canary_n"] == 6 and new["canary_found_n"] == 6
        card = json.loads((models / "v1" / "card.json").read_text())
        assert "--backbone lite0 --method patchcore" in card["created_by"]  # the kind's fit
        assert (card["name"], card["version"]) == ("lane_ebox", "1.0.0")
        assert "6 canaries from" in card["metrics"]["held_out_set"]
        finds = first["finds"]  # every find above the fit's threshold: left where the rule put it
        print("finds:", {k: finds[k] for k in ("finds", "rule", "floor", "target", "threshold", "caught")})
        assert (finds["finds"], finds["caught"], finds["threshold"]) == (FOUND, FOUND, card["threshold"])
        assert finds["target"] > finds["rule"] == card["threshold"]

        # the running edge loads v1 before the next image: a clean container, then a full one
        stub.arrive(NUMBERS[FIRST + FOUND], "empty")
        wait_until(lambda: len(analyses(db)) == FIRST + FOUND + 1, 60, what="the next container analysed")
        stub.arrive(NUMBERS[FIRST + FOUND + 1], "full")
        wait_until(lambda: len(analyses(db)) == FIRST + FOUND + 2, 60, what="the full container analysed")
        clean, full = analyses(db)[-2:]
        print("after v1: clean", clean["score"], "full", full["score"], "threshold", card["threshold"])
        assert (clean["model"], clean["version"]) == ("lane_ebox", "1.0.0") and not clean["flagged"]
        assert full["flagged"] and full["regions"] and full["score"] > card["threshold"] > clean["score"]
        flagged = wait_until(lambda: next((p for p in edge.get("/api/passages")["items"]
                                           if p["state"] == "flagged"), None), 30, what="the full container held")
        assert flagged["containers"] == [NUMBERS[FIRST + FOUND + 1]]
        passage = edge.get(f"/api/passages/{flagged['id']}")
        reason = next(r for r in passage["reasons"] if r["code"] == "not_empty")
        assert reason["holds"] and reason["evidence"]["regions"]

        # the detector sends a transmission image of the next container: no model looks at that
        # kind here, the machine releases it, and the camera model's normal does not take it in
        released = FIRST + 1
        wait_until(lambda: query(db, "SELECT COUNT(*) FROM passages WHERE state='released'")[0][0] == released, 30,
                   what="the clean container after v1 released")
        assert query(db, "SELECT COUNT(*) FROM normal_images WHERE device_id='ebox'")[0][0] == released
        stub.config.image_kind = "transmission"
        stub.arrive(NUMBERS[FIRST + FOUND + 2], "empty")
        wait_until(lambda: query(db, "SELECT COUNT(*) FROM passages WHERE state='released'")[0][0] == released + 1,
                   60, what="the container with a transmission image released")
        labels = [json.loads(r[0])["images"][0]["label"] for r in query(
            db, "SELECT observation_json FROM passage_observations WHERE device_id='ebox' ORDER BY id DESC LIMIT 2")]
        assert labels == ["container interior (transmission)", "container interior (camera)"]
        assert query(db, "SELECT COUNT(*) FROM normal_images WHERE device_id='ebox'")[0][0] == released
    finally:
        stub.stop()
        edge.stop()
