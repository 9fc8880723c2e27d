"""Scanner notice validation, TIFF/PNG/DICOS round trips and every refusal of the loader."""

from __future__ import annotations

import contextlib
import json
import struct
import zlib
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.scanner import (
    ScanNotice, ScanRefused, build_dicos_dx, file_name_for, iso6346_check_digit, load_scan, sha256_path,
    validate_container_number, write_into_folder,
)
from drivers.scanner import loader as loader_module

TZ = timezone(timedelta(hours=8))
WHEN = datetime(2026, 11, 26, 15, 20, tzinfo=TZ)
GOOD = {
    "scan_id": "scanner1-20261126152000-0001", "containers": ["CSQU3054383"], "plate": "XJF12345",
    "scan_time": "2026-11-26T15:20:00+08:00", "file_name": "scan1.tif", "format": "tiff", "size_bytes": 1000,
    "sha256": "ab" * 32, "energy": "single", "width": 50, "height": 30,
}


def payload(**changes: object) -> bytes:
    data = {**GOOD, **changes}
    return json.dumps({k: v for k, v in data.items() if v is not ...}).encode()


# ---------------------------------------------------------------------------------- notice


def test_iso6346_check_digits() -> None:
    assert iso6346_check_digit("CSQU305438") == 3  # the standard's own example
    for number in ("CSQU3054383", "MSKU1234565", "TGHU1234567", "MSCU1234566"):
        assert validate_container_number(number) == number
    with pytest.raises(ValueError, match="check digit is 0, should be 7"):
        validate_container_number("TGHU1234560")
    with pytest.raises(ValueError, match="not ISO 6346"):
        validate_container_number("CSQX3054383")


def test_good_notice_round_trips() -> None:
    notice = ScanNotice.from_json(payload(containers=["CSQU3054383", "MSKU1234565"], plate="新F·12345"), "sc1")
    assert notice.containers == ("CSQU3054383", "MSKU1234565") and notice.plate == "新F·12345"
    assert notice.scan_time == WHEN and notice.planes == 1
    assert ScanNotice.from_json(notice.to_json(), "sc1") == notice


@pytest.mark.parametrize(("changes", "message"), [
    ({"containers": ["CSQU3054384"]}, "check digit is 4, should be 3"),
    ({"containers": ["CSQU3054383", "CSQU3054383"]}, "listed twice"),
    ({"file_name": "../etc/passwd.tif"}, "plain name"),
    ({"file_name": "sub/scan.tif"}, "plain name"),
    ({"file_name": "a..b.tif"}, "plain name"),
    ({"file_name": "scan.tif.part"}, "does not end as|temporary"),
    ({"file_name": ".hidden.tif"}, "not starting with"),
    ({"file_name": "scan.png"}, "does not end as a tiff file"),
    ({"scan_time": "2026-11-26T15:20:00"}, "UTC offset"),
    ({"sha256": "AB" * 32}, "sha256"),
    ({"format": "jpeg"}, "format"),
    ({"energy": "triple"}, "energy"),
    ({"width": 0}, "width"),
    ({"extra": 1}, "extra"),
    ({"plate": None, "containers": []}, "container numbers or a plate"),
    ({"scan_id": ...}, "scan_id"),
])
def test_bad_notices_refused_naming_why(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScanNotice.from_json(payload(**changes), "sc1")


def test_notice_size_and_depth_checked_before_parsing() -> None:
    with pytest.raises(ValueError, match="over the limit of 16384"):
        ScanNotice.from_json(b" " * 20_000, "sc1")
    with pytest.raises(ValueError, match="nested deeper than 3"):
        ScanNotice.from_json(b"[" * 10_000, "sc1")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode),
                 st.dictionaries(st.sampled_from(sorted(GOOD) + ["x"]),
                                 st.one_of(st.none(), st.integers(), st.text(max_size=80), st.lists(st.text(max_size=12), max_size=5)),
                                 max_size=12).map(lambda d: json.dumps({**GOOD, **d}).encode())))
