"""A blind-area batch (0x0704) from a serial lock: each report is stored whole and placed in the
lock's order, and a report the edge already had (sent again in the batch) changes nothing.
Real parts: a pty, the edge, Mosquitto, SQLite, HTTP."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from drivers.jt808 import (
    BATCH_LOCATION, CHINA_TZ, LOCATION_REPORT, STATUS_POSITIONED, BatchLocation, Header, LocationReport,
    encode_frame, encode_lock_status,
)
from drivers.jt808.lock_items import LockStateCode, LockStatus
from tests.conftest import Broker
from tests.lane_harness import EdgeThread, lane_config, wait_until
from tests.serial_harness import PtyDevice

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=CHINA_TZ)
TERMINAL = "013800138000"


def location(seconds: int, state: LockStateCode) -> LocationReport:
    return LocationReport(0, STATUS_POSITIONED, 44.2117, 80.4194, 520, 0.0, 0, T0 + timedelta(seconds=seconds),
                          (encode_lock_status(LockStatus("SEAL-S1", state, battery_pct=90)),))


def test_batch_reports_are_stored_whole_and_in_the_lock_order(tmp_path: Path, mosquitto: Broker) -> None:
    link = tmp_path / "lock.tty"
    device = PtyDevice(link)
    edge = EdgeThread(lane_config(tmp_path, mosquitto.port, link, offline_after_s=3600)).start()
    try:
        wait_until(lambda: any(d["id"] == "lock-s" and d["connected"] for d in edge.get("/api/devices")), 10,
                   what="serial lock connected")
        sealed, opened, sealed_again = (location(0, LockStateCode.SEALED), location(10, LockStateCode.OPENED),
                                        location(20, LockStateCode.SEALED))
        device.write_all(encode_frame(Header(LOCATION_REPORT, TERMINAL, 1), sealed))
        device.write_all(encode_frame(Header(LOCATION_REPORT, TERMINAL, 5), location(30, LockStateCode.SEALED)))
        # the lock gave up waiting for answers while the edge was away: the blind-area batch, with
        # one report the edge had already (serial 1's)
        device.write_all(encode_frame(Header(BATCH_LOCATION, TERMINAL, 6), BatchLocation(1, (sealed, opened, sealed_again))))
        assert edge.runtime is not None and edge.runtime.ingest is not None
        wait_until(lambda: edge.runtime.ingest.stats.stored >= 5, 10, what="the batch stored")
        events = [(e["event"], e["device_time"]) for e in sorted(edge.get("/api/events"), key=lambda e: e["id"])]
        assert events == [("first_seen", T0.isoformat()), ("opened", (T0 + timedelta(seconds=10)).isoformat()),
                          ("sealed", (T0 + timedelta(seconds=20)).isoformat())]
        with sqlite3.connect(tmp_path / "edge.sqlite3") as con:
            rows = con.execute("SELECT payload_json FROM readings WHERE message='0x0704' ORDER BY id").fetchall()
        bodies = [json.loads(payload) for (payload,) in rows]
        assert [b["batch_index"] for b in bodies] == [0, 1, 2] and {b["serial"] for b in bodies} == {6}
        assert [b["body"]["time"] for b in bodies] == [T0.isoformat(), (T0 + timedelta(seconds=10)).isoformat(),
                                                      (T0 + timedelta(seconds=20)).isoformat()]
        assert bodies[1]["body"]["latitude"] == 44.2117
    finally:
        edge.stop()
        device.close()


def test_a_flood_of_bad_frames_is_one_warning_with_its_count(caplog) -> None:  # type: ignore[no-untyped-def]
    import logging

    from edge.device_status import DeviceStatus
    from edge.kinds.base import DeviceContext
    from edge.kinds.smart_lock.config import SmartLockConfig, SmartLockDefaults
    from edge.kinds.smart_lock.serial import SerialLock

    config = SmartLockConfig.model_validate({"id": "lock-s", "kind": "smart_lock", "transport": "serial",
                                             "address": "/nonexistent"})
    status = DeviceStatus("lock-s", "smart_lock", "serial", "/nonexistent", "", 90.0)
    lock = SerialLock(DeviceContext(config, SmartLockDefaults(), "lane", status, ingest=None,  # type: ignore[arg-type]
                                    mqtt=None, changed=lambda _d: None))  # type: ignore[arg-type]
    with caplog.at_level(logging.DEBUG, logger="edge.kinds.smart_lock.serial"):
        lock._on_data(b"\x7e\x01\x02\x7e" * 500)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert status.counters["bad_frames"] == 500
    assert len(warnings) == 1 and "1 bad frame(s)" in warnings[0], warnings
    assert sum(r.levelno == logging.DEBUG and "bad frame skipped" in r.getMessage() for r in caplog.records) == 499
