"""Encode -> decode round trips for every message type with both headers; escaping and error reasons."""

from __future__ import annotations

from datetime import datetime

import pytest

from drivers.jt808 import (
    CHINA_TZ, Authentication, BatchLocation, Body, ExtraItem, GeneralResponse, Header, Heartbeat,
    Jt808DecodeError, LocationReport, LockStateCode, LockStatus, Reason, Registration, RegistrationResponse,
    SplitInfo, RawBody, check_code, decode_frame, decode_lock_status, encode_frame, encode_lock_status, escape,
    find_lock_status, reply_for, unescape, wrap,
)
from drivers.jt808.messages import (
    AUTHENTICATION, BATCH_LOCATION, HEARTBEAT, LOCATION_REPORT, PLATFORM_RESPONSE, REGISTRATION,
    REGISTRATION_RESPONSE, TERMINAL_RESPONSE,
)

WHEN = datetime(2026, 11, 26, 15, 20, 0, tzinfo=CHINA_TZ)
LOCK = encode_lock_status(LockStatus("KL-0001", LockStateCode.TAMPERED, True, False, 12))
REPORT = LocationReport(0x80, 0x2, -33.868820, -151.209296, 58, 42.5, 271, WHEN, (LOCK, ExtraItem(0x31, b"\x09")))

BODIES: list[tuple[int, Body]] = [
    (TERMINAL_RESPONSE, GeneralResponse(7, 0x8103, 0)),
    (PLATFORM_RESPONSE, GeneralResponse(65535, 0x0200, 1)),
    (HEARTBEAT, Heartbeat()),
    (REGISTRATION, Registration(65, 4000, "KOUAN", "SL-808", "L000001", 1, "新A12345")),
    (REGISTRATION_RESPONSE, RegistrationResponse(3, 0, "token-7e}")),
    (REGISTRATION_RESPONSE, RegistrationResponse(3, 4, "")),
    (LOCATION_REPORT, REPORT),
    (BATCH_LOCATION, BatchLocation(1, (REPORT, REPORT))),
]


@pytest.mark.parametrize("protocol_version", [None, 1])
@pytest.mark.parametrize(("message_id", "body"), BODIES, ids=[f"{m:04x}-{i}" for i, (m, _) in enumerate(BODIES)])
def test_round_trip(message_id: int, body: Body, protocol_version: int | None) -> None:
    terminal = "013800138000" if protocol_version is None else "00000000013800138000"
    header = Header(message_id, terminal, 0x7E7D, protocol_version)
    decoded = decode_frame(encode_frame(header, body))
    assert decoded.header.terminal == terminal and decoded.header.serial == 0x7E7D
    assert decoded.header.version == ("2013" if protocol_version is None else "2019")
    if isinstance(body, LocationReport):
        assert isinstance(decoded.body, LocationReport)
        assert decoded.body.status == body.status | 0b1100       # south and west from the signs
        assert decoded.body.latitude == body.latitude and decoded.body.longitude == body.longitude
        assert decoded.body.extras == body.extras and decoded.body.time == WHEN
    elif isinstance(body, BatchLocation):
        assert isinstance(decoded.body, BatchLocation) and len(decoded.body.reports) == 2
        assert decoded.body.reports[1].extras == REPORT.extras
    else:
        assert decoded.body == body


@pytest.mark.parametrize("protocol_version", [None, 1])
def test_authentication_layouts(protocol_version: int | None) -> None:
    body = Authentication("auth-code", "860000000000001", "fw-1.2")
    terminal = "1" if protocol_version is None else "12345678901234567890"
    message = decode_frame(encode_frame(Header(AUTHENTICATION, terminal, 1, protocol_version), body))
    if protocol_version is None:   # 2013: the code only
        assert message.body == Authentication("auth-code") and message.header.size == 12
    else:                          # 2019: length + code + IMEI[15] + version[20]
        assert message.body == body and message.header.size == 17
        assert message.header.body_length == 1 + 9 + 15 + 20


def test_split_header_sizes_and_raw_body() -> None:
    for version, size in ((None, 16), (1, 21)):
        header = Header(0x0801, "13800138000", 9, version, split=SplitInfo(3, 2))
        message = decode_frame(encode_frame(header, RawBody(b"\x7e\x7d" * 10)))
        assert message.header.split == SplitInfo(3, 2) and message.header.size == size
        assert message.body == RawBody(b"\x7e\x7d" * 10)


