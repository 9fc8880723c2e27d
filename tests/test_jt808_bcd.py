"""BCD numbers and BCD[6] timestamps: JT/T 808 times are Beijing time (UTC+8) on the wire."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from drivers.jt808 import CHINA_TZ, Header, Jt808DecodeError, LocationReport, Reason, decode_frame, encode_frame
from drivers.jt808.bcd import decode_bcd, decode_bcd_time, encode_bcd, encode_bcd_time
from drivers.jt808.messages import LOCATION_REPORT


@pytest.mark.parametrize(("moment", "wire"), [
    (datetime(2026, 11, 26, 7, 20, 0, tzinfo=timezone.utc), "261126152000"),
    (datetime(2026, 11, 26, 2, 20, 0, tzinfo=timezone(timedelta(hours=-5))), "261126152000"),
    (datetime(2026, 12, 31, 20, 0, 5, tzinfo=timezone.utc), "270101040005"),      # next day, next year
    (datetime(2026, 11, 26, 15, 20, 0, tzinfo=CHINA_TZ), "261126152000"),
    (datetime(2026, 11, 26, 15, 20, 0), "261126152000"),                           # naive: taken as UTC+8
])
def test_time_is_encoded_in_beijing_time(moment: datetime, wire: str) -> None:
    assert encode_bcd_time(moment).hex() == wire


def test_no_time_is_six_zero_bytes_and_decodes_to_none() -> None:
    assert encode_bcd_time(None) == bytes(6)
    assert decode_bcd_time(bytes(6)) is None


def test_decoded_time_is_the_same_instant_in_utc_plus_8() -> None:
    decoded = decode_bcd_time(bytes.fromhex("261126152000"))
    assert decoded == datetime(2026, 11, 26, 7, 20, 0, tzinfo=timezone.utc)
    assert decoded is not None and decoded.utcoffset() == timedelta(hours=8)


def test_utc_time_survives_a_location_report_round_trip() -> None:
    utc = datetime(2026, 11, 26, 7, 20, 0, tzinfo=timezone.utc)
    frame = encode_frame(Header(LOCATION_REPORT, "1", 1), LocationReport(0, 0, 1.0, 2.0, 0, 0.0, 0, utc))
    body = frame[1:-2]                                        # unescaped here: no 0x7E/0x7D in this frame
    assert bytes.fromhex("261126152000") in body
    decoded = decode_frame(frame).body
    assert isinstance(decoded, LocationReport) and decoded.time == utc


@pytest.mark.parametrize("bad", ["261326152000", "261126252000", "2611261520a0"])
def test_invalid_time_is_a_bad_body(bad: str) -> None:
    with pytest.raises(Jt808DecodeError) as err:
        decode_bcd_time(bytes.fromhex(bad))
    assert err.value.reason is Reason.BAD_BODY
    if bad.isdigit():
        assert err.value.detail.startswith(f"time {bad} is not a valid YYMMDDhhmmss: ")
    else:
        assert err.value.detail == f"time is not BCD: {bad}"


def test_bcd_numbers_pad_and_refuse() -> None:
    assert encode_bcd("13800138000", 6) == bytes.fromhex("013800138000")
    assert encode_bcd("", 2) == bytes(2)
    assert decode_bcd(bytes.fromhex("0138")) == "0138"
    with pytest.raises(ValueError, match="decimal digits"):
        encode_bcd("12a4", 2)
    with pytest.raises(ValueError, match="more than 4 digits"):
        encode_bcd("12345", 2)
    assert encode_bcd("1234", 2) == bytes.fromhex("1234")
    with pytest.raises(Jt808DecodeError) as err:
        decode_bcd(bytes.fromhex("01ab"), "terminal number")
    assert err.value.reason is Reason.BAD_BODY and err.value.detail == "terminal number is not BCD: 01ab"
    with pytest.raises(Jt808DecodeError) as err:
        decode_bcd(bytes.fromhex("f0"))
    assert err.value.detail == "BCD field is not BCD: f0"
