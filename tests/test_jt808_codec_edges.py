"""JT/T 808 codec at its edges: field limits, exact byte layouts, and the detail of every refusal.

The details are what `kouan decode jt808` and the deframer's error hook show an operator, so they
are checked word for word where they carry a number.
"""

from __future__ import annotations

import struct
from datetime import datetime

import pytest

from drivers.jt808 import (
    CHINA_TZ, Authentication, BatchLocation, ExtraItem, GeneralResponse, Header, Heartbeat, Jt808DecodeError,
    LocationReport, LockStateCode, LockStatus, RawBody, Reason, Registration, RegistrationResponse, SplitInfo,
    check_code, decode_frame, decode_lock_status, encode_frame, encode_lock_status, find_lock_status,
    platform_response, reply_for, unescape, wrap,
)
from drivers.jt808.header import decode_header, encode_header
from drivers.jt808.location import decode_batch, decode_location, encode_location
from drivers.jt808.messages import (
    AUTHENTICATION, BATCH_LOCATION, HEARTBEAT, LOCATION_REPORT, PLATFORM_RESPONSE, REGISTRATION,
    REGISTRATION_RESPONSE, TERMINAL_RESPONSE,
)

WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=CHINA_TZ)


def decode_error(frame: bytes) -> Jt808DecodeError:
    with pytest.raises(Jt808DecodeError) as err:
        decode_frame(frame)
    return err.value


def body_of(message_id: int, body: bytes, version: int | None = None):
    """Decode `body` as the body of `message_id` (framed by the real encoder as raw bytes)."""
    return decode_frame(encode_frame(Header(message_id, "1", 1, version), RawBody(body))).body


def body_error(message_id: int, body: bytes, version: int | None = None) -> Jt808DecodeError:
    with pytest.raises(Jt808DecodeError) as err:
        body_of(message_id, body, version)
    assert err.value.reason is Reason.BAD_BODY
    return err.value


def location_body(report: LocationReport) -> bytes:
    return encode_location(report)


def plain_report(**changes: object) -> LocationReport:
    fields: dict[str, object] = dict(alarm=0, status=0, latitude=10.0, longitude=20.0, altitude_m=0, speed_kmh=0.0,
                                     heading=0, time=WHEN)
    fields.update(changes)
    return LocationReport(**fields)  # type: ignore[arg-type]


# --- framing and the error type -------------------------------------------------------------------


def test_check_code_of_nothing_is_zero_and_xor_of_all_bytes() -> None:
    assert check_code(b"") == 0
    assert check_code(b"\x01\x02\x04\x80") == 0x87


def test_error_text_is_reason_then_detail() -> None:
    exc = Jt808DecodeError(Reason.CHECK_CODE, "check code 0x01, computed 0x02")
    assert str(exc) == "check_code: check code 0x01, computed 0x02"
    assert exc.reason is Reason.CHECK_CODE and exc.detail == "check code 0x01, computed 0x02"


def test_bad_escape_details_name_offset_and_follower() -> None:
    with pytest.raises(Jt808DecodeError) as err:
        unescape(b"\x01\x7d\x03\x04")
    assert err.value.detail == "0x7D at offset 1 followed by 03"
    with pytest.raises(Jt808DecodeError) as err:
        unescape(b"\x7d\x03\x04\x05\x06\x07")
    assert err.value.detail == "0x7D at offset 0 followed by 03"
    with pytest.raises(Jt808DecodeError) as err:
        unescape(b"\x01\x02\x7d")
    assert err.value.detail == "0x7D at offset 2 followed by end of frame"


def test_unescaped_flag_inside_a_frame_is_a_bad_escape() -> None:
    good = encode_frame(Header(HEARTBEAT, "1", 1), Heartbeat())
    err = decode_error(good[:5] + b"\x7e" + good[5:])
    assert err.reason is Reason.BAD_ESCAPE and err.detail == "unescaped 0x7E inside the frame"


