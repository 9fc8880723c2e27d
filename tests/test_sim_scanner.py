"""The scanner stub against a real Mosquitto and a real folder, read by a consumer as the edge will."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from drivers.scanner import ScanNotice, ScanRefused, load_scan, notice_topic
from drivers.watched_folder import WatchedFolder
from firmware_stubs.scanner import MqttScanner, parse_scanner_events
from tests.conftest import Broker

REPO = Path(__file__).resolve().parents[1]


class Consumer:
    """Notices from MQTT, complete files from the folder, joined by file name (what the edge will do)."""

    def __init__(self, broker: Broker, folder: Path, lane: str, device: str) -> None:
        self.notices: dict[str, ScanNotice] = {}
        self.notice_order: list[str] = []
        self.files: dict[str, Path] = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"consumer-{device}")
        topic = notice_topic(lane, device)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.watcher = WatchedFolder(folder, self._on_file, period_s=0.05)
        self.watcher.start()

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        notice = ScanNotice.from_json(message.payload, "scanner1")
        with self.lock:
            self.notices[notice.file_name] = notice
            self.notice_order.append(notice.scan_id)

    def _on_file(self, path: Path) -> None:
        with self.lock:
            self.files[path.name] = path

    def joined(self) -> list[tuple[Path, ScanNotice]]:
        with self.lock:
            return [(self.files[name], n) for name, n in self.notices.items() if name in self.files]

    def close(self) -> None:
        self.watcher.stop()
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def consumer_for(mosquitto: Broker, tmp_path: Path) -> Iterator[object]:
    made: list[Consumer] = []

    def make(device: str) -> Consumer:
        made.append(Consumer(mosquitto, tmp_path / "scans", "lane1", device))
        return made[-1]

    (tmp_path / "scans").mkdir()
    yield make
    for consumer in made:
        consumer.close()


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_scripted_scans_verified_corrupt_refused_silent_held(mosquitto: Broker, tmp_path: Path,
                                                             consumer_for: object) -> None:
    consumer = consumer_for("scanner1")  # type: ignore[operator]
    events = parse_scanner_events("0.2:scan=CSQU3054383/empty,0.4:scan=MSKU1234565+TGHU1234567/cargo/dual,"
                                  "0.6:corrupt,0.8:silent,1.0:scan=MSCU1234566/drums,4.0:resume")
    stub = MqttScanner(mosquitto.url, "lane1", "scanner1", tmp_path / "scans", "png", events, scale=0.05)
    stub.start()
    try:
        wait_for(lambda: len(consumer.files) == 4, 20, "four complete files in the folder")
        time.sleep(0.3)
        assert len(consumer.notices) == 3, "the silent scanner's notice must wait for resume"
        wait_for(lambda: len(consumer.joined()) == 4, 20, "four notices joined with their files")
        wait_for(lambda: stub.waiting == 0, 10, "every notice acknowledged")
    finally:
        stub.stop()
    results: dict[str, str] = {}
    for path, notice in consumer.joined():
        try:
            scan = load_scan(path, notice)
            results[notice.scan_id] = f"ok {len(scan.planes)} plane(s) {scan.high.shape}"
        except ScanRefused as exc:
            results[notice.scan_id] = f"refused {exc.reason}"
    ordered = [results[scan_id] for scan_id in consumer.notice_order]
    assert ordered == ["ok 1 plane(s) (150, 250)", "ok 2 plane(s) (150, 250)", "refused hash_mismatch",
                       "ok 1 plane(s) (150, 250)"]
    assert [n.containers for n in stub.written][1] == ("MSKU1234565", "TGHU1234567")
    assert stub.counters["scans"] == 4 and stub.counters["scans_corrupted"] == 1
    assert stub.counters["notices_acked"] == 4
    assert not list((tmp_path / "scans").glob("*.part"))


MEASURE = textwrap.dedent("""
    import json, resource, sys, time, tracemalloc
    from drivers.scanner import ScanNotice, load_scan
    notice = ScanNotice.from_json(sys.argv[2].encode(), "scanner1")
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    started = time.perf_counter()
    scan = load_scan(sys.argv[1], notice)
    total = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    pixels = sum(p.nbytes for p in scan.planes)
    print(json.dumps({"hash_s": scan.hash_s, "decode_s": scan.decode_s, "total_s": total, "traced_peak": peak,
                      "rss_before": base, "rss_after": rss, "pixel_bytes": pixels, "planes": len(scan.planes),
                      "shape": list(scan.high.shape)}))
