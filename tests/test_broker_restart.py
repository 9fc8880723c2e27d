"""A site broker SIGKILLed mid-stream and started again loses no lock report.

The lock (stub) keeps what the broker has not acknowledged and sends it after the reconnect;
the broker runs with persistence (docs/operations.md), so the edge's session and subscription
survive the restart. Real parts: Mosquitto processes, the MQTT lock stub, the edge, SQLite.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from firmware_stubs.smart_lock import LockConfig
from firmware_stubs.smart_lock_mqtt import MqttSmartLock
from tests.lane_harness import EdgeThread, lane_config, wait_until
from tests.restartable_broker import RestartableBroker


def stored_serials(db: Path) -> list[int]:
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT payload_json FROM readings WHERE device_id='lock-m' AND message='report'").fetchall()
    return sorted(json.loads(payload)["serial"] for (payload,) in rows)


def test_broker_sigkill_and_restart_loses_no_report(tmp_path: Path) -> None:
    broker = RestartableBroker(tmp_path).start()
    stub = MqttSmartLock(LockConfig(terminal="13912344330", lock_id="SEAL-M1", report_period_s=0.1),
                         broker.url, "lane-t", "lock-m")
    edge = EdgeThread(lane_config(tmp_path, broker.port, tmp_path / "no-serial-lock", offline_after_s=3600)).start()
    try:
        stub.start()
        assert edge.runtime is not None and edge.runtime.ingest is not None
        ingest = edge.runtime.ingest
        wait_until(lambda: ingest.stats.stored >= 20, 15, what="reports flowing")
        broker.wait_saved()  # with the edge's session in it
        broker.kill()
        wait_until(lambda: not stub.connected, 15, what="the stub noticing the broker is gone")
        reports_at_kill = stub.counters["reports"]
        time.sleep(3.0)  # the lock goes on reporting into its buffer
        broker.start()
        wait_until(lambda: stub.counters["reports"] >= reports_at_kill + 40, 20, what="reports after the restart")
        wait_until(lambda: stub.waiting == 0, 20, what="the broker acknowledging the buffer")
    finally:
        stub.stop()
        # a report made after that and never acknowledged is still in the lock, not lost
        made = stub.counters["reports"] - stub.waiting
    try:
        assert stub.counters["reports_dropped"] == 0 and made > reports_at_kill + 30
        deadline = time.monotonic() + 20  # then the assertion below names what is missing
        while len(serials := stored_serials(tmp_path / "edge.sqlite3")) < made and time.monotonic() < deadline:
            time.sleep(0.05)
        assert serials == list(range(made)), f"missing {sorted(set(range(made)) - set(serials))}"
    finally:
        edge.stop()
        broker.stop()