def test_truncated_and_check_code_details() -> None:
    err = decode_error(b"\x7e\x00\x02\x00\x00\x01\x7e")
    assert err.reason is Reason.TRUNCATED and err.detail == "5 bytes, a frame needs at least 13"
    good = bytearray(encode_frame(Header(HEARTBEAT, "1", 1), Heartbeat()))
    received = good[-2]
    good[-2] ^= 0x01
    err = decode_error(bytes(good))
    assert err.reason is Reason.CHECK_CODE
    assert err.detail == f"check code 0x{received ^ 0x01:02x}, computed 0x{received:02x}"


# --- header ---------------------------------------------------------------------------------------


def test_body_length_limit_is_1023() -> None:
    header = Header(0x0900, "1", 1)
    assert len(encode_header(header, 1023)) == 12
    assert struct.unpack_from(">H", encode_header(header, 1023), 2)[0] == 1023
    for bad in (1024, -1):
        with pytest.raises(ValueError, match=rf"body of {bad} bytes does not fit the 10-bit length \(max 1023\)"):
            encode_header(header, bad)
    big = decode_frame(encode_frame(header, RawBody(bytes(1023))))
    assert big.header.body_length == 1023 and big.body == RawBody(bytes(1023))


def test_rsa_encrypted_body_sets_bit_10_and_is_not_decoded() -> None:
    header = Header(LOCATION_REPORT, "1", 1, encryption=1)
    frame = encode_frame(header, RawBody(b"\x01\x02"))
    assert frame[3:5] == b"\x04\x02"                       # attributes: encryption 1 << 10 | length 2
    message = decode_frame(frame)
    assert message.header.encryption == 1 and message.body == RawBody(b"\x01\x02")


def test_encrypted_report_stays_raw_even_though_it_would_decode() -> None:
    body = location_body(plain_report())
    message = decode_frame(encode_frame(Header(LOCATION_REPORT, "1", 1, encryption=1), RawBody(body)))
    assert message.body == RawBody(body)


def test_unknown_encryption_and_reserved_bit_are_bad_headers() -> None:
    payload = bytearray(encode_header(Header(HEARTBEAT, "1", 1), 0))
    payload[2] |= 0x08                                       # encryption bits = 2
    err = decode_error(wrap(bytes(payload)))
    assert err.reason is Reason.BAD_HEADER and err.detail == "unknown encryption mode 2"
    payload = bytearray(encode_header(Header(HEARTBEAT, "1", 1), 0))
    payload[2] |= 0x80
    err = decode_error(wrap(bytes(payload)))
    assert err.reason is Reason.BAD_HEADER and err.detail == "reserved attribute bit 15 set (0x8000)"


def test_non_bcd_terminal_detail() -> None:
    payload = bytearray(encode_header(Header(HEARTBEAT, "1", 1), 0))
    payload[9] = 0x1F
    err = decode_error(wrap(bytes(payload)))
    assert err.reason is Reason.BAD_HEADER and err.detail == "terminal number is not BCD: 0000000000" + "1f"


def test_protocol_version_zero_is_kept() -> None:
    frame = encode_frame(Header(HEARTBEAT, "1", 1, 0), Heartbeat())
    assert frame[5] == 0
    message = decode_frame(frame)
    assert message.header.protocol_version == 0 and message.header.version == "2019"


def test_serial_and_split_use_the_full_unsigned_word() -> None:
    header = Header(0x0801, "1", 0xFFFF, split=SplitInfo(0xFFFF, 0x8001))
    message = decode_frame(encode_frame(header, RawBody(b"\x01")))
    assert message.header.serial == 0xFFFF and message.header.split == SplitInfo(0xFFFF, 0x8001)
    assert decode_frame(encode_frame(Header(HEARTBEAT, "1", 0x1_0005), Heartbeat())).header.serial == 5


@pytest.mark.parametrize(("header", "size"), [
    (Header(HEARTBEAT, "1", 1), 12),
    (Header(HEARTBEAT, "1", 1, 1), 17),
    (Header(HEARTBEAT, "1", 1, split=SplitInfo(2, 1)), 16),
    (Header(HEARTBEAT, "1", 1, 1, split=SplitInfo(2, 1)), 21),
])
def test_header_decoder_needs_every_header_byte(header: Header, size: int) -> None:
    payload = encode_header(header, 0)
    assert len(payload) == size
    decoded, offset = decode_header(payload)
    assert offset == size and decoded.split == header.split and decoded.protocol_version == header.protocol_version
    with pytest.raises(Jt808DecodeError) as err:
        decode_header(payload[:-1])
    assert err.value.reason is Reason.TRUNCATED and err.value.detail == f"{size - 1} bytes, the header needs {size}"


