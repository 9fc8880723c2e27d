"""LockReading from a decoded 0x0200 and from the MQTT JSON report; bad JSON names the field."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from drivers.jt808 import (
    CHINA_TZ, Header, Heartbeat, LocationReport, LockStateCode, LockStatus, decode_frame, encode_frame,
    encode_lock_status,
)
from drivers.smart_lock import LockReading, LockState, availability_topic, report_topic

WHEN = datetime(2026, 11, 26, 15, 20, 0, tzinfo=CHINA_TZ)


def report_frame(status: LockStatus, alarm: int = 0) -> bytes:
    report = LocationReport(alarm, 2, 44.2117, 80.4194, 520, 0.0, 0, WHEN, (encode_lock_status(status),))
    return encode_frame(Header(0x0200, "013800138000", 42), report)


def test_from_jt808() -> None:
    frame = report_frame(LockStatus("KL-9", LockStateCode.TAMPERED, rope_cut=True, battery_pct=9), alarm=0x80)
    reading = LockReading.from_jt808(decode_frame(frame), device="lock1")
    assert (reading.device, reading.terminal, reading.lock_id, reading.state) == (
        "lock1", "013800138000", "KL-9", LockState.TAMPERED)
    assert reading.rope_cut and not reading.shell_opened and reading.battery_pct == 9
    assert (reading.alarm, reading.serial, reading.message_id, reading.time) == (0x80, 42, 0x0200, WHEN)
    assert reading.latitude == pytest.approx(44.2117)


def test_from_jt808_refuses_other_messages_and_missing_item() -> None:
    with pytest.raises(ValueError, match="not a 0x0200"):
        LockReading.from_jt808(decode_frame(encode_frame(Header(2, "1", 1), Heartbeat())), "lock1")
    plain = LocationReport(0, 2, 1.0, 2.0, 0, 0.0, 0, WHEN)
    with pytest.raises(ValueError, match="0xE0"):
        LockReading.from_jt808(decode_frame(encode_frame(Header(0x0200, "1", 1), plain)), "lock1")


def test_json_round_trip_matches_jt808() -> None:
    frame = report_frame(LockStatus("KL-9", LockStateCode.OPENED, shell_opened=True, battery_pct=77))
    from_frame = LockReading.from_jt808(decode_frame(frame), "lock1")
    from_json = LockReading.from_json(from_frame.to_json(), "lock1")
    assert from_json.transport == "mqtt"
    assert from_json == LockReading(**{**from_frame.__dict__, "transport": "mqtt"})


GOOD = {"terminal": "013800138000", "serial": 1, "lock_id": "KL-1", "state": "sealed", "rope_cut": False,
        "shell_opened": False, "battery_pct": 80, "latitude": 44.2, "longitude": 80.4,
        "time": "2026-11-26T15:20:00+08:00"}


@pytest.mark.parametrize(("change", "field"), [
    ({"battery_pct": 101}, "battery_pct"),
    ({"state": "broken"}, "state"),
    ({"latitude": 91}, "latitude"),
    ({"time": "2026-11-26T15:20:00"}, "time"),
    ({"colour": "red"}, "colour"),            # extra="forbid"
    ({"terminal": "12ab"}, "terminal"),
])
def test_bad_json_names_the_field(change: dict, field: str) -> None:
    with pytest.raises(ValueError, match=f"field '{field}'"):
        LockReading.from_json(json.dumps({**GOOD, **change}), "lock1")


def test_missing_field_and_not_json() -> None:
    payload = {k: v for k, v in GOOD.items() if k != "lock_id"}
    with pytest.raises(ValueError, match="field 'lock_id'"):
        LockReading.from_json(json.dumps(payload), "lock1")
    with pytest.raises(ValueError, match="not JSON"):
        LockReading.from_json(b"\xff{", "lock1")
    assert LockReading.from_json(json.dumps(GOOD), "lock1").state is LockState.SEALED


def test_topics() -> None:
    assert report_topic("lane3", "lock7") == "kouan/lane3/lock7/report"
    assert availability_topic("lane3", "lock7") == "kouan/lane3/lock7/availability"
