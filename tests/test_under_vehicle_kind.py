"""The under-vehicle camera as a kind of the edge, end to end with real parts.

The UVSS stub publishes KUV1 passes through a real Mosquitto; the real edge (EdgeThread) stores
each image by SHA-256, raises `vehicle_pass`, acknowledges, then runs the shipped ONNX model on the
stored image and records its result as a second reading (`object_flagged` or `pass_clear`).
"""

from __future__ import annotations

import hashlib
import json
import resource
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest

from drivers.under_vehicle import MAGIC, header_for
from edge.config import ConfigError, EdgeConfig, load_config
from edge.media import MediaStore
from firmware_stubs.under_vehicle import CameraConfig, UnderVehicleCamera, parse_events
from tests.conftest import Broker
from tests.lane_harness import EdgeThread, MqttListener, wait_until

ROOT = Path(__file__).resolve().parents[1]
ANALYSIS_EVENTS = ("object_flagged", "pass_clear")


def uv_config(tmp: Path, broker: Broker, lane: str, **device: Any) -> EdgeConfig:
    return EdgeConfig.model_validate({
        "lane": {"id": lane},
        "store": {"path": str(tmp / "edge.sqlite3")},
        "mqtt": {"url": broker.url},
        "web": {"host": "127.0.0.1", "port": 0},
        "devices": [{"id": "uv1", "kind": "under_vehicle", **device}],
    })