def test_header_decoder_needs_id_and_attributes() -> None:
    for short in (b"", b"\x00\x02\x00"):
        with pytest.raises(Jt808DecodeError) as err:
            decode_header(short)
        assert err.value.reason is Reason.TRUNCATED
        assert err.value.detail == "shorter than the message id and attributes"
    with pytest.raises(Jt808DecodeError) as err:
        decode_header(b"\x00\x02\x00\x00")
    assert err.value.detail == "4 bytes, the header needs 12"


# --- message bodies -------------------------------------------------------------------------------


def test_general_response_needs_five_bytes() -> None:
    assert body_of(TERMINAL_RESPONSE, b"\x00\x07\x81\x03\x00") == GeneralResponse(7, 0x8103, 0)
    assert body_error(TERMINAL_RESPONSE, b"\x00\x07\x81\x03").detail == "general response body is 4 bytes, needs 5"


def test_registration_2013_layout_and_limits() -> None:
    body = Registration(65, 40000, "KOUAX", "M" * 19 + "X", "L00000X", 1, "新A1X")
    raw = encode_frame(Header(REGISTRATION, "1", 1), body)
    message = decode_frame(raw)
    assert message.body == body
    data = raw[13:-2]
    assert data[:4] == b"\x00\x41\x9c\x40" and len(data) == 4 + 5 + 20 + 7 + 1 + len("新A1X".encode("gbk"))
    assert data[4:9] == b"KOUAX" and data[9:29] == b"M" * 19 + b"X" and data[29:36] == b"L00000X"
    assert data[36] == 1 and data[37:] == "新A1X".encode("gbk")
    assert body_error(REGISTRATION, bytes(36)).detail == "registration body is 36 bytes, needs 37"
    assert body_of(REGISTRATION, bytes(37)) == Registration(0, 0, "", "", "", 0, "")


def test_registration_2019_field_widths() -> None:
    body = Registration(1, 2, "MFR-2019", "MODEL-2019", "TERMINAL-2019", 2, "A1")
    data = encode_frame(Header(REGISTRATION, "1", 1, 1), body)[18:-2]
    assert len(data) == 4 + 11 + 30 + 30 + 1 + 2
    assert data[4:15] == b"MFR-2019".ljust(11, b"\x00")
    assert data[15:45] == b"MODEL-2019".ljust(30, b"\x00")
    assert data[45:75] == b"TERMINAL-2019".ljust(30, b"\x00")
    assert data[75] == 2 and data[76:] == b"A1"
    hand_made = (b"\x00\x01\x00\x02" + b"M" * 11 + b"O" * 30 + b"T" * 30 + b"\x02" + b"P")
    assert body_of(REGISTRATION, hand_made, 1) == Registration(1, 2, "M" * 11, "O" * 30, "T" * 30, 2, "P")
    assert body_error(REGISTRATION, bytes(75), 1).detail == "registration body is 75 bytes, needs 76"


@pytest.mark.parametrize(("body", "version", "message"), [
    (Registration(0, 0, "TOOLONG", "", "", 0, ""), None, "manufacturer 'TOOLONG' is longer than 5 bytes"),
    (Registration(0, 0, "", "M" * 21, "", 0, ""), None, f"model '{'M' * 21}' is longer than 20 bytes"),
    (Registration(0, 0, "", "", "T" * 8, 0, ""), None, f"terminal id '{'T' * 8}' is longer than 7 bytes"),
    (Registration(0, 0, "M" * 12, "", "", 0, ""), 1, f"manufacturer '{'M' * 12}' is longer than 11 bytes"),
    (Authentication("c", "8" * 16), 1, f"IMEI '{'8' * 16}' is longer than 15 bytes"),
    (Authentication("c", "", "v" * 21), 1, f"software version '{'v' * 21}' is longer than 20 bytes"),
])
def test_fixed_width_field_too_long_is_refused_by_name(body, version: int | None, message: str) -> None:
    message_id = REGISTRATION if isinstance(body, Registration) else AUTHENTICATION
    with pytest.raises(ValueError) as err:
        encode_frame(Header(message_id, "1", 1, version), body)
    assert str(err.value) == message


