"""The empty-box codec: registers <-> reading, ISO 6346 numbers, the MQTT image message, golden RTU frames."""

from __future__ import annotations

import hashlib
import json
import re
import struct
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU
from pymodbus.pdu.register_message import ReadHoldingRegistersRequest, ReadInputRegistersRequest

from drivers.empty_box import (
    INPUT_COUNT, DeviceStatus, EmptyBoxReading, ImageKind, ScanState, Verdict, container_check_ok,
    decode_image_message, encode_image_message, image_topic, iso6346_check_digit, pack_ascii, unpack_ascii,
    validate_container,
)

CST = timezone(timedelta(hours=8))
DOC = Path(__file__).resolve().parents[1] / "docs" / "protocols.md"


def reading(**changes: object) -> EmptyBoxReading:
    base = EmptyBoxReading(device="eb1", heartbeat=4660, uptime_s=70000, status=DeviceStatus.READY, error_code=0,
                           scan_state=ScanState.RESULT_READY, sequence=7, container="CSQU3054383",
                           declared_empty=True, verdict=Verdict.EMPTY, confidence=0.97,
                           image=ImageKind.CAMERA_8BIT, scan_time=datetime(2026, 11, 26, 7, 20, tzinfo=UTC))
    return replace(base, **changes)  # type: ignore[arg-type]


# ------------------------------------------------------------------ golden RTU frames (pymodbus, not ours)

@pytest.mark.parametrize("frame, unit, address, count", [
    ("1103006B00037687", 0x11, 0x006B, 3),   # Modbus over Serial Line spec
    ("01030000000184 0A", 0x01, 0x0000, 1),
])
def test_reference_frames_match_pymodbus_crc_and_framer(frame: str, unit: int, address: int, count: int) -> None:
    raw = bytes.fromhex(frame)
    assert FramerRTU.compute_CRC(raw[:-2]) == int.from_bytes(raw[-2:], "big")   # CRC sent low byte first
    used, pdu = FramerRTU(DecodePDU(True)).handleFrame(raw, 0, 0)
    assert used == len(raw) and (pdu.dev_id, pdu.function_code, pdu.address, pdu.count) == (unit, 3, address, count)
    request = ReadHoldingRegistersRequest(address=address, count=count, dev_id=unit)
    assert FramerRTU(DecodePDU(False)).buildFrame(request) == raw


def test_a_spoilt_crc_is_not_a_frame_for_pymodbus() -> None:
    used, pdu = FramerRTU(DecodePDU(True)).handleFrame(bytes.fromhex("1103006B00037688"), 0, 0)
    assert pdu is None and used == 8


def _doc_frames() -> dict[str, bytes]:
    text = DOC.read_text(encoding="utf-8")
    return {m[1]: bytes.fromhex(m[2]) for m in re.finditer(r"^(\w+):\s+`([0-9a-f ]+)`$", text, re.M)}


def test_worked_example_frames_in_the_doc_decode_with_pymodbus_to_the_documented_reading() -> None:
    frames = _doc_frames()
    used, request = FramerRTU(DecodePDU(True)).handleFrame(frames["request"], 0, 0)
    assert isinstance(request, ReadInputRegistersRequest) and (request.dev_id, request.address, request.count) == (
        1, 0, INPUT_COUNT)
    used, response = FramerRTU(DecodePDU(False)).handleFrame(frames["response"], 1, 0)
    assert used == len(frames["response"]) and response is not None
    decoded = EmptyBoxReading.from_registers(response.registers, "eb1")
    assert decoded == reading()
    used, write = FramerRTU(DecodePDU(True)).handleFrame(frames["ack"], 0, 0)
    assert (write.function_code, write.address, write.registers) == (6, 0, [7])


# ------------------------------------------------------------------ registers

def test_reading_round_trips_through_registers() -> None:
    for r in (reading(), reading(container=None, confidence=None, declared_empty=None, scan_time=None,
                                 scan_state=ScanState.IDLE, sequence=0, verdict=Verdict.UNKNOWN, image=ImageKind.NONE),
              reading(status=DeviceStatus.FAULT, error_code=4, uptime_s=0xFFFFFFFF, heartbeat=65535,
                      declared_empty=False, verdict=Verdict.NOT_EMPTY, confidence=1.0,
                      image=ImageKind.TRANSMISSION_16BIT)):
        regs = r.to_registers()
        assert len(regs) == INPUT_COUNT and all(0 <= v <= 0xFFFF for v in regs)
        assert EmptyBoxReading.from_registers(regs, "eb1") == r
    assert reading(error_code=4).error == "safety interlock open" and reading(error_code=99).error == "vendor error 99"
    holding = EmptyBoxReading.from_registers(reading().to_registers(), "eb1", [7])
    assert holding.acknowledged == 7 and holding.result_ready