def test_notice_parser_fuzz_only_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):  # a refusal is fine; any other exception fails the test
        ScanNotice.from_json(data, "fuzz")


# ---------------------------------------------------------------------------------- files


def planes_for(dual: bool, h: int = 30, w: int = 50, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 65536, (h, w), dtype=np.uint16) for _ in range(2 if dual else 1)]


def make_scan(folder: Path, fmt: str, dual: bool = False, **kwargs: object) -> tuple[Path, ScanNotice, list[np.ndarray]]:
    planes = planes_for(dual)
    name = file_name_for(f"s-{fmt}-{int(dual)}", fmt)
    path = write_into_folder(folder, name, planes, fmt, scan_id="s1", scan_time=WHEN, device="sc1",
                             containers=("CSQU3054383",))
    sha, size = sha256_path(path)
    notice = ScanNotice("sc1", "s1", ("CSQU3054383",), None, WHEN, name, fmt, size, sha,
                        "dual" if dual else "single", 50, 30)
    return path, notice, planes


def renotice(path: Path, notice: ScanNotice, **changes: object) -> ScanNotice:
    """The notice with size and hash of the file as it is now (so later checks are reached)."""
    sha, size = sha256_path(path)
    return replace(notice, sha256=sha, size_bytes=size, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("dual", [False, True], ids=["single", "dual"])
@pytest.mark.parametrize("fmt", ["tiff", "png", "dicos"])
def test_round_trip_exact(tmp_path: Path, fmt: str, dual: bool) -> None:
    path, notice, planes = make_scan(tmp_path, fmt, dual)
    scan = load_scan(path, notice)
    assert len(scan.planes) == len(planes)
    for got, want in zip(scan.planes, planes):
        assert got.dtype == np.uint16 and got.shape == (30, 50)
        assert np.array_equal(got, want)
    assert (scan.low is None) == (not dual) and scan.sha256 == notice.sha256
    assert not list(tmp_path.glob("*.part"))


def refused(path: Path, notice: ScanNotice, reason: str, match: str | None = None) -> ScanRefused:
    with pytest.raises(ScanRefused, match=match) as info:
        load_scan(path, notice)
    assert info.value.reason == reason, str(info.value)
    return info.value


def test_hash_mismatch(tmp_path: Path) -> None:
    path, notice, _ = make_scan(tmp_path, "tiff")
    refused(path, replace(notice, sha256="0" * 64), "hash_mismatch", "SHA-256 is")


@pytest.mark.parametrize("fmt", ["tiff", "png", "dicos"])
def test_truncated(tmp_path: Path, fmt: str) -> None:
    path, notice, _ = make_scan(tmp_path, fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 700])
    refused(path, notice, "truncated", "the notice says")  # against the notice's size
    refused(path, renotice(path, notice), "truncated")  # found in the header, before decoding


def test_wrong_magic(tmp_path: Path) -> None:
    path, notice, _ = make_scan(tmp_path, "png")
    refused(path, renotice(path, notice, format="tiff", file_name="x.tif"), "wrong_magic", "starts like png")
    path.write_bytes(b"GIF89a" + b"\0" * 200)
    refused(path, renotice(path, notice), "wrong_magic", "no known format")


@pytest.mark.parametrize("fmt", ["tiff", "png", "dicos"])
def test_dimensions_disagree(tmp_path: Path, fmt: str) -> None:
    path, notice, _ = make_scan(tmp_path, fmt)
    refused(path, replace(notice, width=51), "dimensions", "is 50 x 30, the notice says 51 x 30")


def test_planes_disagree_with_energy(tmp_path: Path) -> None:
    path, notice, _ = make_scan(tmp_path, "tiff", dual=True)
    refused(path, replace(notice, energy="single"), "planes", "2 page")
    path, notice, _ = make_scan(tmp_path, "dicos")
    refused(path, replace(notice, energy="dual"), "planes")