def test_text_fields_replace_bytes_that_are_not_gbk() -> None:
    body = b"\x00\x00\x00\x00" + b"AB\x80\x00\x00" + bytes(20) + bytes(7) + b"\x01" + b"\xff\xff"
    decoded = body_of(REGISTRATION, body)
    assert isinstance(decoded, Registration)
    assert decoded.manufacturer == "AB\ufffd" and decoded.plate == "\ufffd\ufffd"


def test_registration_response_carries_the_code_only_on_success() -> None:
    ok = RegistrationResponse(0xFFFF, 0, "tok")
    frame = encode_frame(Header(REGISTRATION_RESPONSE, "1", 1), ok)
    assert frame[13:-2] == b"\xff\xff\x00tok" and decode_frame(frame).body == ok
    refused = encode_frame(Header(REGISTRATION_RESPONSE, "1", 1), RegistrationResponse(4, 0xFE, "tok"))
    assert refused[13:-2] == b"\x00\x04\xfe"
    assert decode_frame(refused).body == RegistrationResponse(4, 0xFE, "")
    assert body_error(REGISTRATION_RESPONSE, b"\x00\x04").detail == "registration response body is 2 bytes, needs 3"


def test_authentication_2019_code_length_byte_limits() -> None:
    longest = Authentication("c" * 255, "860000000000001", "fw")
    assert decode_frame(encode_frame(Header(AUTHENTICATION, "1", 1, 1), longest)).body == longest
    with pytest.raises(ValueError) as err:
        encode_frame(Header(AUTHENTICATION, "1", 1, 1), Authentication("c" * 256))
    assert str(err.value) == "authentication code longer than 255 bytes"


def test_authentication_2019_needs_every_fixed_byte() -> None:
    n = 3
    full = bytes([n]) + b"abc" + b"8" * 15 + b"v" * 20
    assert body_of(AUTHENTICATION, full, 1) == Authentication("abc", "8" * 15, "v" * 20)
    assert body_of(AUTHENTICATION, full + b"Z", 1) == Authentication("abc", "8" * 15, "v" * 20)
    assert body_error(AUTHENTICATION, full[:-1], 1).detail == "authentication (2019) body is 38 bytes, needs 39"
    assert body_error(AUTHENTICATION, b"\x00", 1).detail == "authentication (2019) body is 1 bytes, needs 36"
    assert body_error(AUTHENTICATION, b"", 1).detail == "authentication body is 0 bytes, needs 1"
    assert body_of(AUTHENTICATION, b"", None) == Authentication("")


def test_a_body_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(ValueError) as err:
        encode_frame(Header(LOCATION_REPORT, "1", 1), Heartbeat())
    assert str(err.value) == "cannot encode Heartbeat as message 0x0200"
    with pytest.raises(ValueError) as err:
        encode_frame(Header(0x0999, "1", 1), GeneralResponse(1, 2))
    assert str(err.value) == "cannot encode GeneralResponse as message 0x0999"


# --- location report and batch ----------------------------------------------------------------------


def test_missing_extra_item_is_none() -> None:
    report = plain_report(extras=(ExtraItem(0x31, b"\x09"),))
    assert report.extra(0x31) == ExtraItem(0x31, b"\x09") and report.extra(0x30) is None
    assert find_lock_status(report) is None


@pytest.mark.parametrize(("latitude", "longitude", "bits"), [
    (0.0, 0.0, 0), (0.5, 0.5, 0), (-0.5, 0.5, 0b0100), (0.5, -0.5, 0b1000), (-1.0, -2.0, 0b1100),
])
def test_south_and_west_bits_follow_the_signs_only(latitude: float, longitude: float, bits: int) -> None:
    report = plain_report(status=0b1100 | 0b0010, latitude=latitude, longitude=longitude)  # stale south/west bits
    data = location_body(report)
    (status,) = struct.unpack_from(">I", data, 4)
    assert status == 0b0010 | bits
    decoded = decode_location(data)
    assert (decoded.latitude, decoded.longitude) == (latitude, longitude)