def test_container_number_is_packed_two_ascii_chars_per_register_high_byte_first() -> None:
    regs = reading().to_registers()
    assert regs[8:14] == [0x4353, 0x5155, 0x3330, 0x3534, 0x3338, 0x3300]   # "CS" "QU" "30" "54" "38" "3\0"
    assert unpack_ascii(pack_ascii("AB", 2)) == "AB"


@pytest.mark.parametrize("index, value, why", [
    (0, 2, "register layout 2"), (4, 3, "register 4 (DeviceStatus) holds 3"), (6, 9, "register 6 (ScanState)"),
    (14, 5, "declared-empty register 14 holds 5"), (15, 3, "register 15 (Verdict)"), (16, 1001, "over 1000"),
    (17, 7, "register 17 (ImageKind)"), (8, 0xFFFF, "not ASCII"), (8, 0x6162, "not an ISO 6346 number"),
    (3, 70000, "not a u16"),
])
def test_bad_registers_are_refused_saying_which(index: int, value: int, why: str) -> None:
    regs = reading().to_registers()
    regs[index] = value
    with pytest.raises(ValueError, match=re.escape(why)):
        EmptyBoxReading.from_registers(regs, "eb1")
    with pytest.raises(ValueError, match="19 input registers"):
        EmptyBoxReading.from_registers(regs[:-1], "eb1")


# ------------------------------------------------------------------ ISO 6346

def _independent_check_digit(number: str) -> int:
    """ISO 6346 written out differently: A=10 counting up, skipping 11, 22 and 33."""
    values = {}
    v = 10
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if v in (11, 22, 33):
            v += 1
        values[letter] = v
        v += 1
    total = sum((values.get(c) or int(c)) * 2 ** i for i, c in enumerate(number[:10]))
    return (total % 11) % 10


def test_iso6346_check_digit_of_real_numbers() -> None:
    assert iso6346_check_digit("CSQU305438") == 3      # the standard's own example, CSQU 305438 3
    assert container_check_ok("CSQU3054383") and container_check_ok("MSKU1234565")
    assert not container_check_ok("CSQU3054384") and not container_check_ok("CSQ3054383")
    assert validate_container("CSQU3054383") == "CSQU3054383"
    with pytest.raises(ValueError, match="check digit 4, ISO 6346 gives 3"):
        validate_container("CSQU3054384")
    with pytest.raises(ValueError, match="not 3 letters"):
        validate_container("csqu3054383")
    assert reading(container="CSQU3054384").container_check_ok is False   # a misread is kept, flagged


@given(st.from_regex(r"[A-Z]{3}[UJZ][0-9]{6}", fullmatch=True))
def test_check_digit_agrees_with_an_independent_implementation(first_ten: str) -> None:
    digit = iso6346_check_digit(first_ten)
    assert digit == _independent_check_digit(first_ten)
    assert container_check_ok(first_ten + str(digit))


def test_remainder_ten_gives_check_digit_zero() -> None:
    ten = next(f"ABCU{n:06d}" for n in range(1000000) if _sum_mod_11(f"ABCU{n:06d}") == 10)
    assert iso6346_check_digit(ten) == 0 and container_check_ok(ten + "0")


def _sum_mod_11(number: str) -> int:
    values = {"A": 10, "B": 12, "C": 13, "U": 32}
    return sum((values.get(c) or int(c)) * 2 ** i for i, c in enumerate(number)) % 11


# ------------------------------------------------------------------ image message

def _camera() -> np.ndarray:
    img = np.zeros((48, 64, 3), np.uint8)
    cv2.rectangle(img, (8, 8), (40, 30), (10, 200, 90), -1)
    return img


def _transmission() -> np.ndarray:
    return (np.arange(40 * 72, dtype=np.uint32).reshape(40, 72) * 23 % 65536).astype(np.uint16)


def _split(payload: bytes) -> tuple[dict, bytes]:
    n = struct.unpack(">I", payload[:4])[0]
    return json.loads(payload[4:4 + n]), payload[4 + n:]


