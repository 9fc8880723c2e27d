"""The lane learns its normal, end to end with real parts: a real edge over a real Mosquitto, its
SQLite store and media files, the under-vehicle stub's renders, the real `kouan` command.

60 passes of vehicles never seen before are released clean by the machine (the comparison has
nothing to compare them with, and the lane has no model yet), so the lane keeps their images.
`kouan model fit --from-store` then fits the lane's model on the oldest 48 and judges it on the
newest 12 and the shipped canaries against no model: adopted as v1, both figures on its card. A
model fitted on another scene (the empty-box stub's container interiors) is refused with the
figures of both, and so is v1 with a threshold that lets the fainter canaries through. Restarted with a schedule, the edge runs v1 on plates it has no clean pass of,
lets the comparison judge a plate it has one of, flags a canary-like object, and refits by
itself once enough new clean passes came in, and the lane terminal (in chromium) shows what the
camera runs and how that refit went; rollback returns to the version before.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest

from drivers.under_vehicle import encode_pass, header_for
from edge.config import load_config
from edge.normal.judge import Figures, judge
from firmware_stubs.empty_box_image import render_interior
from firmware_stubs.under_vehicle import CameraConfig, PassEvent, render_pass
from tests.browser_harness import chromium
from tests.conftest import Broker
from tests.lane_harness import EdgeThread, wait_until
from tests.test_lane_terminal_browser import log_in

ROOT = Path(__file__).resolve().parents[1]
SCALE = 0.05  # the line pitch the shipped canaries were made at (60 mm per line)
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))


def _canary_maker() -> Any:
    spec = importlib.util.spec_from_file_location("make_canaries", ROOT / "models/canaries/under_vehicle/make_canaries.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


PLATES = [f"京A{i:05d}" for i in range(74)] + ["京A00100", "京A00101", "鲁K71234"]


def write_config(tmp: Path, broker: Broker, lane: str, schedule: bool) -> Path:
    declarations = [{"id": f"D-{plate}", "plate": plate} for plate in PLATES]
    declarations.append({"id": "D-京A00003-again", "plate": "京A00003"})  # it comes back after the restart
    (tmp / "declarations.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in declarations),
                                            encoding="utf-8")
    path = tmp / "lane.toml"
    path.write_text(f"""
[lane]
id = "{lane}"
[store]
path = "edge.sqlite3"
[mqtt]
url = "{broker.url}"
client_id = "kouan-edge-{lane}"
[web]
port = 0
[passages]
declarations_file = "declarations.jsonl"
deadlines = {{ uv1 = 60 }}
[kinds.under_vehicle]
analysis_queue = 64
[[devices]]
id = "uv1"
kind = "under_vehicle"
model = "lane"
model_check_when = "no_reference"
[normal]
devices = ["uv1"]
keep_images = 200
min_images = 40
min_held_back = 8
min_new_images = 15
models_dir = "models"
{"refit_every_h = 0.0005" if schedule else ""}
""", encoding="utf-8")
    return path


class Camera:
    """Publishes KUV1 passes the way the stub camera does (QoS 1), with pass ids of our own so the
    renders, and so the fits, are the same at every run."""

    def __init__(self, broker: Broker, lane: str) -> None:
        self.topic = f"kouan/{lane}/uv1/pass"
        self.config = CameraConfig(lane=lane, device="uv1", scale=SCALE)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-camera-{lane}")
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.sent = 0

    def clean(self, plate: str) -> None:
        message, _ = render_pass(PassEvent(0.0, "pass", plate), self.config, f"uv1.t{self.sent:04d}",
                                 T0 + timedelta(minutes=self.sent))
        self._send(message)

    def image(self, plate: str, image: np.ndarray) -> None:
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        end = T0 + timedelta(minutes=self.sent)
        header = header_for(jpeg.tobytes(), pass_id=f"uv1.t{self.sent:04d}", plate=plate, plate_confidence=0.95,
                            speed_kmh=10.0, direction="forward", start_time=end - timedelta(seconds=3),
                            end_time=end, line_rate_hz=46.3)
        self._send(encode_pass(header, jpeg.tobytes()))

    def _send(self, message: bytes) -> None:
        self.client.publish(self.topic, message, qos=1).wait_for_publish(10)
        self.sent += 1

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def query(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql, params).fetchall()


def kouan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def analyses(db: Path) -> list[dict[str, Any]]:
    return [json.loads(r[0]) for r in query(db, "SELECT payload_json FROM readings WHERE message='analysis' ORDER BY id")]


@contextlib.contextmanager
def lane_terminal(url: str) -> Iterator[Any]:
    """The lane terminal in chromium, logged in; the page's `window.kouanTestNoReload` tells a reload."""
    with chromium() as browser:
        page = browser.new_page()
        log_in(page, url)
        page.evaluate("window.kouanTestNoReload = true")
        yield page