def test_wrong_bit_depth(tmp_path: Path) -> None:
    path = tmp_path / "eight.png"
    cv2.imwrite(str(path), np.zeros((30, 50), np.uint8))
    _, notice, _ = make_scan(tmp_path, "png")
    refused(path, renotice(path, notice), "bit_depth", "8-bit")


def _png_bomb(side: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", side, side, 16, 0, 0, 0, 0)
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))  # noqa: E731
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")


def _tiff_bomb(side: int) -> bytes:
    tags = [(256, 4, side), (257, 4, side), (258, 3, 16), (259, 3, 1), (262, 3, 1), (273, 4, 8), (277, 3, 1),
            (279, 4, 64)]
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", t, k, 1, v) for t, k, v in tags) + b"\0" * 4
    return b"II*\x00" + struct.pack("<I", 8 + 64) + b"\0" * 64 + ifd


@pytest.mark.parametrize("fmt", ["png", "tiff", "dicos"])
def test_decompression_bomb_refused_before_decoding(tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*_args: object) -> None:
        raise AssertionError("decoder called for a bomb")

    monkeypatch.setattr(loader_module, "_decode", never)
    monkeypatch.setattr(cv2, "imread", never)
    side = 100_000 if fmt != "dicos" else 65_535  # DICOM Rows/Columns are US: 65,535 is the most it can declare
    path = tmp_path / file_name_for("bomb", fmt)
    if fmt == "png":
        path.write_bytes(_png_bomb(side))
    elif fmt == "tiff":
        path.write_bytes(_tiff_bomb(side))
    else:
        ds = build_dicos_dx(planes_for(False), scan_id="b", scan_time=WHEN, device="sc1")
        ds.Rows = ds.Columns = side
        ds.save_as(path, enforce_file_format=True)
    sha, size = sha256_path(path)
    notice = ScanNotice("sc1", "b", ("CSQU3054383",), None, WHEN, path.name, fmt, size, sha, "single", side, side)
    refused(path, notice, "too_large", f"declares {side} x {side}, over the limit of 20000 x 20000")


def test_dicom_wrong_sop_class(tmp_path: Path) -> None:
    ds = build_dicos_dx(planes_for(False), scan_id="b", scan_time=WHEN, device="sc1")
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # plain medical DX
    path = tmp_path / "wrong.dcm"
    ds.save_as(path, enforce_file_format=True)
    sha, size = sha256_path(path)
    notice = ScanNotice("sc1", "b", ("CSQU3054383",), None, WHEN, path.name, "dicos", size, sha, "single", 50, 30)
    refused(path, notice, "sop_class", "is not DICOS DX for processing")


def test_dicom_eight_bit_refused(tmp_path: Path) -> None:
    ds = build_dicos_dx(planes_for(False), scan_id="b", scan_time=WHEN, device="sc1")
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = bytes(30 * 50)
    path = tmp_path / "eight.dcm"
    ds.save_as(path, enforce_file_format=True)
    sha, size = sha256_path(path)
    notice = ScanNotice("sc1", "b", ("CSQU3054383",), None, WHEN, path.name, "dicos", size, sha, "single", 50, 30)
    refused(path, notice, "bit_depth", "BitsAllocated 8")


def test_symlink_and_missing_refused(tmp_path: Path) -> None:
    path, notice, _ = make_scan(tmp_path, "png")
    link = tmp_path / "link.png"
    link.symlink_to(path)
    refused(link, replace(notice, file_name="link.png"), "missing", "cannot be opened")
    refused(tmp_path / "gone.png", notice, "missing")


def test_bigger_than_limit_by_notice(tmp_path: Path) -> None:
    path, notice, _ = make_scan(tmp_path, "png")
    with pytest.raises(ScanRefused, match="over the limit"):
        load_scan(path, replace(notice, size_bytes=10**9), loader_module.ScanLimits(max_file_bytes=10**6))
