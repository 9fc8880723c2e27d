"""Kill the hub, or the edge, with SIGKILL in the middle of uploading 100 scans of 30 MB.

A real lane: `kouan edge` with a container scanner's watched folder (the scans arrive as files
with their MQTT notices, the way a scanner delivers them), every scan referred to central review,
uploading to `python -m hub` over HTTP. When the hub holds a fifth of the scans, one of the two
processes is killed and started again. Afterwards all 100 scans are at the hub exactly once, each
file's SHA-256 is what its name says, no partial upload is left behind, and the edge's outbox has
emptied by itself.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest

from drivers.iso6346 import iso6346_check_digit
from drivers.scanner.files import sha256_path, write_into_folder
from drivers.scanner.notice import ScanNotice, notice_topic
from tests.conftest import Broker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[1]
SCANS = 100
SIDE = 3872  # 3872 x 3872 x 16 bit = 30.0 MB per uncompressed TIFF
LANE = "kill-lane"


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        try:
            return int(conn.execute(sql).fetchone()[0])
        except sqlite3.OperationalError:  # the table is not made yet
            return 0


def spawn_hub(config: Path, port: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m hub` listening on `port` (0: a free one), and its URL once it listens."""
    proc = subprocess.Popen([sys.executable, "-m", "hub", "--config", str(config), "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=log.open("ab"))
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    assert line.startswith("review hub: "), f"the hub did not start: {line!r}; {log.read_text()[-3000:]}"
    return proc, line.split(": ", 1)[1].strip().rstrip("/")


def spawn_edge(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "edge.cli", "edge", "--config", str(config)], cwd=ROOT,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _container(n: int) -> str:
    owner = f"KOUU{n:06d}"
    return owner + str(iso6346_check_digit(owner))


def _scans(staging: Path, folder: Path) -> list[ScanNotice]:
    """100 distinct 30 MB 16-bit TIFFs written by the folder rule, and their notices."""
    rng = np.random.default_rng(7)
    base = rng.integers(2000, 60000, size=(SIDE, SIDE), dtype=np.uint16)
    moment = datetime.now(timezone(timedelta(hours=8))).replace(microsecond=0)
    notices = []
    for n in range(SCANS):
        planes = base.copy()
        planes[n * 8:(n + 1) * 8, :] = 1000 + n  # makes each scan's bytes (and hash) its own
        name = f"kill-{n:03d}.tif"
        path = write_into_folder(staging, name, [planes], "tiff", scan_id=f"kill-{n:03d}", scan_time=moment,
                                 device="scanner1", containers=(_container(n),), plate=f"K{n:05d}")
        sha, size = sha256_path(path)
        notices.append(ScanNotice("scanner1", f"kill-{n:03d}", (_container(n),), f"K{n:05d}", moment, name, "tiff",
                                  size, sha, "single", SIDE, SIDE))
    return notices


def _configs(tmp: Path, broker: Broker) -> tuple[Path, Path]:
    hub = tmp / "hub.toml"
    hub.write_text(f'[database]\nurl = "sqlite:///{tmp / "hub.sqlite3"}"\n[blobs]\nroot = "{tmp / "blobs"}"\n',
                   encoding="utf-8")
    subprocess.run([sys.executable, "-m", "hub", "--config", str(hub), "migrate"], cwd=ROOT, check=True,
                   capture_output=True)
    made = subprocess.run([sys.executable, "-m", "hub", "--config", str(hub), "edge", "add", "edge-kill", "--lane",
                           LANE], cwd=ROOT, check=True, capture_output=True, text=True)
    token = made.stdout.strip().splitlines()[-1].split()[-1]
    (tmp / "token").write_text(token + "\n", encoding="utf-8")
    return hub, tmp / "edge.toml"


def _edge_config(path: Path, tmp: Path, broker: Broker, hub_url: str) -> None:
    path.write_text(f"""
[lane]
id = "{LANE}"
[store]
path = "{tmp / 'edge.sqlite3'}"
[mqtt]
url = "{broker.url}"
[web]
host = "127.0.0.1"
port = 0
[[devices]]
id = "scanner1"
kind = "scanner"
folder = "{tmp / 'scans'}"
refer = "all"
poll_period_s = 0.2
max_pending = 200
notice_wait_s = 600
[passages]
deadlines = {{ scanner1 = 5 }}
[uplink]
hub_url = "{hub_url}"
token_file = "{tmp / 'token'}"
backoff_base_s = 0.2
backoff_cap_s = 2
""", encoding="utf-8")


def _hub_held(tmp: Path) -> int:
    return _count(tmp / "hub.sqlite3", "SELECT COUNT(*) FROM blobs")


def _wait(predicate, timeout: float, what: str, interval: float = 0.5) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@pytest.mark.parametrize("victim", ["hub", "edge"])
def test_100_scans_of_30_mb_arrive_exactly_once_across_a_sigkill(victim: str, tmp_path: Path,
                                                                  mosquitto: Broker) -> None:
    (tmp_path / "scans").mkdir()
    staging = tmp_path / "staging"
    staging.mkdir()
    hub_toml, edge_toml = _configs(tmp_path, mosquitto)
    notices = _scans(staging, tmp_path / "scans")
    log = tmp_path / "processes.log"
    started_at = time.monotonic()
    hub, hub_url = spawn_hub(hub_toml, 0, log)
    _edge_config(edge_toml, tmp_path, mosquitto, hub_url)
    edge = spawn_edge(edge_toml, log)
    try:
        _wait(lambda: f"lane {LANE} running" in log.read_text(errors="replace"), 60, "the edge to subscribe")
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"kill-test-{os.getpid()}")
        client.connect(mosquitto.host, mosquitto.port)
        client.loop_start()
        for notice in notices:
            os.replace(staging / notice.file_name, tmp_path / "scans" / notice.file_name)
            client.publish(notice_topic(LANE, "scanner1"), notice.to_json(), qos=1).wait_for_publish(10)
        client.loop_stop()
        client.disconnect()
        _wait(lambda: _hub_held(tmp_path) >= SCANS // 5, 400, "a fifth of the scans at the hub")
        held_at_kill = _hub_held(tmp_path)
        if victim == "hub":
            hub.send_signal(signal.SIGKILL)
            hub.wait(10)
            time.sleep(1.0)
            hub, _ = spawn_hub(hub_toml, int(hub_url.rsplit(":", 1)[1]), log)
        else:
            edge.send_signal(signal.SIGKILL)
            edge.wait(10)
            time.sleep(1.0)
            edge = spawn_edge(edge_toml, log)
        _wait(lambda: _count(tmp_path / "hub.sqlite3", "SELECT COUNT(*) FROM passages") >= SCANS
              and _count(tmp_path / "edge.sqlite3", "SELECT COUNT(*) FROM outbox") == 0, 600,
              "every passage at the hub and the edge's outbox empty")
        took = time.monotonic() - started_at
    finally:
        for proc in (edge, hub):
            if proc.poll() is None:
                proc.kill()
            proc.wait(30)
    hub_db = sqlite3.connect(tmp_path / "hub.sqlite3")
    blobs = [row[0] for row in hub_db.execute("SELECT sha256 FROM blobs")]
    passages = hub_db.execute("SELECT COUNT(*), COUNT(DISTINCT edge_passage_id) FROM passages").fetchone()
    hub_db.close()
    assert sorted(blobs) == sorted(n.sha256 for n in notices), "the hub does not hold exactly the 100 scans"
    assert passages == (SCANS, SCANS), f"passages at the hub (rows, distinct): {passages}"
    for sha in blobs:  # every stored file is whole and is what its name says
        path = tmp_path / "blobs" / sha[:2] / sha[2:4] / sha
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 22):
                digest.update(chunk)
        assert digest.hexdigest() == sha
    partial = [p for p in (tmp_path / "blobs").rglob("*.part")]
    assert partial == [], f"partial uploads left behind: {partial}"
    refused = _count(tmp_path / "edge.sqlite3", "SELECT COUNT(*) FROM outbox_refused")
    assert refused == 0, "the edge's uplink refused items"
    print(f"\n{victim} killed with {held_at_kill} of {SCANS} scans at the hub; all {SCANS} ({SCANS * 30} MB) "
          f"arrived exactly once, outbox empty, {took:.0f} s in all")