def test_extra_item_of_255_bytes_fits_256_does_not() -> None:
    assert decode_location(location_body(plain_report(extras=(ExtraItem(0x31, bytes(255)),)))).extras[0].value == bytes(255)
    with pytest.raises(ValueError) as err:
        location_body(plain_report(extras=(ExtraItem(0x31, bytes(256)),)))
    assert str(err.value) == "extra item 0x31 is 256 bytes (max 255)"


def test_short_location_body_detail() -> None:
    err = body_error(LOCATION_REPORT, bytes(27))
    assert err.detail == "location body is 27 bytes, needs 28"


@pytest.mark.parametrize(("tail", "extras", "trailing"), [
    (b"", (), b""),
    (b"\x31", (), b"\x31"),                                  # one byte: not even id + length
    (b"\x31\x00", (ExtraItem(0x31, b""),), b""),             # an empty item
    (b"\x31\x01\x09\x2a", (ExtraItem(0x31, b"\x09"),), b"\x2a"),
    (b"\x31\x05\x01", (), b"\x31\x05\x01"),                  # length runs past the body
])
def test_bytes_after_the_items_are_kept_as_trailing(tail: bytes, extras: tuple, trailing: bytes) -> None:
    decoded = decode_location(location_body(plain_report()) + tail)
    assert decoded.extras == extras and decoded.trailing == trailing


def test_empty_batch_and_byte_wide_kind() -> None:
    for batch in (BatchLocation(0, ()), BatchLocation(255, (plain_report(),))):
        frame = encode_frame(Header(BATCH_LOCATION, "1", 1), batch)
        decoded = decode_frame(frame).body
        assert isinstance(decoded, BatchLocation) and decoded.kind == batch.kind
        assert len(decoded.reports) == len(batch.reports)
    assert body_of(BATCH_LOCATION, b"\x00\x00\x01") == BatchLocation(1, ())


def batch_item(report: LocationReport) -> bytes:
    data = location_body(report)
    return struct.pack(">H", len(data)) + data


@pytest.mark.parametrize(("body", "detail"), [
    (b"\x00\x01", "batch body shorter than count + type"),
    (b"\x00\x02\x00" + batch_item(plain_report()), "batch item 1 of 2 missing"),
    (b"\x00\x02\x00" + batch_item(plain_report()) + b"\x00", "batch item 1 of 2 missing"),
    (b"\x00\x01\x00\x01\xf4" + bytes(40), "batch item 0 of 500 bytes overruns the body"),
    (b"\x00\x01\x00\xff\xff" + bytes(40), "batch item 0 of 65535 bytes overruns the body"),
    (b"\x00\x01\x00" + batch_item(plain_report()) + b"\x01\x02", "2 bytes after the 1 batch items"),
    (b"\x00\x01\x00\x00\x00", "location body is 0 bytes, needs 28"),
])
def test_batch_refusals_say_which_item(body: bytes, detail: str) -> None:
    assert body_error(BATCH_LOCATION, body).detail == detail
    with pytest.raises(Jt808DecodeError):
        decode_batch(body)


# --- lock status item -----------------------------------------------------------------------------


@pytest.mark.parametrize("lock_id", ["K", "K" * 32])
def test_lock_id_of_1_to_32_bytes_round_trips(lock_id: str) -> None:
    status = LockStatus(lock_id, LockStateCode.SEALED, battery_pct=0)
    item = encode_lock_status(status)
    assert item.value[4] == len(lock_id)
    assert decode_lock_status(item.value) == status


@pytest.mark.parametrize("lock_id", ["", "K" * 33])
def test_lock_id_outside_1_to_32_bytes_is_refused(lock_id: str) -> None:
    with pytest.raises(ValueError) as err:
        encode_lock_status(LockStatus(lock_id, LockStateCode.SEALED))
    assert str(err.value) == f"lock id must be 1-32 ASCII bytes, got {lock_id!r}"


