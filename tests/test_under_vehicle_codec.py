"""The UVSS pass message: round trip, and each refusal a ValueError that says why."""

from __future__ import annotations

import contextlib
import hashlib
import json
import struct
import zlib
from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.under_vehicle import (
    MAGIC, MAX_HEADER_BYTES, MAX_MESSAGE_BYTES, PassHeader, availability_topic, check_plate, decode_pass,
    encode_pass, header_for, image_info, pass_topic,
)

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 26, 15, 20, 0, tzinfo=CST)


def undercarriage_like(lines: int = 24) -> np.ndarray:
    """A small 4096-wide grey image with structure (so JPEG and PNG both have something to keep)."""
    rng = np.random.default_rng(7)
    image = np.full((lines, 4096), 40, np.uint8)
    image[:, 1500:2600] = 120
    image[:, 1800:1900] = 220
    return np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)


def encoded(image: np.ndarray, encoding: str = "png") -> bytes:
    ok, buf = cv2.imencode(".png" if encoding == "png" else ".jpg", image)
    assert ok
    return buf.tobytes()


FIELDS = dict(pass_id="uv1-000042", plate="新F12345", plate_confidence=0.93, speed_kmh=12.5, direction="forward",
              start_time=T0, end_time=T0 + timedelta(seconds=4.8), line_rate_hz=1157.4)


def message(image: bytes, **overrides: object) -> bytes:
    return encode_pass(header_for(image, **{**FIELDS, **overrides}), image)


def raw_message(header: dict, image: bytes) -> bytes:
    """A message built by hand, so the header may lie."""
    body = json.dumps(header, default=lambda v: v.isoformat(), ensure_ascii=False).encode()
    return MAGIC + struct.pack(">I", len(body)) + body + image


@pytest.mark.parametrize("encoding", ["png", "jpeg"])
def test_round_trip(encoding: str) -> None:
    pixels = undercarriage_like()
    image = encoded(pixels, encoding)
    got = decode_pass(message(image), "uv1")
    assert got.header.plate == "新F12345" and got.header.encoding == encoding
    assert got.header.height == 24 and got.header.width == 4096 and got.header.bit_depth == 8
    assert got.image_bytes == image and got.sha256 == hashlib.sha256(image).hexdigest()
    assert got.header.start_time == T0 and got.header.start_time.utcoffset() == timedelta(hours=8)
    assert got.header.mm_per_line == pytest.approx(12.5 / 3.6 * 1000 / 1157.4)
    decoded = got.image()
    assert decoded.shape == (24, 4096) and decoded.dtype == np.uint8
    if encoding == "png":
        assert np.array_equal(decoded, pixels)
    else:
        assert np.abs(decoded.astype(int) - pixels).mean() < 4


def test_topics() -> None:
    assert pass_topic("lane3", "uv1") == "kouan/lane3/uv1/pass"
    assert availability_topic("lane3", "uv1") == "kouan/lane3/uv1/availability"


def test_every_header_field_is_described() -> None:
    assert all(f.description for f in PassHeader.model_fields.values())


@pytest.mark.parametrize("plate", ["新F12345", "新FD12345", "苏E88888", "新F1234挂", "123ABC02", "А123ВС77",
                                   "KZ 123 ABC", "1234УБА", "AB-1234"])
def test_plates_accepted(plate: str) -> None:
    assert check_plate(plate) == plate


@pytest.mark.parametrize("plate", ["新F123", "新f12345", "新I12345", "新F1234567", "新F·12345", "ABC", "a1",
                                   "X", "12 34  5", " 12345", "1234567890123", "测12345", "<script>1", "12\x0034"])
def test_plates_refused(plate: str) -> None:
    with pytest.raises(ValueError, match="plate"):
        check_plate(plate)
    with pytest.raises(ValueError, match="plate"):
        decode_pass(message(encoded(undercarriage_like()), plate=plate), "uv1")


