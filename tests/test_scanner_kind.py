"""The container scanner as a device kind of the edge, end to end with real parts.

The scanner stub renders real scan files into a real folder and publishes its notices through a
real Mosquitto; the edge (tests.lane_harness.EdgeThread) pairs them, verifies, keeps the file in
its media store and raises the events on /api/events and kouan/<lane>/events/scanner.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from drivers.scanner import ScanNotice, file_name_for, notice_topic, sha256_path, write_into_folder
from edge.config import ConfigError, EdgeConfig, load_config
from firmware_stubs.scanner import MqttScanner, parse_scanner_events
from firmware_stubs.scanner_render import RenderRequest, render_scan
from tests.conftest import Broker
from tests.lane_harness import EdgeThread, MqttListener, wait_until

REPO = Path(__file__).resolve().parents[1]


def scanner_config(tmp: Path, broker: Broker, lane: str, **scanner: Any) -> EdgeConfig:
    """A lane with one scanner (and one MQTT lock beside it, so the kinds share the edge)."""
    device = {"id": "scanner1", "kind": "scanner", "folder": str(tmp / "scans"), "poll_period_s": 0.1,
              "notice_wait_s": 2.0, "file_wait_s": 2.0, **scanner}
    return EdgeConfig.model_validate({
        "lane": {"id": lane}, "store": {"path": str(tmp / "edge.sqlite3")},
        "mqtt": {"url": broker.url}, "web": {"host": "127.0.0.1", "port": 0},
        "devices": [device, {"id": "lock-m", "kind": "smart_lock", "transport": "mqtt"}],
    })


@pytest.fixture
def lane(request: pytest.FixtureRequest, tmp_path: Path, mosquitto: Broker) -> Iterator[dict[str, Any]]:
    """Each test its own lane id: the session's broker keeps each edge client's session apart."""
    lane_id = f"lane-{request.node.name.removeprefix('test_')[:20].replace('_', '-')}"
    (tmp_path / "scans").mkdir()
    listener = MqttListener(mosquitto.host, mosquitto.port, f"kouan/{lane_id}/events/scanner")
    parts: dict[str, Any] = {"lane": lane_id, "listener": listener, "folder": tmp_path / "scans", "closers": []}
    parts["edge"] = EdgeThread(scanner_config(tmp_path, mosquitto, lane_id)).start()
    try:
        yield parts
    finally:
        for close in reversed(parts["closers"]):
            close()
        parts["edge"].stop()
        listener.close()


def event(listener: MqttListener, name: str, subject: str | None = None, timeout: float = 30) -> dict[str, Any]:
    return listener.wait_for(lambda p: isinstance(p, dict) and p.get("event") == name
                             and (subject is None or p.get("subject") == subject), timeout)[2]


def publisher(broker: Broker) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-scanner-{time.time_ns()}")
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


def rendered(folder: Path, scan_id: str, containers: tuple[str, ...], dual: bool = False) -> tuple[Path, ScanNotice]:
    """A real scan file written by the folder rule into `folder`, and its notice."""
    moment = datetime.now(timezone(timedelta(hours=8))).replace(microsecond=0)
    planes = render_scan(RenderRequest("cartons", dual, 0.05, 7))
    name = file_name_for(scan_id, "tiff")
    path = write_into_folder(folder, name, planes, "tiff", scan_id=scan_id, scan_time=moment, device="scanner1",
                             containers=containers, plate="XJF12345")
    sha, size = sha256_path(path)
    height, width = planes[0].shape
    return path, ScanNotice("scanner1", scan_id, containers, "XJF12345", moment, name, "tiff", size, sha,
                            "dual" if dual else "single", width, height)


def test_scans_are_taken_corrupt_refused_and_intake_goes_on(lane: dict[str, Any], mosquitto: Broker) -> None:
    edge: EdgeThread = lane["edge"]
    listener: MqttListener = lane["listener"]
    stub = MqttScanner(mosquitto.url, lane["lane"], "scanner1", lane["folder"], "tiff", parse_scanner_events(
        "0.2:scan=CSQU3054383/empty,0.8:corrupt=TGHU1234567/cargo,1.4:scan=MSKU1234565/cargo/dual"), scale=0.05)
    stub.start()
    lane["closers"].append(stub.stop)
    first = event(listener, "scan_received", "CSQU3054383")
    assert first["kind"] == "scanner" and first["device_id"] == "scanner1" and first["lane"] == lane["lane"]
    assert "single energy" in first["detail"]
    refused = event(listener, "scan_refused", "TGHU1234567")
    assert "file does not match its notice (SHA-256)" in refused["detail"], refused
    dual = event(listener, "scan_received", "MSKU1234565")
    assert "dual energy" in dual["detail"]
    good, corrupt, second = stub.written
    media = edge.runtime.media
    assert media.has(good.sha256) and media.has(second.sha256) and not media.has(corrupt.sha256)
    with media.open(good.sha256, verify=True) as stored:
        assert len(stored.read()) == good.size_bytes
    on_page = {(e["event"], e["subject"]) for e in edge.get("/api/events")}
    assert on_page >= {("scan_received", "CSQU3054383"), ("scan_refused", "TGHU1234567"),
                       ("scan_received", "MSKU1234565")}
    device = next(d for d in edge.get("/api/devices") if d["id"] == "scanner1")
    assert device["summary"] == f"MSKU1234565: scan {second.height}x{second.width} dual energy"
    assert device["counters"]["scans"] == 2 and device["counters"]["refused"] == 1
    wait_until(lambda: not (lane["folder"] / good.file_name).exists(), 5, what="stored file removed from the folder")
    assert (lane["folder"] / "refused" / corrupt.file_name).is_file(), "a refused file is kept aside"


def test_a_notice_whose_file_never_comes_is_file_missing(lane: dict[str, Any], mosquitto: Broker) -> None:
    staging = lane["folder"].parent / "staging"
    staging.mkdir()
    _, notice = rendered(staging, "scanner1-missing-0001", ("CSQU3054383",))  # never put in the watched folder
    client = publisher(mosquitto)
    lane["closers"].append(client.loop_stop)
    client.publish(notice_topic(lane["lane"], "scanner1"), notice.to_json(), qos=1).wait_for_publish(5)
    missing = event(lane["listener"], "file_missing", "CSQU3054383", timeout=20)
    assert notice.file_name in missing["detail"]
    client.publish(notice_topic(lane["lane"], "scanner1"), b'{"scan_id": "x"}', qos=1).wait_for_publish(5)
    edge: EdgeThread = lane["edge"]
    wait_until(lambda: next(d for d in edge.get("/api/devices") if d["id"] == "scanner1")["counters"]["bad_notices"],
               10, what="bad notice counted")


def test_a_waiting_notice_survives_an_edge_restart(lane: dict[str, Any], mosquitto: Broker, tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    path, notice = rendered(staging, "scanner1-restart-0001", ("MSKU1234565",), dual=True)
    edge: EdgeThread = lane["edge"]
    edge.stop()  # a long wait, so the notice is still waiting when the edge goes down and comes back
    edge = lane["edge"] = EdgeThread(scanner_config(tmp_path, mosquitto, lane["lane"], notice_wait_s=600)).start()
    client = publisher(mosquitto)
    lane["closers"].append(client.loop_stop)
    client.publish(notice_topic(lane["lane"], "scanner1"), notice.to_json(), qos=1).wait_for_publish(5)

    def waiting() -> int:
        device = next(d for d in edge.get("/api/devices") if d["id"] == "scanner1")
        return len(device["state"].get("pending") or ())

    wait_until(waiting, 10, what="the notice kept as waiting")
    edge.stop()
    edge = lane["edge"] = EdgeThread(scanner_config(tmp_path, mosquitto, lane["lane"], notice_wait_s=600)).start()
    assert waiting() == 1, "the restarted edge knows the notice before the broker redelivers it"
    os.replace(path, lane["folder"] / path.name)  # the file arrives only now
    taken = event(lane["listener"], "scan_received", "MSKU1234565")
    assert notice.scan_id in taken["detail"]
    assert edge.runtime.media.has(notice.sha256)
    wait_until(lambda: waiting() == 0, 10, what="nothing left waiting")
    assert not [e for e in edge.get("/api/events") if e["event"] == "file_missing"]


def _vm_hwm() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def test_full_size_scan_end_to_end(lane: dict[str, Any], mosquitto: Broker) -> None:
    """A 60 MB dual-energy TIFF from the stub process to the stored event (time and the edge's peak RSS printed)."""
    notices = MqttListener(mosquitto.host, mosquitto.port, notice_topic(lane["lane"], "scanner1"))
    lane["closers"].append(notices.close)
    before = _vm_hwm()
    with contextlib.suppress(OSError):  # reset the peak to what the process holds now, where the kernel lets us
        Path("/proc/self/clear_refs").write_text("5")
    reset = _vm_hwm()
    stub = subprocess.Popen(
        [sys.executable, "-m", "firmware_stubs.scanner", "--mqtt", mosquitto.url, "--lane", lane["lane"],
         "--device", "scanner1", "--folder", str(lane["folder"]), "--format", "tiff", "--scale", "1.0",
         "--events", "0.1:scan=CSQU3054383/cargo/dual"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        noticed_at, _, notice = notices.wait_for(lambda p: isinstance(p, dict) and "scan_id" in p, 120)
        stored_at, _, done = lane["listener"].wait_for(
            lambda p: isinstance(p, dict) and p.get("event") in ("scan_received", "scan_refused"), 120)
    finally:
        stub.send_signal(signal.SIGTERM)
        stub.communicate(timeout=30)
    assert done["event"] == "scan_received", done
    assert 55e6 < notice["size_bytes"] < 65e6 and lane["edge"].runtime.media.has(notice["sha256"])
    peak = _vm_hwm()
    print(f"\nfull-size scan {notice['size_bytes'] / 1e6:.1f} MB dual {notice['width']}x{notice['height']}: "
          f"notice -> stored event on MQTT {stored_at - noticed_at:.3f} s; edge (test) process peak RSS "
          f"{peak / 1e6:.0f} MB during the scan (was {reset / 1e6:.0f} MB at its start, "
          f"{before / 1e6:.0f} MB peak before the reset)")


def test_a_bad_scanner_field_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "edge.toml"
    path.write_text('[lane]\nid = "l1"\n\n[[devices]]\nid = "scanner1"\nkind = "scanner"\n'
                    'folder = "/srv/scans"\npoll_period_s = -1\n', encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(path) in str(raised.value) and "devices[0].poll_period_s" in str(raised.value), raised.value
    path.write_text('[lane]\nid = "l1"\n\n[[devices]]\nid = "scanner1"\nkind = "scanner"\nfolder = "scans"\n',
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"devices\[0\]\.folder: must be an absolute path"):
        load_config(path)
    path.write_text('[lane]\nid = "l1"\n\n[kinds.scanner]\noffline_after_s = 7200\nnotice_wait_s = 1\n',
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"kinds\.scanner\.notice_wait_s"):
        load_config(path)


def test_a_file_without_notice_is_reported_and_still_taken_when_its_notice_comes(
        lane: dict[str, Any], mosquitto: Broker) -> None:
    _, notice = rendered(lane["folder"], "scanner1-orphan-0001", ("TGHU1234567",))
    orphan = event(lane["listener"], "file_without_notice", notice.file_name, timeout=20)
    assert str(notice.size_bytes) in orphan["detail"]
    client = publisher(mosquitto)
    lane["closers"].append(client.loop_stop)
    client.publish(notice_topic(lane["lane"], "scanner1"), notice.to_json(), qos=1).wait_for_publish(5)
    event(lane["listener"], "scan_received", "TGHU1234567")