def test_escaping_edge_cases() -> None:
    assert escape(b"\x7e") == b"\x7d\x02" and escape(b"\x7d") == b"\x7d\x01"
    assert escape(b"\x7d\x02") == b"\x7d\x01\x02"       # a literal 7D 02 must not turn into 7E
    assert unescape(b"\x7d\x01\x02") == b"\x7d\x02"
    for raw in (b"\x7e\x7e", b"\x7d\x7d", b"\x7d\x7e\x7d", bytes(range(256))):
        assert unescape(escape(raw)) == raw
    with pytest.raises(Jt808DecodeError) as err:
        unescape(b"\x01\x7d\x03")
    assert err.value.reason is Reason.BAD_ESCAPE
    with pytest.raises(Jt808DecodeError) as err:
        unescape(b"\x01\x7d")                            # 0x7D as the last byte
    assert err.value.reason is Reason.BAD_ESCAPE


def test_check_code_itself_escaped() -> None:
    """A payload whose XOR is 0x7E: the check code byte is escaped too (escaping after the check)."""
    payload = bytes.fromhex("0002" "0000" "000000000000" "0000")   # id, attributes, terminal, serial 0
    fix = 0x7E ^ check_code(payload)
    header = Header(HEARTBEAT, "000000000000", fix)
    frame = encode_frame(header, Heartbeat())
    assert frame.endswith(b"\x7d\x02\x7e") and decode_frame(frame).header.serial == fix


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda f: f[:8] + f[-1:], Reason.TRUNCATED),
    (lambda f: f[:5] + bytes([f[5] ^ 0xFF]) + f[6:], Reason.CHECK_CODE),
    (lambda f: f[:5] + b"\x7d\x05" + f[6:], Reason.BAD_ESCAPE),
])
def test_error_reasons(mutate, reason: Reason) -> None:
    frame = encode_frame(Header(LOCATION_REPORT, "13800138000", 1), REPORT)
    with pytest.raises(Jt808DecodeError) as err:
        decode_frame(mutate(frame))
    assert err.value.reason is reason


def test_length_mismatch_and_bad_header() -> None:
    good = encode_frame(Header(HEARTBEAT, "13800138000", 1), Heartbeat())
    payload = unescape(good[1:-2])
    longer = bytearray(payload)
    longer[3] = 5                              # attributes claim 5 body bytes, there are none
    with pytest.raises(Jt808DecodeError) as err:
        decode_frame(wrap(bytes(longer)))
    assert err.value.reason is Reason.LENGTH_MISMATCH and "5" in err.value.detail
    not_bcd = bytearray(payload)
    not_bcd[4] = 0xAB
    with pytest.raises(Jt808DecodeError) as err:
        decode_frame(wrap(bytes(not_bcd)))
    assert err.value.reason is Reason.BAD_HEADER


def test_lock_item_layout_and_errors() -> None:
    item = encode_lock_status(LockStatus("KL-0001", LockStateCode.OPENED, False, True, None))
    assert item.item_id == 0xE0
    assert item.value.hex() == "01" "01" "02" "ff" "07" + b"KL-0001".hex()
    assert find_lock_status(REPORT) == LockStatus("KL-0001", LockStateCode.TAMPERED, True, False, 12)
    for bad in ("02010000014b", "01090000014b", "0100006501" "4b", "010000640241"):
        with pytest.raises(Jt808DecodeError):
            decode_lock_status(bytes.fromhex(bad))


def test_reply_for_each_terminal_message() -> None:
    reg = decode_frame(encode_frame(Header(REGISTRATION, "1", 4, 1), BODIES[3][1]))
    answer = decode_frame(reply_for(reg, serial=9, auth_code="abc") or b"")
    assert answer.header.message_id == REGISTRATION_RESPONSE and answer.header.version == "2019"
    assert answer.body == RegistrationResponse(4, 0, "abc") and answer.header.serial == 9
    report = decode_frame(encode_frame(Header(LOCATION_REPORT, "1", 77), REPORT))
    ack = decode_frame(reply_for(report, serial=10) or b"")
    assert ack.body == GeneralResponse(77, LOCATION_REPORT, 0) and ack.header.terminal == "000000000001"
    assert reply_for(ack, serial=11) is None