def rows(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        found = conn.execute("SELECT id, received_at, message, sha256, payload_json FROM readings "
                             "WHERE device_id='uv1' ORDER BY id").fetchall()
    return [dict(zip(("id", "received_at", "message", "sha256", "payload_json"), row)) for row in found]


def counters(edge: EdgeThread) -> dict[str, int]:
    return next(d for d in edge.get("/api/devices") if d["id"] == "uv1")["counters"]


@pytest.fixture
def lane(tmp_path: Path, mosquitto: Broker, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    name = f"uv-{request.node.name[5:25].replace('_', '-')}"
    listener = MqttListener(mosquitto.host, mosquitto.port, f"kouan/{name}/events/under_vehicle")
    edge = EdgeThread(uv_config(tmp_path, mosquitto, name)).start()
    try:
        yield {"edge": edge, "listener": listener, "lane": name, "db": tmp_path / "edge.sqlite3",
               "media": MediaStore(tmp_path / "media")}
    finally:
        edge.stop()
        listener.close()


def camera(broker: Broker, lane: str, events: str) -> UnderVehicleCamera:
    stub = UnderVehicleCamera(CameraConfig(lane=lane, device="uv1", events=parse_events(events)), broker.url)
    stub.start()
    return stub


def test_clean_pass_stored_then_analysed(lane: dict[str, Any], mosquitto: Broker) -> None:
    stub = camera(mosquitto, lane["lane"], "0.2:pass=新F12345/clean/type=car")
    listener: MqttListener = lane["listener"]
    try:
        _, _, passed = listener.wait_for(lambda p: p.get("event") == "vehicle_pass", 60)
        _, _, analysed = listener.wait_for(lambda p: p.get("event") in ANALYSIS_EVENTS, 60)
    finally:
        stub.stop()
    truth = stub.truth[0]
    assert passed["subject"] == truth.plate == analysed["subject"] and passed["kind"] == "under_vehicle"
    assert "km/h" in passed["detail"] and f"4096x{truth.height}" in passed["detail"]
    found = wait_until(lambda: (r := rows(lane["db"])) and len(r) == 2 and r, 10, what="two readings")
    pass_row, analysis_row = found
    assert (pass_row["message"], analysis_row["message"]) == ("pass", "analysis")
    # the pass was stored (and so acknowledged) before its analysis was recorded
    assert pass_row["id"] < analysis_row["id"] and pass_row["received_at"] <= analysis_row["received_at"]
    assert len(pass_row["payload_json"].encode()) < 4096, "no image bytes in SQLite"
    header = json.loads(pass_row["payload_json"])
    image_hash = header["sha256"]
    assert pass_row["sha256"] == image_hash == header["media_sha256"]
    with lane["media"].open(image_hash, verify=True) as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == image_hash
    result = json.loads(analysis_row["payload_json"])
    assert result["model"] == "under_vehicle" and result["version"] and result["image_sha256"] == image_hash
    assert 0.0 <= result["score"] <= 1.0 and isinstance(result["flagged"], bool)
    assert analysed["event"] == ("object_flagged" if result["flagged"] else "pass_clear")
    for region in result["regions"]:
        x, y, w, h = region["box"]
        assert 0 <= x and 0 <= y and x + w <= 4096 and y + h <= truth.height
    device = next(d for d in lane["edge"].get("/api/devices") if d["id"] == "uv1")
    assert device["summary"].startswith(f"{truth.plate}: pass ") and ("flagged" in device["summary"]) == result["flagged"]
    assert device["counters"]["analysed"] == 1 and device["counters"]["bad_messages"] == 0
    print(f"{truth.plate}: {analysed['event']} score {result['score']} ({len(result['regions'])} regions); "
          f"summary {device['summary']!r}")


def lying_message(plate: str) -> tuple[bytes, str]:
    """A well-formed pass whose header's SHA-256 is not its image's."""
    ok, buf = cv2.imencode(".png", np.full((64, 4096), 90, np.uint8))
    assert ok
    image = buf.tobytes()
    header = header_for(image, pass_id="liar-1", plate=plate, plate_confidence=0.9, speed_kmh=10.0,
                        direction="forward", start_time="2026-01-01T10:00:00+08:00",
                        end_time="2026-01-01T10:00:01+08:00", line_rate_hz=900.0)
    body = header.model_dump(mode="json")
    body["sha256"] = hashlib.sha256(b"something else").hexdigest()
    raw = json.dumps(body).encode()
    return MAGIC + struct.pack(">I", len(raw)) + raw + image, hashlib.sha256(image).hexdigest()


def test_lying_hash_refused_counted_and_intake_goes_on(lane: dict[str, Any], mosquitto: Broker) -> None:
    edge: EdgeThread = lane["edge"]
    message, real_hash = lying_message("新F54321")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    client.publish(f"kouan/{lane['lane']}/uv1/pass", message, qos=1).wait_for_publish(5)
    client.publish(f"kouan/{lane['lane']}/uv1/pass", b"KUV1\x00\x00\x00\x02{}", qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()
    wait_until(lambda: counters(edge)["bad_messages"] >= 2, 10, what="bad passes counted")
    assert not lane["media"].has(real_hash), "a refused pass leaves nothing in the media store"
    stub = camera(mosquitto, lane["lane"], "0.1:pass=苏E88888/clean/type=car")
    try:
        _, _, passed = lane["listener"].wait_for(lambda p: p.get("event") == "vehicle_pass", 60)
    finally:
        stub.stop()
    assert passed["subject"] == "苏E88888"
    assert counters(edge)["bad_messages"] == 2 and counters(edge)["readings"] == 1
    assert [r["message"] for r in rows(lane["db"])][:1] == ["pass"]


def vm_hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def test_full_size_pass_end_to_end(tmp_path: Path, mosquitto: Broker) -> None:
    """One 4096 x N image at --scale 1 (3 mm per line); the stub runs in its own process, so this
    process's peak RSS is the edge's (plus pytest's)."""
    lane = "uv-full"
    listener = MqttListener(mosquitto.host, mosquitto.port, f"kouan/{lane}/#")
    before_kb = vm_hwm_kb()
    edge = EdgeThread(uv_config(tmp_path, mosquitto, lane)).start()
    wait_until(lambda: counters(edge).get("analysed") is not None, 5, what="edge up")
    started_kb = vm_hwm_kb()
    code = ("import argparse, sys; from firmware_stubs.under_vehicle import configure, run; p = argparse.ArgumentParser();"
            " configure(p); sys.exit(run(p.parse_args(sys.argv[1:])))")
    proc = subprocess.Popen([sys.executable, "-c", code, "--mqtt", mosquitto.url, "--lane", lane, "--device", "uv1",
                             "--scale", "1", "--events", "0:pass=新F12345/clean/type=box_truck"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        published, _, raw = listener.wait_for(lambda p: isinstance(p, bytes) and p[:4] == MAGIC, 120)
        passed_at, _, passed = listener.wait_for(lambda p: isinstance(p, dict) and p.get("event") == "vehicle_pass", 60)
        analysed_at, _, analysed = listener.wait_for(
            lambda p: isinstance(p, dict) and p.get("event") in ANALYSIS_EVENTS, 120)
        result = json.loads(rows(tmp_path / "edge.sqlite3")[-1]["payload_json"])
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
        edge.stop()
        listener.close()
    header_len = struct.unpack(">I", raw[4:8])[0]
    height = json.loads(raw[8:8 + header_len])["height"]
    print(f"\nfull-size pass 4096x{height}, {len(raw) / 1e6:.2f} MB message: vehicle_pass "
          f"{passed_at - published:.3f} s after the broker delivered it, {analysed['event']} "
          f"{analysed_at - published:.3f} s (model {result['ms']} ms, decode {result['decode_ms']} ms, "
          f"score {result['score']}); peak RSS (VmHWM) {before_kb / 1024:.0f} MB before the edge, "
          f"{started_kb / 1024:.0f} MB with the edge and model loaded, {vm_hwm_kb() / 1024:.0f} MB after the pass")
    assert passed["subject"] == "新F12345" and 0.0 <= result["score"] <= 1.0
    assert height > 2000


def test_bad_field_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "edge.toml"
    path.write_text('[lane]\nid = "l1"\n\n[kinds.under_vehicle]\noffline_after_s = 600\n\n'
                    '[[devices]]\nid = "uv1"\nkind = "under_vehicle"\nmodle = "under_vehicle"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"config error in {path}:") and "  devices[0].modle: Extra inputs are not permitted" in message
    path.write_text(path.read_text(encoding="utf-8").replace('modle = "under_vehicle"', 'analyse = "maybe"'),
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"devices\[0\]\.analyse: "):
        load_config(path)
    path.write_text(path.read_text(encoding="utf-8").replace('analyse = "maybe"\n', ""), encoding="utf-8")
    config = load_config(path)
    assert config.kind_defaults("under_vehicle").offline_after_s == 600 and config.devices[0].model == "under_vehicle"


def test_missing_model_passes_stored_unanalysed(tmp_path: Path, mosquitto: Broker) -> None:
    lane = "uv-nomodel"
    listener = MqttListener(mosquitto.host, mosquitto.port, f"kouan/{lane}/events/under_vehicle")
    edge = EdgeThread(uv_config(tmp_path, mosquitto, lane, model="no_such_model")).start()
    stub = camera(mosquitto, lane, "0.1:pass=新F12345/clean/type=car")
    try:
        _, _, passed = listener.wait_for(lambda p: p.get("event") == "vehicle_pass", 60)
        device = next(d for d in edge.get("/api/devices") if d["id"] == "uv1")
    finally:
        stub.stop()
        edge.stop()
        listener.close()
    assert device["counters"]["model_unavailable"] == 1 and device["counters"]["analysed"] == 0
    assert device["summary"] == f"{passed['subject']}: pass {device['state']['speed_kmh']:.0f} km/h, not analysed (model not loaded)"
    assert [r["message"] for r in rows(tmp_path / "edge.sqlite3")] == ["pass"]


def test_a_pass_stored_but_not_analysed_is_analysed_after_a_restart(tmp_path: Path, mosquitto: Broker) -> None:
    """The edge stopped before the model's turn (here: analysis off); the next start takes it up."""
    name = "uv-resume"
    listener = MqttListener(mosquitto.host, mosquitto.port, f"kouan/{name}/events/under_vehicle")
    edge = EdgeThread(uv_config(tmp_path, mosquitto, name, analyse=False)).start()
    try:
        stub = camera(mosquitto, name, "0.2:pass=新F12345/clean/type=car")
        try:
            listener.wait_for(lambda p: p.get("event") == "vehicle_pass", 60)
        finally:
            stub.stop()
        wait_until(lambda: [r["message"] for r in rows(tmp_path / "edge.sqlite3")] == ["pass"], 10, what="the pass")
    finally:
        edge.stop()
    restarted = EdgeThread(uv_config(tmp_path, mosquitto, name)).start()
    try:
        _, _, analysed = listener.wait_for(lambda p: p.get("event") in ANALYSIS_EVENTS, 60)
        assert analysed["subject"] == "新F12345"
        messages = [r["message"] for r in rows(tmp_path / "edge.sqlite3")]
        assert messages == ["pass", "analysis"], "analysed once, the pass not stored again"
    finally:
        restarted.stop()
        listener.close()