@pytest.mark.parametrize("battery", [0, 100, None])
def test_battery_0_to_100_or_unknown_round_trips(battery: int | None) -> None:
    status = LockStatus("KL", LockStateCode.OPENED, battery_pct=battery)
    item = encode_lock_status(status)
    assert item.value[3] == (0xFF if battery is None else battery)
    assert decode_lock_status(item.value) == status


@pytest.mark.parametrize("battery", [-1, 101])
def test_battery_outside_0_to_100_is_refused(battery: int) -> None:
    with pytest.raises(ValueError) as err:
        encode_lock_status(LockStatus("KL", LockStateCode.OPENED, battery_pct=battery))
    assert str(err.value) == f"battery_pct must be 0-100, got {battery}"


@pytest.mark.parametrize(("status", "flags"), [
    (LockStatus("K", LockStateCode.SEALED), 0b000),
    (LockStatus("K", LockStateCode.SEALED, battery_pct=20), 0b100),          # at the low-battery line
    (LockStatus("K", LockStateCode.SEALED, battery_pct=21), 0b000),
    (LockStatus("K", LockStateCode.TAMPERED, rope_cut=True), 0b001),
    (LockStatus("K", LockStateCode.TAMPERED, shell_opened=True), 0b010),
])
def test_flag_byte(status: LockStatus, flags: int) -> None:
    value = encode_lock_status(status).value
    assert value[2] == flags
    assert decode_lock_status(value) == status


@pytest.mark.parametrize(("value", "detail"), [
    ("0100000001", "lock status item is 5 bytes, needs at least 6"),
    ("020000000141", "lock status layout version 2 is not 1"),
    ("010900000141", "lock state code 9 is not 0, 1 or 2"),
    ("01000000024141" + "41", "lock id length 2 does not match the item (8 B)"),
    ("010000000041", "lock id length 0 does not match the item (6 B)"),
    ("010000650141", "battery 101 % is above 100"),
])
def test_lock_status_refusals(value: str, detail: str) -> None:
    with pytest.raises(Jt808DecodeError) as err:
        decode_lock_status(bytes.fromhex(value))
    assert err.value.reason is Reason.BAD_BODY and err.value.detail == detail


def test_lock_status_decodes_each_flag_and_replaces_non_ascii_id_bytes() -> None:
    assert decode_lock_status(bytes.fromhex("010102ff0141")) == LockStatus("A", LockStateCode.OPENED, False, True, None)
    assert decode_lock_status(bytes.fromhex("010201640141")) == LockStatus("A", LockStateCode.TAMPERED, True, False, 100)
    assert decode_lock_status(bytes.fromhex("01000032024bc3")).lock_id == "K\ufffd"
    assert decode_lock_status(bytes.fromhex("0100003202c3a9")).lock_id == "\ufffd\ufffd"   # UTF-8 'é' is not ASCII


# --- replies --------------------------------------------------------------------------------------


def test_ack_keeps_the_2019_header_and_the_result() -> None:
    report = decode_frame(encode_frame(Header(LOCATION_REPORT, "12345678901234567890", 77, 1), plain_report()))
    ack = decode_frame(platform_response(report, 10, result=2))
    assert ack.header.message_id == PLATFORM_RESPONSE and ack.header.protocol_version == 1
    assert ack.header.terminal == "12345678901234567890" and ack.header.serial == 10
    assert ack.body == GeneralResponse(77, LOCATION_REPORT, 2)


def test_registration_is_answered_with_the_default_code_and_odd_ids_are_acked() -> None:
    registration = decode_frame(encode_frame(Header(REGISTRATION, "1", 4), Registration(1, 2, "", "", "", 0, "")))
    answer = decode_frame(reply_for(registration, 9) or b"")
    assert answer.body == RegistrationResponse(4, 0, "kouan")
    logout = decode_frame(encode_frame(Header(0x0003, "1", 5), RawBody(b"")))
    ack = decode_frame(reply_for(logout, 11) or b"")
    assert ack.header.message_id == PLATFORM_RESPONSE and ack.body == GeneralResponse(5, 0x0003, 0)
