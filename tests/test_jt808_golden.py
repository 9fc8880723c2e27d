"""Golden JT/T 808 frames from public references (not made by our encoder).

Expected field values were read by hand from the hex (offsets in the comments), independently of
the decoder under test.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from drivers.jt808 import (
    CHINA_TZ, Authentication, BatchLocation, Deframer, Heartbeat, Jt808DecodeError, LocationReport, Reason,
    Registration, decode_frame, encode_frame, unescape,
)

# xtream-codec test data (2019 header), quoted in /work/shared/REFERENCES.md.
XTREAM_2019_0200 = ("7e02004026010000000001391234432900000000006f0000001601dc9a0707456246007b00420003"
                    "2501292233440202006401040000000c417e")
# traccar/traccar src/test/java/org/traccar/protocol/HuabaoProtocolDecoderTest.java (2013 headers).
TRACCAR_0200_WEST = ("7e0200002e094027587492000a000000010000000a03083db7001329f3000000140000130412164952"
                     "010400000012360a0002341502cb0c20085c107e")
TRACCAR_0200_SOUTH = ("7e0200002e202000129707001c0000000000001c0601a2f0a8091f0bf00000000000ed2011030317330"
                      "00000000000000000780000000018000000267e")
TRACCAR_0200_ELOCK = ("7E02000053200002604323004800000000000C00000158B91406CB7007006B0000000022051210113801"
                      "0400000F2803020000250400000000300114310100E30100D50E0100026043232795980277530030E504"
                      "00000000E7020FC8E8020E83AB7E")
TRACCAR_0102 = "7E0102000E013511221122000661757468656E7469636174696F6E3F7E"
TRACCAR_0002 = "7e0002000004304832546500b7ca7e"
TRACCAR_0100 = ("7E0100002D013511221122000500000000373031303748422D5230334742440000000000000000000000"
                "3233363631303402CBD5424136383630387E")
TRACCAR_0704 = ("7E070400F30303000002450064000401003A000000000000000301618AC606C31F200000000000291805"
                "14202847010400000000EB16000C00B28986061708003732585700060089FFFFFFFE003A000000000000"
                "000301618AE806C31EB800000000009F180514202917010400000000EB16000C00B289860617080037325"
                "85700060089FFFFFFFE003A000000000000000301618AE806C31EB800000000009F1805142029470104000"
                "00000EB16000C00B28986061708003732585700060089FFFFFFFE003A000001000000080301618AE806C3"
                "1EB800000000009F180514203006010400000000EB16000C00B28986061708003732585700060089FFFF"
                "FFFED77E")
# traccar HuabaoFrameDecoderTest: the escaped content 30 7d02 08 7d01 55 is 30 7e 08 7d 55.
TRACCAR_ESCAPED, TRACCAR_UNESCAPED = "307d02087d0155", "307e087d55"


def frame(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)


def test_xtream_2019_location_report() -> None:
    message = decode_frame(frame(XTREAM_2019_0200))
    h, body = message.header, message.body
    # 0200 | attrs 4026 (version flag, 38 B) | version 01 | BCD[10] 00000000013912344329 | serial 0000
    assert (h.message_id, h.version, h.protocol_version, h.body_length) == (0x0200, "2019", 1, 0x26)
    assert (h.terminal, h.serial) == ("00000000013912344329", 0)
    assert isinstance(body, LocationReport)
    # alarm 0000006f, status 00000016 (bit 2: south), lat 01dc9a07, lon 07456246, alt 007b, speed 0042
    assert (body.alarm, body.status) == (0x6F, 0x16)
    assert body.latitude == pytest.approx(-0x01DC9A07 / 1e6) == pytest.approx(-31.234567)
    assert body.longitude == pytest.approx(121.987654)
    assert (body.altitude_m, body.speed_kmh, body.heading) == (123, 6.6, 3)
    assert body.time == datetime(2025, 1, 29, 22, 33, 44, tzinfo=CHINA_TZ)
    assert [(e.item_id, e.value.hex()) for e in body.extras] == [(0x02, "0064"), (0x01, "0000000c")]


def test_traccar_2013_location_west() -> None:
    message = decode_frame(frame(TRACCAR_0200_WEST))
    body = message.body
    assert (message.header.version, message.header.terminal, message.header.serial) == ("2013", "094027587492", 10)
    assert isinstance(body, LocationReport)
    assert (body.alarm, body.status) == (1, 0x0A)   # status bits 1 (positioned) and 3 (west)
    assert body.latitude == pytest.approx(0x03083DB7 / 1e6)
    assert body.longitude == pytest.approx(-0x001329F3 / 1e6)
    assert (body.altitude_m, body.speed_kmh, body.heading) == (0, 2.0, 0)
    assert body.time == datetime(2013, 4, 12, 16, 49, 52, tzinfo=CHINA_TZ)
    assert [e.item_id for e in body.extras] == [0x01, 0x36]


def test_traccar_2013_location_south_keeps_non_tlv_tail() -> None:
    body = decode_frame(frame(TRACCAR_0200_SOUTH)).body
    assert isinstance(body, LocationReport)
    assert body.status == 0x1C06 and body.latitude == pytest.approx(-27.455656)
    assert body.longitude == pytest.approx(153.029616) and body.heading == 0xED
    # after two empty items the vendor bytes are not id|len|value: kept, not dropped
    assert body.trailing.hex() == "00780000000018000000"


def test_traccar_elock_report_with_vendor_items() -> None:
    body = decode_frame(frame(TRACCAR_0200_ELOCK)).body
    assert isinstance(body, LocationReport)
    assert {0xE3, 0xE5, 0xE7, 0xE8} <= {e.item_id for e in body.extras}
    assert body.time == datetime(2022, 5, 12, 10, 11, 38, tzinfo=CHINA_TZ)


def test_traccar_authentication_heartbeat_registration() -> None:
    auth = decode_frame(frame(TRACCAR_0102))
    assert auth.body == Authentication("authentication") and auth.header.serial == 6
    assert decode_frame(frame(TRACCAR_0002)).body == Heartbeat()
    reg = decode_frame(frame(TRACCAR_0100)).body
    assert isinstance(reg, Registration)
    assert (reg.manufacturer, reg.model, reg.terminal_id, reg.plate_color) == ("70107", "HB-R03GBD", "2366104", 2)
    assert reg.plate == "苏BA6860"   # GBK CB D5 = 苏


def test_traccar_batch_upload() -> None:
    message = decode_frame(frame(TRACCAR_0704))
    body = message.body
    assert isinstance(body, BatchLocation)
    assert body.kind == 1 and len(body.reports) == 4          # blind-area upload of 4 reports
    assert body.reports[3].alarm == 0x100 and body.reports[0].latitude == pytest.approx(0x01618AC6 / 1e6)


@pytest.mark.parametrize("hex_frame", [XTREAM_2019_0200, TRACCAR_0200_WEST, TRACCAR_0200_SOUTH,
                                       TRACCAR_0102, TRACCAR_0002, TRACCAR_0100, TRACCAR_0704])
def test_golden_frames_reencode_byte_for_byte(hex_frame: str) -> None:
    """Our encoder reproduces each public frame exactly (header, body, check code, escaping)."""
    message = decode_frame(frame(hex_frame))
    assert encode_frame(message.header, message.body) == frame(hex_frame)


def test_traccar_unescape_vector() -> None:
    assert unescape(frame(TRACCAR_ESCAPED)) == frame(TRACCAR_UNESCAPED)


def test_golden_frames_in_one_stream_with_noise() -> None:
    stream = b"\x00\x11" + b"".join(frame(h) for h in (XTREAM_2019_0200, TRACCAR_0102, TRACCAR_0704)) + b"\x7e\x01"
    deframer = Deframer()
    assert [m.header.message_id for m in deframer.feed(stream)] == [0x0200, 0x0102, 0x0704]
    assert deframer.stats.bad_bytes == 2 and deframer.pending == 1   # 0x01 may start a frame
    deframer.flush()
    assert deframer.stats.bad_bytes == 3 and deframer.stats.bad_frames == {"truncated": 1}


def test_corrupted_golden_frame_names_check_code() -> None:
    data = bytearray(frame(TRACCAR_0200_WEST))
    data[20] ^= 0x01
    with pytest.raises(Jt808DecodeError) as err:
        decode_frame(bytes(data))
    assert err.value.reason is Reason.CHECK_CODE