def lane_model_line(page: Any, device_id: str, text: str) -> str:
    """Wait until the device's lane-model line in the strip reads `text`; its hover."""
    selector = f'li.device[data-device="{device_id}"]'
    page.wait_for_function("([s, t]) => document.querySelector(s + ' .lane-model')?.textContent === t",
                           arg=[selector, text], timeout=60_000)
    return page.locator(selector).get_attribute("title") or ""


def figures(data: dict[str, Any]) -> Figures:
    return Figures(**{k: data[k] for k in Figures.__dataclass_fields__})


@pytest.mark.timeout(600)  # three refits through the CLI: minutes on a loaded 2-core machine
def test_the_lane_refits_its_model_from_released_clean_passes(tmp_path: Path, mosquitto: Broker) -> None:
    lane = f"normal-{time.time_ns() % 10**8}"
    config_path = write_config(tmp_path, mosquitto, lane, schedule=False)
    db, models = tmp_path / "edge.sqlite3", tmp_path / "models" / "uv1"
    edge = EdgeThread(load_config(config_path)).start()
    camera = Camera(mosquitto, lane)
    try:
        # 60 vehicles never seen: nothing holds them, the machine releases them, the lane keeps their images
        for i in range(60):
            camera.clean(f"京A{i:05d}")
        wait_until(lambda: query(db, "SELECT COUNT(*) FROM normal_images WHERE device_id='uv1'")[0][0] == 60, 90,
                   what="60 retained clean passes")
        states = dict(query(db, "SELECT state, COUNT(*) FROM passages GROUP BY state"))
        assert states == {"released": 60}, states
        assert query(db, "SELECT COUNT(DISTINCT acted_by) FROM passages")[0][0] == 1
        assert edge.client is not None
        assert "kouan_normal_retained_total 60.0" in edge.client.get("/metrics").text
        kept = query(db, "SELECT sha256, size FROM normal_images ORDER BY id")
        media = tmp_path / "media"
        assert all((media / sha[:2] / sha[2:4] / sha).stat().st_size == size for sha, size in kept)

        # the first refit, by the command while the edge runs: fitted on 48, judged on the newest 12
        proc = kouan("model", "fit", "--from-store", "--config", str(config_path), "--device", "uv1")
        assert proc.returncode == 0, proc.stderr[-3000:]
        first = json.loads(proc.stdout)
        print("first refit:", first["candidate"]["model"], {k: first["candidate"][k] for k in (
            "clean_flagged", "canary_recall", "canary_auroc", "threshold")}, "against", first["current"]["model"])
        assert first["adopted"] and first["version"] == "v1" and (first["fitted"], first["held_back"]) == (48, 12)
        assert first["current"]["model"] == "current: no model"
        assert judge(figures(first["candidate"]), figures(first["current"]), load_config(config_path).normal).adopted
        assert first["candidate"]["canary_n"] == 6 and first["candidate"]["canary_found_n"] >= 1
        assert (models / "current").read_text().strip() == "v1"
        card = json.loads((models / "v1" / "card.json").read_text())
        assert (card["name"], card["version"]) == ("lane_uv1", "1.0.0")
        assert card["metrics"]["n_normal"] == 12 and card["metrics"]["n_anomalous"] == 6
        assert card["metrics"]["image_auroc"] == pytest.approx(first["candidate"]["canary_auroc"], abs=1e-4)
        held_text = card["metrics"]["held_out_set"]
        assert f"flags {first['candidate']['clean_flagged_n']} of 12 held-back clean passes" in held_text
        assert "no model" in held_text
        fit_record = json.loads((models / "v1" / "fit.json").read_text())
        assert set(fit_record["held_back"]) == {sha for sha, _ in kept[-12:]}
        assert set(fit_record["fitted"]) == {sha for sha, _ in kept[:48]}

        # a model of another scene (container interiors) is refused, with both figures, and v1 stays
        other = tmp_path / "other_scene"
        other.mkdir()
        for seed in range(12):
            cv2.imwrite(str(other / f"{seed:02d}.png"), render_interior("camera", full=False, seed=seed))
        proc = kouan("model", "fit", "--normal", str(other), "--out", str(tmp_path / "other_model"),
                     "--tile", "128", "--shrink", "1,8", "--max-tiles", "4")
        assert proc.returncode == 0, proc.stderr[-2000:]
        proc = kouan("model", "propose", str(tmp_path / "other_model"), "--config", str(config_path), "--device", "uv1")
        assert proc.returncode == 3, proc.stderr[-3000:]
        refused = json.loads(proc.stdout)
        print("other scene:", proc.stderr.strip())
        assert not refused["adopted"] and refused["current"]["model"].startswith("current lane_uv1 1.0.0")
        assert refused["candidate"]["clean_flagged"] > refused["current"]["clean_flagged"]
        assert "refused" in proc.stderr and "held-back clean passes" in proc.stderr
        assert f"flags {refused['candidate']['clean_flagged_n']} of" in proc.stderr
        assert f"flags {refused['current']['clean_flagged_n']} of" in proc.stderr
        assert (models / "current").read_text().strip() == "v1" and (models / "v1").is_dir()

        # v1 itself with its threshold raised out of reach of the fainter canaries: it flags no more clean
        # passes, but it would let objects through, so the canaries refuse it
        blind = tmp_path / "blind_model"
        blind.mkdir()
        (blind / "model.onnx").write_bytes((models / "v1" / "model.onnx").read_bytes())
        blind_card = {**card, "name": "lane_uv1_blind", "threshold": 2 * card["threshold"]}
        (blind / "card.json").write_text(json.dumps(blind_card), encoding="utf-8")
        proc = kouan("model", "propose", str(blind), "--config", str(config_path), "--device", "uv1")
        assert proc.returncode == 3, proc.stderr[-3000:]
        refused = json.loads(proc.stdout)
        print("blind:", refused["failed"])
        assert refused["candidate"]["clean_flagged"] <= refused["current"]["clean_flagged"]
        assert refused["candidate"]["canary_recall"] < refused["current"]["canary_recall"]
        assert [f for f in refused["failed"] if "of the canaries" in f] == refused["failed"]
        assert (models / "current").read_text().strip() == "v1"
        assert [e["action"] for e in json.loads("[" + ",".join(
            (models / "history.jsonl").read_text().splitlines()) + "]")] == ["adopted", "refused", "refused"]
    finally:
        edge.stop()

    # restarted with a schedule: v1 is what the camera's analysis runs now
    write_config(tmp_path, mosquitto, lane, schedule=True)
    edge = EdgeThread(load_config(config_path)).start()
    browser = contextlib.ExitStack()
    try:
        # an officer's terminal open before the passes: the strip says what the camera runs
        page = browser.enter_context(lane_terminal(edge.url))
        hover = lane_model_line(page, "uv1", "model: lane v1 · 60 clean passes kept · 0 finds")
        assert "refused; fitted on 0" in hover  # the newest refit: the blind copy of v1, proposed
        before = len(analyses(db))
        camera.clean("京A00003")  # seen and released clean before: the comparison judges, the model does not run
        maker = _canary_maker()
        spec = maker.Spec("strapped_bundle", "鲁K71234", maker.VehicleType.BOX_TRUCK)
        camera.image("鲁K71234", maker.render(spec, SCALE, True)[0])  # a plate never seen, an object under it
        for i in range(60, 74):
            camera.clean(f"京A{i:05d}")
        wait_until(lambda: len(analyses(db)) >= before + 16, 60, what="16 more analyses")
        seen, bundle, fresh = analyses(db)[before:before + 3]
        assert seen["model"] is None and "not run" in seen["model_skipped"]
        assert seen["comparison"]["reference_sha256"] is not None and not seen["comparison"]["flagged"]
        assert (bundle["model"], bundle["version"]) == ("lane_uv1", "1.0.0") and bundle["flagged"], bundle
        assert (fresh["model"], fresh["version"]) == ("lane_uv1", "1.0.0")
        flagged = query(db, "SELECT state, reasons_json FROM passages WHERE plate='鲁K71234'")
        assert flagged[0][0] == "flagged" and "foreign_object" in flagged[0][1]
        assert not query(db, "SELECT 1 FROM normal_images n JOIN passages p ON p.id=n.passage_id "
                             "WHERE p.plate='鲁K71234'")

        # the schedule refits by itself once 15 new clean passes are kept (the one seen before and 14 new)
        entries = wait_until(lambda: [e for e in (json.loads(line) for line in (
            models / "history.jsonl").read_text().splitlines()) if e["action"] in ("adopted", "refused")][3:], 120,
            interval=0.5, what="the scheduled refit")
        scheduled = entries[0]
        assert (scheduled["fitted_n"], scheduled["held_back_n"], scheduled["last_row_id"]) == (60, 15, 75)
        print("scheduled refit:", scheduled["action"], {k: scheduled["candidate"][k] for k in (
            "clean_flagged", "canary_recall", "canary_auroc")}, "against", scheduled["current"]["model"],
            {k: scheduled["current"][k] for k in ("clean_flagged", "canary_recall", "canary_auroc")})
        assert scheduled["current"]["model"].startswith("current lane_uv1 1.0.0")
        assert scheduled["adopted"] == judge(figures(scheduled["candidate"]), figures(scheduled["current"]),
                                             load_config(config_path).normal).adopted
        assert scheduled["action"] == "adopted" and scheduled["version"] == "v2", scheduled["failed"]
        assert (models / "current").read_text().strip() == "v2"
        assert edge.client is not None
        wait_until(lambda: 'kouan_normal_refits_total{device="uv1",outcome="adopted"} 1.0' in edge.client.get(
            "/metrics").text, 10, what="the refit on /metrics")
        v2 = json.loads((models / "v2" / "card.json").read_text())
        assert v2["version"] == "2.0.0" and "current lane_uv1 1.0.0" in v2["metrics"]["held_out_set"]

        # the terminal's device strip shows the scheduled refit without a reload, as the API has it
        shown = next(d for d in edge.get("/api/devices") if d["id"] == "uv1")["lane_model"]
        assert (shown["runs"], shown["kept"], shown["finds"]) == ("lane v2", 75, 0)
        assert {k: shown["last_refit"][k] for k in ("action", "version", "fitted", "clean_n", "canary_n")} == {
            "action": "adopted", "version": "v2", "fitted": 60, "clean_n": 15, "canary_n": 6}
        hover = lane_model_line(page, "uv1", "model: lane v2 · 75 clean passes kept · 0 finds")
        print("device strip:", hover.splitlines()[-1])
        assert "adopted as v2; fitted on 60" in hover and "of 15 held-back clean passes" in hover
        assert page.evaluate("window.kouanTestNoReload") is True
        browser.close()

        # the next pass gets v2; after a rollback the one after gets v1 again
        n = len(analyses(db))
        camera.clean("京A00100")
        wait_until(lambda: len(analyses(db)) > n, 30, what="an analysis by v2")
        assert analyses(db)[-1]["version"] == "2.0.0"
        proc = kouan("model", "rollback", "--config", str(config_path), "--device", "uv1")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == {"device": "uv1", "from": "v2", "current": "v1"}
        assert (models / "current").read_text().strip() == "v1" and (models / "v2").is_dir()
        camera.clean("京A00101")
        wait_until(lambda: len(analyses(db)) > n + 1, 30, what="an analysis after the rollback")
        assert analyses(db)[-1]["version"] == "1.0.0"
        proc = kouan("model", "rollback", "--config", str(config_path), "--device", "uv1")
        assert proc.returncode == 2 and "nothing to roll back to" in proc.stderr
    finally:
        browser.close()
        camera.close()
        edge.stop()
