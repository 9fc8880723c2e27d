"""`describe`: the JSON-ready dict `kouan decode jt808` prints, for every kind of header and body.

Expected dicts are written out by hand from the JT/T 808 field definitions (table 27 scales: 0x01
mileage 1/10 km, 0x02 fuel 1/10 L, 0x03 speed 1/10 km/h), not produced by the code under test.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from drivers.jt808 import (
    CHINA_TZ, BatchLocation, ExtraItem, Header, LocationReport, LockStateCode, LockStatus, RawBody, Registration,
    SplitInfo, decode_frame, describe, encode_frame, encode_lock_status,
)
from drivers.jt808.describe import describe_extra, describe_location
from drivers.jt808.messages import BATCH_LOCATION, LOCATION_REPORT, REGISTRATION

WHEN = datetime(2026, 11, 26, 15, 20, 0, tzinfo=CHINA_TZ)


@pytest.mark.parametrize(("item", "expected"), [
    (ExtraItem(0x01, bytes.fromhex("000004d2")), {"length": 4, "hex": "000004d2", "name": "mileage_km", "value": 123.4}),
    (ExtraItem(0x02, bytes.fromhex("0007")), {"length": 2, "hex": "0007", "name": "fuel_l", "value": 0.7}),
    (ExtraItem(0x03, bytes.fromhex("0309")), {"length": 2, "hex": "0309", "name": "tachograph_speed_kmh", "value": 77.7}),
    (ExtraItem(0x25, bytes.fromhex("00000101")), {"length": 4, "hex": "00000101", "name": "vehicle_signal_status", "value": 257}),
    (ExtraItem(0x2A, bytes.fromhex("8001")), {"length": 2, "hex": "8001", "name": "io_status", "value": 32769}),
    (ExtraItem(0x30, bytes.fromhex("1f")), {"length": 1, "hex": "1f", "name": "signal_strength", "value": 31}),
    (ExtraItem(0x31, bytes.fromhex("09")), {"length": 1, "hex": "09", "name": "gnss_satellites", "value": 9}),
    (ExtraItem(0x01, bytes.fromhex("04d2")), {"length": 2, "hex": "04d2"}),              # wrong length: hex only
    (ExtraItem(0x31, b""), {"length": 0, "hex": ""}),
    (ExtraItem(0xE5, bytes.fromhex("00000000")), {"length": 4, "hex": "00000000"}),      # vendor item: hex only
])
def test_standard_items_are_named_and_scaled(item: ExtraItem, expected: dict) -> None:
    out = describe_extra(item)
    assert out == expected
    if "value" in expected:
        assert type(out["value"]) is type(expected["value"])


def test_lock_item_is_spelled_out_and_a_broken_one_says_why() -> None:
    lock = encode_lock_status(LockStatus("KL-9", LockStateCode.OPENED, shell_opened=True, battery_pct=40))
    assert describe_extra(lock) == {
        "length": 9, "hex": "01010228" "04" + b"KL-9".hex(), "name": "lock_status", "lock_id": "KL-9",
        "lock_state": "opened", "rope_cut": False, "shell_opened": True, "battery_pct": 40,
    }
    broken = ExtraItem(0xE0, bytes.fromhex("010100"))
    assert describe_extra(broken) == {"length": 3, "hex": "010100",
                                      "error": "bad_body: lock status item is 3 bytes, needs at least 6"}


def report(**changes: object) -> LocationReport:
    fields: dict[str, object] = dict(alarm=0x80, status=2, latitude=44.5, longitude=80.25, altitude_m=520,
                                     speed_kmh=12.5, heading=90, time=WHEN)
    fields.update(changes)
    return LocationReport(**fields)  # type: ignore[arg-type]


BASE = {"alarm": 0x80, "status": 2, "latitude": 44.5, "longitude": 80.25, "altitude_m": 520, "speed_kmh": 12.5,
        "heading": 90}


def test_location_without_fix_time_lock_or_trailing_bytes() -> None:
    assert describe_location(report(time=None)) == {**BASE, "time": None, "extras": {}}


def test_location_keeps_trailing_bytes_and_does_not_lift_a_broken_lock() -> None:
    out = describe_location(report(extras=(ExtraItem(0xE0, b"\x02"),), trailing=b"\x00\x78"))
    assert out == {**BASE, "time": "2026-11-26T15:20:00+08:00",
                   "extras": {"0xe0": {"length": 1, "hex": "02",
                                       "error": "bad_body: lock status item is 1 bytes, needs at least 6"}},
                   "extras_trailing_hex": "0078"}


def test_split_2019_raw_packet() -> None:
    header = Header(0x0801, "13800138000", 9, 1, split=SplitInfo(3, 2))
    assert describe(decode_frame(encode_frame(header, RawBody(b"\x01\x7e")))) == {
        "message_id": 0x0801, "message": "0x0801", "version": "2019", "terminal": "00000000013800138000",
        "serial": 9, "body_length": 2, "protocol_version": 1, "split": {"total": 3, "index": 2}, "body_hex": "017e",
    }


def test_encrypted_packet_names_its_mode() -> None:
    header = Header(LOCATION_REPORT, "1", 3, encryption=1)
    assert describe(decode_frame(encode_frame(header, RawBody(b"\xaa")))) == {
        "message_id": 0x0200, "message": "location_report", "version": "2013", "terminal": "000000000001",
        "serial": 3, "body_length": 1, "encryption": 1, "body_hex": "aa",
    }


def test_batch_lists_each_location() -> None:
    batch = BatchLocation(1, (report(), report(time=None)))
    out = describe(decode_frame(encode_frame(Header(BATCH_LOCATION, "1", 4), batch)))
    assert out["message"] == "batch_location" and out["kind"] == 1
    assert out["locations"] == [{**BASE, "time": "2026-11-26T15:20:00+08:00", "extras": {}},
                                {**BASE, "time": None, "extras": {}}]


def test_other_bodies_are_their_fields() -> None:
    body = Registration(65, 4000, "KOUAN", "SL-808", "L000001", 1, "A12345")
    out = describe(decode_frame(encode_frame(Header(REGISTRATION, "1", 5), body)))
    assert out == {"message_id": 0x0100, "message": "registration", "version": "2013", "terminal": "000000000001",
                   "serial": 5, "body_length": 4 + 5 + 20 + 7 + 1 + 6, "province": 65, "city": 4000,
                   "manufacturer": "KOUAN", "model": "SL-808", "terminal_id": "L000001", "plate_color": 1,
                   "plate": "A12345"}
