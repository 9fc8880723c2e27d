"""Iris reader codec: golden frames (CRCs from a bitwise reference written from the algorithm
parameters), round trips, the deframer's counting and resynchronisation, the MQTT JSON models."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.iris import (
    CODE_SHAPE, MAX_FRAME, Ack, AckResult, Capture, Deframer, Eye, IrisCapture, IrisDecodeError, MessageType,
    Quality, ReaderState, Reason, Status, decode_frame, decode_payload, encode_frame, encode_message, pack_bits,
    status_from_json, status_to_json,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "protocols.md"
CST = timezone(timedelta(hours=8))


def crc16_reference(data: bytes) -> int:
    """CRC-16/CCITT-FALSE bit by bit: poly 0x1021, init 0xFFFF, MSB first, no final XOR."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def crc32_reference(data: bytes) -> int:
    """CRC-32/ISO-HDLC bit by bit: reflected poly 0xEDB88320, init and final XOR 0xFFFFFFFF."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xEDB88320 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


GOLDEN_ACK = "a55a0181000100045c250100070063b4defd"
GOLDEN_STATUS = "a55a0102000300083fcb0000012c0000000112101b56"
GOLDEN_FAULT = "a55a010200040008ba5b00000e1003050002bd2a4698"
CAPTURE_FIELDS = "010743415244313233" "000001a216b9b900" "01e0" "01" "520c2d5f4828605a46" "08" "0100" "02"
GOLDEN_CAPTURE_HEAD = "a55a0101000704217456"
GOLDEN_CAPTURE_CRC = "d2ab85c1"
TEST_CODE = bytes(i & 0xFF for i in range(512))
TEST_MASK = b"\xff" * 448 + b"\x00" * 64
QUALITY = Quality(82, 12, 45, 95, 7.2, 40, 96, 90, 70)


def golden_capture() -> bytes:
    return (bytes.fromhex(GOLDEN_CAPTURE_HEAD + CAPTURE_FIELDS) + TEST_CODE + TEST_MASK
            + bytes.fromhex(GOLDEN_CAPTURE_CRC))


def sample_capture(seed: int = 0, card: str = "CARD123") -> Capture:
    rng = np.random.default_rng(seed)
    return Capture(card, datetime(2026, 11, 26, 15, 20, 0, tzinfo=CST), Eye.LEFT, QUALITY,
                   pack_bits(rng.random(CODE_SHAPE) < 0.5), pack_bits(rng.random(CODE_SHAPE) < 0.8))


def test_reference_crcs_meet_their_check_values_and_agree_with_binascii() -> None:
    assert crc16_reference(b"123456789") == 0x29B1
    assert crc32_reference(b"123456789") == 0xCBF43926
    assert binascii.crc_hqx(b"123456789", 0xFFFF) == 0x29B1 and binascii.crc32(b"123456789") == 0xCBF43926


@pytest.mark.parametrize("hex_frame", [GOLDEN_ACK, GOLDEN_STATUS, GOLDEN_FAULT, "capture"])
def test_golden_frames_carry_reference_crcs(hex_frame: str) -> None:
    frame = golden_capture() if hex_frame == "capture" else bytes.fromhex(hex_frame)
    assert int.from_bytes(frame[8:10], "big") == crc16_reference(frame[:8])
    assert int.from_bytes(frame[-4:], "big") == crc32_reference(frame[:-4])
    assert int.from_bytes(frame[6:8], "big") == len(frame) - 14


def test_golden_ack_and_status_decode_and_encode_byte_for_byte() -> None:
    ack = decode_payload(decode_frame(bytes.fromhex(GOLDEN_ACK)))
    assert (ack.message_type, ack.seq, ack.body) == (MessageType.ACK, 1, Ack(0x01, 7, AckResult.STORED))
    status = decode_payload(decode_frame(bytes.fromhex(GOLDEN_STATUS)))
    assert status.body == Status(300, ReaderState.IDLE, 0, 1) and status.seq == 3
    fault = decode_payload(decode_frame(bytes.fromhex(GOLDEN_FAULT))).body
    assert isinstance(fault, Status) and fault.state is ReaderState.FAULT
    assert fault.fault_names() == ["camera", "card reader"]
    for hex_frame, message in ((GOLDEN_ACK, ack), (GOLDEN_STATUS, status)):
        assert encode_message(message.seq, message.body).hex() == hex_frame


def test_golden_capture_decodes_to_its_documented_fields_and_encodes_back() -> None:
    message = decode_payload(decode_frame(golden_capture()))
    body = message.body
    assert isinstance(body, Capture) and message.seq == 7
    assert body.card_id == "CARD123" and body.eye is Eye.RIGHT and body.quality == QUALITY
    assert body.time == datetime(2026, 11, 26, 15, 20, tzinfo=CST) and body.time.utcoffset() == timedelta(hours=8)
    assert body.code == TEST_CODE and body.mask == TEST_MASK
    assert not body.mask_bits()[7].any() and body.mask_bits()[:7].all()    # the last ring is masked
    assert body.code_bits()[0, 0].tolist() == [False, False] and body.code_bits()[0, 7].tolist() == [False, True]
    assert encode_message(7, body) == golden_capture()


def test_every_frame_in_the_doc_decodes_and_re_encodes() -> None:
    blocks = re.findall(r"```iris\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    frames = [bytes.fromhex("".join(block.split())) for block in blocks]
    assert len(frames) == 4 and golden_capture() in frames
    for frame in frames:
        message = decode_payload(decode_frame(frame))
        assert encode_message(message.seq, message.body) == frame


def test_capture_status_ack_round_trip_through_the_deframer() -> None:
    bodies = [sample_capture(1), Status(7, ReaderState.CAPTURING, 0b1000, 3), Ack(1, 65535, AckResult.BUSY),
              sample_capture(2, "X" * 32)]
    stream = b"".join(encode_message(seq, body) for seq, body in enumerate(bodies))
    deframer = Deframer()
    got = [m for i in range(0, len(stream), 97) for m in deframer.feed(stream[i:i + 97])]
    assert [m.body for m in got] == bodies and [m.seq for m in got] == [0, 1, 2, 3]
    assert deframer.stats.frames == 4 and deframer.stats.bad_bytes == 0 and deframer.pending == 0


def test_iris_capture_from_serial_and_json_agree() -> None:
    message = decode_payload(decode_frame(encode_message(9, sample_capture(3))))
    serial_reading = IrisCapture.from_message(message, "iris1")
    mqtt_reading = IrisCapture.from_json(serial_reading.to_json(), "iris1")
    assert mqtt_reading.transport == "mqtt" and serial_reading.transport == "serial"
    assert {**vars(mqtt_reading), "transport": "serial"} == vars(serial_reading)
    assert np.array_equal(mqtt_reading.code_bits(), serial_reading.code_bits())
    with pytest.raises(ValueError, match="not a capture"):
        IrisCapture.from_message(decode_payload(decode_frame(bytes.fromhex(GOLDEN_ACK))), "iris1")


def test_status_json_round_trip() -> None:
    status = Status(3600, ReaderState.FAULT, 0b0101, 2)
    assert status_from_json(status_to_json(status), "iris1") == status


def _reframe(frame: bytes, payload: bytes | None = None, **header: int) -> bytes:
    """A frame with a changed header field or payload and valid CRCs (built by the reference CRCs)."""
    body = bytearray(frame[:10] + (frame[10:-4] if payload is None else payload))
    for offset, value, size in ((2, header.get("version"), 1), (3, header.get("kind"), 1),
                                (6, header.get("length"), 2)):
        if value is not None:
            body[offset:offset + size] = value.to_bytes(size, "big")
    if payload is not None and "length" not in header:
        body[6:8] = len(payload).to_bytes(2, "big")
    body[8:10] = crc16_reference(bytes(body[:8])).to_bytes(2, "big")
    return bytes(body) + crc32_reference(bytes(body)).to_bytes(4, "big")


def test_bad_frames_are_counted_by_reason_and_the_stream_resynchronises() -> None:
    good = bytes.fromhex(GOLDEN_STATUS)
    bad_crc = good[:-1] + bytes([good[-1] ^ 1])
    bad_header = good[:4] + b"\x99" + good[5:]
    oversize = _reframe(good, length=4000)[:10]
    bad_version = _reframe(good, version=2)
    unknown = _reframe(good, kind=0x55)
    bad_payload = _reframe(good, payload=b"\x00" * 7)
    cut = golden_capture()[:300]
    stream = (b"noise\xa5" + good + bad_crc + good + bad_header + oversize + good + bad_version + unknown
              + bad_payload + cut + good + b"\xa5\x5a\xa5" + good)
    deframer = Deframer()
    got = deframer.feed(stream)
    stats = deframer.stats
    assert len(got) == 3 and all(m.body == Status(300, ReaderState.IDLE, 0, 1) for m in got)
    assert dict(stats.bad_frames) == {"crc": 1, "header_check": 1, "oversize": 1, "bad_version": 1,
                                      "unknown_type": 1, "bad_payload": 1}
    # the cut capture claims 1071 bytes: the two frames after it wait until the stream says more
    assert stats.bytes_in == stats.frame_bytes + stats.bad_bytes + deframer.pending and deframer.pending > 0
    late = deframer.flush()
    assert len(late) == 2 and stats.bad_frames["truncated"] == 1 and stats.bad_frames["header_check"] == 2
    assert deframer.pending == 0 and stats.bytes_in == stats.frame_bytes + stats.bad_bytes


def test_a_cut_frame_followed_by_good_ones_loses_none_of_them() -> None:
    good = bytes.fromhex(GOLDEN_STATUS)
    deframer = Deframer()
    got = deframer.feed(golden_capture()[:500] + good * 3)
    got += deframer.flush()   # the cut capture claims 1071 bytes: only the end of the stream shows it
    assert len(got) == 3 and deframer.stats.bad_frames == {"truncated": 1}
    got = deframer.feed(golden_capture()[:500] + golden_capture() + good)   # enough bytes: caught by CRC
    assert [m.message_type for m in got] == [MessageType.CAPTURE, MessageType.STATUS]
    assert deframer.stats.bad_frames["crc"] == 1


def test_the_buffer_stays_bounded_and_bytes_are_all_accounted_for() -> None:
    deframer = Deframer()
    header = bytes.fromhex(GOLDEN_CAPTURE_HEAD)
    for _ in range(5):
        deframer.feed(header + b"\x00" * 700)   # a frame that is never finished, then noise
        assert deframer.pending < MAX_FRAME
    deframer.feed(b"\x00" * 100_000)
    stats = deframer.stats
    assert deframer.pending < MAX_FRAME and stats.bytes_in == stats.frame_bytes + stats.bad_bytes + deframer.pending


def test_encoder_and_models_refuse_what_does_not_fit_with_reasons() -> None:
    with pytest.raises(ValueError, match="card id"):
        sample_capture(card="CARD 123")
    with pytest.raises(ValueError, match="sharpness = 101"):
        Capture("C1", datetime.now(CST), Eye.RIGHT, Quality(50, 50, 50, 50, 7.0, 50, 50, 50, 101), TEST_CODE, TEST_MASK)
    with pytest.raises(ValueError, match="code is 511 bytes"):
        Capture("C1", datetime.now(CST), Eye.RIGHT, QUALITY, TEST_CODE[:-1], TEST_MASK)
    with pytest.raises(ValueError, match="UTC offset"):
        Capture("C1", datetime.now(), Eye.RIGHT, QUALITY, TEST_CODE, TEST_MASK)
    with pytest.raises(ValueError, match="over the limit"):
        encode_frame(1, 0, b"\x00" * 3000)
    with pytest.raises(IrisDecodeError, match="code shape 8x128x2") as info:
        frame = bytearray(golden_capture()[10:-4])
        frame[30:32] = (128).to_bytes(2, "big")   # columns at 23 + n, n = 7
        decode_payload(decode_frame(_reframe(golden_capture(), payload=bytes(frame))))
    assert info.value.reason is Reason.BAD_PAYLOAD


def _wire(**changes: object) -> dict[str, object]:
    data = json.loads(IrisCapture.from_message(decode_payload(decode_frame(golden_capture())), "d").to_json())
    data.update(changes)
    return data


@pytest.mark.parametrize(("changes", "expected"), [
    ({"colour": "brown"}, "field 'colour': Extra inputs are not permitted"),
    ({"code": "not base64!"}, "field 'code'.*not base64"),
    ({"mask": base64.b64encode(b"\x00" * 10).decode()}, "field 'mask'.*10 bytes, expected 512"),
    ({"time": "2026-11-26T15:20:00"}, "field 'time'.*UTC offset"),
    ({"code_shape": [8, 128, 2]}, "field 'code_shape.1'"),
    ({"card_id": ""}, "field 'card_id'"),
    ({"eye": "third"}, "field 'eye'"),
    ({"quality": {"sharpness": 50}}, "field 'quality.usable_iris_area': Field required"),
])
def test_json_capture_refusals_name_the_field(changes: dict[str, object], expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        IrisCapture.from_json(json.dumps(_wire(**changes)), "iris1")


def test_json_is_bounded_before_it_is_parsed() -> None:
    with pytest.raises(ValueError, match="over the limit of 16384"):
        IrisCapture.from_json(b" " * 20_000, "iris1")
    with pytest.raises(ValueError, match="nested deeper than 3"):
        IrisCapture.from_json(b"[" * 10_000, "iris1")
    with pytest.raises(ValueError, match="not JSON"):
        IrisCapture.from_json(b"{", "iris1")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.integers(1, 400))
def test_random_bytes_never_raise_and_are_all_counted(data: bytes, chunk: int) -> None:
    deframer = Deframer()
    for i in range(0, len(data), chunk):
        deframer.feed(data[i:i + chunk])
        assert deframer.pending < MAX_FRAME
    deframer.flush()
    stats = deframer.stats
    assert stats.bytes_in == len(data) == stats.frame_bytes + stats.bad_bytes


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=60).map(lambda b: b.replace(b"\xa5", b"")),
                          st.sampled_from([GOLDEN_ACK, GOLDEN_STATUS, GOLDEN_FAULT])), max_size=8),
       st.integers(1, 64))
def test_frames_between_random_noise_are_all_recovered(parts: list[tuple[bytes, str]], chunk: int) -> None:
    stream = b"".join(noise + bytes.fromhex(frame) for noise, frame in parts)
    deframer = Deframer()
    got = [m for i in range(0, len(stream), chunk) for m in deframer.feed(stream[i:i + chunk])]
    assert [encode_message(m.seq, m.body).hex() for m in got] == [frame for _, frame in parts]
    assert deframer.stats.bad_bytes == sum(len(noise) for noise, _ in parts)