def test_unread_plate_has_zero_confidence() -> None:
    image = encoded(undercarriage_like())
    assert decode_pass(message(image, plate=None, plate_confidence=0.0), "uv1").header.plate is None
    with pytest.raises(ValueError, match="plate_confidence must be 0"):
        message(image, plate=None, plate_confidence=0.5)


def test_header_refusals_name_the_field() -> None:
    image = encoded(undercarriage_like())
    good = json.loads(header_for(image, **FIELDS).model_dump_json())
    for change, needle in [({"extra": 1}, "field 'extra'"), ({"width": 2048}, "field 'width'"),
                           ({"bit_depth": 16}, "field 'bit_depth'"), ({"speed_kmh": 0}, "field 'speed_kmh'"),
                           ({"start_time": "2026-11-26T15:20:00"}, "UTC offset"),
                           ({"end_time": "2026-11-26T15:19:00+08:00"}, "end_time must be after"),
                           ({"encoding": "gif"}, "field 'encoding'"), ({"height": 40_001}, "field 'height'")]:
        with pytest.raises(ValueError, match=needle):
            decode_pass(raw_message({**good, **change}, image), "uv1")
    missing = {k: v for k, v in good.items() if k != "sha256"}
    with pytest.raises(ValueError, match="field 'sha256'"):
        decode_pass(raw_message(missing, image), "uv1")


def test_wrong_hash_refused() -> None:
    image = encoded(undercarriage_like())
    header = json.loads(header_for(image, **FIELDS).model_dump_json())
    header["sha256"] = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(ValueError, match="SHA-256 is .* header says"):
        decode_pass(raw_message(header, image), "uv1")


def test_header_lies_about_size() -> None:
    image = encoded(undercarriage_like())
    header = json.loads(header_for(image, **FIELDS).model_dump_json())
    with pytest.raises(ValueError, match="image bytes, header says image_size"):
        decode_pass(raw_message({**header, "image_size": len(image) + 10}, image), "uv1")
    with pytest.raises(ValueError, match=r"header says \('png', 4096, 100"):
        decode_pass(raw_message({**header, "height": 100}, image), "uv1")   # image declares 24 lines
    with pytest.raises(ValueError, match="header says"):
        decode_pass(raw_message({**header, "encoding": "jpeg"}, image), "uv1")
    with pytest.raises(ValueError, match="header says"):
        decode_pass(raw_message({**header, "channels": 3}, image), "uv1")


@pytest.mark.parametrize("encoding", ["png", "jpeg"])
def test_truncated_image_refused(encoding: str) -> None:
    image = encoded(undercarriage_like(), encoding)[:-200]   # hash and size match the truncated bytes
    with pytest.raises(ValueError, match="truncated"):
        decode_pass(message_unchecked(image, encoding), "uv1")


def message_unchecked(image: bytes, encoding: str) -> bytes:
    """A message whose header agrees with `image` on size and hash, whatever `image` is."""
    header = dict(FIELDS, encoding=encoding, width=4096, height=24, bit_depth=8, channels=1,
                  image_size=len(image), sha256=hashlib.sha256(image).hexdigest())
    return raw_message(header, image)


def test_not_an_image_refused() -> None:
    with pytest.raises(ValueError, match="neither PNG nor JPEG"):
        decode_pass(message_unchecked(b"GIF89a" + bytes(100), "png"), "uv1")


def test_corrupt_pixels_refused_on_decode() -> None:
    """Structure intact, compressed data garbage: found when the pixels are asked for."""
    image = bytearray(encoded(undercarriage_like()))
    idat = image.index(b"IDAT")
    image[idat + 4:idat + 400] = bytes(396)
    got = decode_pass(message_unchecked(bytes(image), "png"), "uv1")
    with pytest.raises(ValueError, match="does not decode"):
        got.image()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR declares `width` x `height` grey pixels (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(10_000), 9))
            + chunk(b"IEND", b""))