""")


def test_full_size_scan_end_to_end(mosquitto: Broker, tmp_path: Path, consumer_for: object) -> None:
    """One real-size dual-energy scan (2 x 3000 x 5000 x 16 bit, TIFF) from the stub process to a verified decode."""
    consumer = consumer_for("scanner9")  # type: ignore[operator]
    stub = subprocess.Popen(
        [sys.executable, "-m", "firmware_stubs.scanner", "--mqtt", mosquitto.url, "--lane", "lane1",
         "--device", "scanner9", "--folder", str(tmp_path / "scans"), "--format", "tiff", "--scale", "1.0",
         "--events", "0.1:scan=CSQU3054383/cargo/dual"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for(lambda: len(consumer.joined()) == 1 or stub.poll() is not None, 120, "the full-size scan")
        assert stub.poll() is None, stub.communicate()[1]
    finally:
        stub.send_signal(signal.SIGTERM)
        out, err = stub.communicate(timeout=30)
    assert stub.returncode == 0, err
    assert "'scans': 1" in err and "'notices_acked': 1" in err  # counters on stderr after SIGTERM
    (path, notice), = consumer.joined()
    assert 55e6 < notice.size_bytes < 65e6
    result = subprocess.run([sys.executable, "-c", MEASURE, str(path), json.dumps(json.loads(notice.to_json()))],
                            cwd=REPO, capture_output=True, text=True, timeout=120, check=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    m = json.loads(result.stdout)
    print(f"\nfull-size scan: {notice.size_bytes / 1e6:.1f} MB ({notice.size_bytes} bytes), "
          f"{m['planes']} planes of {m['shape'][1]} x {m['shape'][0]}; SHA-256 {m['hash_s']:.3f} s, "
          f"decode {m['decode_s']:.3f} s, load_scan total {m['total_s']:.3f} s; "
          f"tracemalloc peak {m['traced_peak'] / 1e6:.1f} MB; maxrss {m['rss_before'] / 1e6:.0f} -> "
          f"{m['rss_after'] / 1e6:.0f} MB (+{(m['rss_after'] - m['rss_before']) / 1e6:.0f} MB)")
    assert m["planes"] == 2 and m["shape"] == [3000, 5000]
    # bounded: the decoded pixels once on the heap (traced), plus small buffers. RSS also counts the file
    # pages libtiff maps while it reads (file-backed page cache, not a second copy on the heap)
    assert m["traced_peak"] < m["pixel_bytes"] + 8e6
    assert m["rss_after"] - m["rss_before"] < 1.5 * m["pixel_bytes"]


def test_cli_refuses_bad_events(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "firmware_stubs.scanner", "--mqtt", "mqtt://127.0.0.1:1",
                             "--folder", str(tmp_path), "--events", "2:scan=TGHU1234560/cargo"],
                            cwd=REPO, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "check digit is 0, should be 7" in result.stderr


def test_scan_names_the_plate_read_for_its_truck(tmp_path: Path) -> None:
    first, second = parse_scanner_events("1:scan=CSQU3054383/empty/plate=新F12345,2:scan=MSKU1234565/cargo/dual")
    assert (first.containers, first.cargo, first.dual, first.plate) == (("CSQU3054383",), "empty", False, "新F12345")
    assert (second.dual, second.plate) == (True, None)   # None: the scanner's --plate
    stub = MqttScanner("mqtt://127.0.0.1:1", "lane1", "scanner1", tmp_path, "png", [], scale=0.01, plate="XJF12345")
    assert [stub.scan(first).plate, stub.scan(second).plate] == ["新F12345", "XJF12345"]   # kept, not yet sent
    assert parse_scanner_events("1:scan=CSQU3054383/cargo/plate=苏E88888/dual")[0].dual
    for bad in ("1:scan=CSQU3054383/empty/plate=", "1:scan=CSQU3054383/empty/plate=A/plate=B",
                "1:scan=CSQU3054383/empty/plate=A,B/x"):
        with pytest.raises(ValueError):
            parse_scanner_events(bad)