def _join(header: dict, data: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack(">I", len(raw)) + raw + data


def test_image_topic() -> None:
    assert image_topic("lane3", "ebox1") == "kouan/lane3/ebox1/image"


@pytest.mark.parametrize("image, kind, encoding", [(_camera(), "camera", "png"), (_camera(), "camera", "jpeg"),
                                                   (_camera()[:, :, 1], "camera", "png"),
                                                   (_transmission(), "transmission", "png")])
def test_image_message_round_trip(image: np.ndarray, kind: str, encoding: str) -> None:
    when = datetime(2026, 11, 26, 15, 20, tzinfo=CST)
    payload = encode_image_message(image, sequence=7, container="CSQU3054383", kind=kind, time=when, encoding=encoding)
    decoded = decode_image_message(payload, "eb1")
    meta = decoded.meta
    assert (meta.sequence, meta.container, meta.kind, meta.encoding, meta.time) == (7, "CSQU3054383", kind, encoding,
                                                                                    when)
    assert decoded.image.shape == image.shape and decoded.image.dtype == image.dtype
    assert meta.sha256 == hashlib.sha256(decoded.data).hexdigest()
    if encoding == "png":
        assert np.array_equal(decoded.image, image)      # lossless, 16 bits kept


def _lie(field: str, value: object, image: np.ndarray | None = None) -> bytes:
    payload = encode_image_message(_transmission() if image is None else image, sequence=1, container=None,
                                   kind="transmission" if image is None else "camera",
                                   time=datetime(2026, 1, 1, tzinfo=UTC))
    header, data = _split(payload)
    header[field] = value
    return _join(header, data)


@pytest.mark.parametrize("payload, why", [
    (_lie("sha256", "0" * 64), "SHA-256 of the image is"),
    (_lie("size", 10), "image bytes, the header says 10"),
    (_lie("width", 71), "the PNG is 72x40 at 16 bits; the header says 71x40 at 16"),
    (_lie("height", 41), "the PNG is 72x40"),
    (_lie("bit_depth", 8), "at 16 bits; the header says 72x40 at 8"),
    (_lie("channels", 3, _camera()[:, :, 0]), "1 channel(s), 8 bits; the header says 64x48, 3, 8"),
    (_lie("encoding", "jpeg", _camera()), "bytes do not start with FF D8 FF"),
    (_lie("bit_depth", 16, _camera()), "the PNG is 64x48 at 8 bits"),
    (_lie("extra", 1), "field 'extra': Extra inputs are not permitted"),
    (_lie("container", "CSQU30543"), "field 'container'"),
    (_lie("time", "2026-01-01T00:00:00"), "time needs a UTC offset"),
    (_lie("kind", "camera", _transmission()), None),   # a 16-bit camera png is allowed
])
def test_image_message_that_lies_is_refused_saying_why(payload: bytes, why: str | None) -> None:
    if why is None:
        assert decode_image_message(payload, "eb1").meta.bit_depth == 16
        return
    with pytest.raises(ValueError, match=re.escape(why)):
        decode_image_message(payload, "eb1")


def test_oversize_and_broken_framing_are_refused_before_decoding() -> None:
    good = encode_image_message(_camera(), sequence=1, container=None, kind="camera", time=datetime.now(UTC))
    with pytest.raises(ValueError, match="over the limit of 100"):
        decode_image_message(good, "eb1", max_bytes=100)
    with pytest.raises(ValueError, match="too short"):
        decode_image_message(b"\0\0", "eb1")
    with pytest.raises(ValueError, match="header length 4294967295"):
        decode_image_message(b"\xff\xff\xff\xff{}", "eb1")
    with pytest.raises(ValueError, match="runs past"):
        decode_image_message(good[:40], "eb1")
    with pytest.raises(ValueError, match="not JSON"):
        decode_image_message(b"\0\0\0\x02{x", "eb1")
    header, data = _split(good)
    spoilt = data[:33] + bytes(len(data) - 33)               # the PNG header, then zeros
    header.update(size=len(spoilt), sha256=hashlib.sha256(spoilt).hexdigest())
    with pytest.raises(ValueError, match="cannot decode"):
        decode_image_message(_join(header, spoilt), "eb1")


# ------------------------------------------------------------------ fuzz: garbage is a ValueError, nothing else

@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_garbage_image_payload_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_image_message(data, "eb1")


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=300))
def test_garbage_after_a_valid_header_is_a_value_error(data: bytes) -> None:
    header, _ = _split(encode_image_message(_camera(), sequence=1, container=None, kind="camera",
                                            time=datetime.now(UTC)))
    header.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    with pytest.raises(ValueError):
        decode_image_message(_join(header, data), "eb1")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=-2, max_value=0x1FFFF), min_size=0, max_size=24))
def test_garbage_registers_decode_or_raise_value_error(values: list[int]) -> None:
    try:
        decoded = EmptyBoxReading.from_registers(values, "eb1")
    except ValueError:
        return
    assert EmptyBoxReading.from_registers(decoded.to_registers(), "eb1") == decoded