def test_png_bomb_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = png_declaring(100_000, 100_000)
    assert image_info(bomb).width == 100_000 and len(bomb) < 1000
    monkeypatch.setattr(cv2, "imdecode", lambda *a: pytest.fail("imdecode called on a bomb"))
    header = dict(FIELDS, encoding="png", width=4096, height=24, bit_depth=8, channels=1,
                  image_size=len(bomb), sha256=hashlib.sha256(bomb).hexdigest())
    with pytest.raises(ValueError, match="100000 x 100000.*refused before decoding"):
        decode_pass(raw_message(header, bomb), "uv1")
    tall = png_declaring(4096, 40_001)
    header.update(image_size=len(tall), sha256=hashlib.sha256(tall).hexdigest())
    with pytest.raises(ValueError, match="4096 x 40001"):
        decode_pass(raw_message(header, tall), "uv1")


def test_framing_refusals() -> None:
    image = encoded(undercarriage_like())
    good = message(image)
    with pytest.raises(ValueError, match="does not start with"):
        decode_pass(b"KUV2" + good[4:], "uv1")
    with pytest.raises(ValueError, match="does not start with"):
        decode_pass(b"KUV", "uv1")
    with pytest.raises(ValueError, match="header of 16385 bytes is over the limit"):
        decode_pass(MAGIC + struct.pack(">I", MAX_HEADER_BYTES + 1) + bytes(MAX_HEADER_BYTES + 1), "uv1")
    with pytest.raises(ValueError, match="runs past the end"):
        decode_pass(MAGIC + struct.pack(">I", 500) + b"{}", "uv1")
    with pytest.raises(ValueError, match="not a JSON object"):
        decode_pass(MAGIC + struct.pack(">I", 2) + b"[]", "uv1")
    with pytest.raises(ValueError, match="not JSON"):
        decode_pass(MAGIC + struct.pack(">I", 3) + b"{x}", "uv1")
    with pytest.raises(ValueError, match="nested deeper"):
        decode_pass(MAGIC + struct.pack(">I", 11) + b'{"a":[[1]]}', "uv1")
    with pytest.raises(ValueError, match="over the limit of 33554432"):
        decode_pass(good + bytes(MAX_MESSAGE_BYTES), "uv1")


def test_encoder_refuses_a_header_that_disagrees() -> None:
    image = encoded(undercarriage_like())
    header = header_for(image, **FIELDS)
    with pytest.raises(ValueError, match="SHA-256"):
        encode_pass(header, image[:-1] + bytes([image[-1] ^ 1]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes_only_value_error(data: bytes) -> None:
    for payload in (data, MAGIC + data, MAGIC + struct.pack(">I", len(data)) + data):
        with contextlib.suppress(ValueError):  # a refusal is fine; any other exception fails the test
            decode_pass(payload, "uv1").image()


_SMALL_PNG = encoded(undercarriage_like(8))
_SMALL_JPEG = encoded(undercarriage_like(8), "jpeg")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["png", "jpeg"]), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)),
                                                  min_size=1, max_size=8))
def test_fuzz_corrupted_image_with_honest_hash(encoding: str, edits: list[tuple[int, int]]) -> None:
    """Bytes of a real image changed anywhere, size and hash recomputed: only ever a ValueError or a
    correct decode (a corrupted image has to get past the hash check to reach the image parsers)."""
    image = bytearray(_SMALL_PNG if encoding == "png" else _SMALL_JPEG)
    for at, value in edits:
        image[at % len(image)] = value
    header = dict(FIELDS, encoding=encoding, width=4096, height=8, bit_depth=8, channels=1,
                  image_size=len(image), sha256=hashlib.sha256(bytes(image)).hexdigest())
    try:
        got = decode_pass(raw_message(header, bytes(image)), "uv1").image()
    except ValueError:
        return
    assert got.shape == (8, 4096) and got.dtype == np.uint8
