"""hub/image_check.py and hub/pixels.py on real encoders' files and hostile ones."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from hub.blobs import DiskBlobStore, sha256_file
from hub import image_check
from hub.image_check import ImageFacts, ImageRefused, check_image, inspect_image, media_type_of
from hub.pixels import PixelCache
from tests import hub_images

MAX_SIDE = 20000


def write(tmp_path: Path, data: bytes, name: str = "image") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("data", "media_type", "facts"), [
    (hub_images.png16(40, 64), "image/png", ImageFacts(64, 40, 16, 1)),
    (hub_images.png_colour(30, 20), "image/png", ImageFacts(20, 30, 8, 3)),
    (hub_images.jpeg(48, 64), "image/jpeg", ImageFacts(64, 48, 8, 3)),
    (hub_images.tiff(2, 40, 64), "image/tiff", ImageFacts(64, 40, 16, 2)),
    (hub_images.tiff(1, 24, 32), "image/tiff", ImageFacts(32, 24, 16, 1)),
    (hub_images.dicos(2, 40, 64), "application/dicom", ImageFacts(64, 40, 16, 2)),
], ids=["png16", "png-colour", "jpeg", "tiff-dual", "tiff", "dicos-dual"])
def test_good_images_give_their_facts(tmp_path: Path, data: bytes, media_type: str, facts: ImageFacts) -> None:
    path = write(tmp_path, data)
    assert check_image(path, media_type, MAX_SIDE) == facts
    assert media_type_of(data[:132]) == media_type


def refused(path: Path, media_type: str, **limits: int) -> ImageRefused:
    with pytest.raises(ImageRefused) as caught:
        check_image(path, media_type, limits.pop("max_side", MAX_SIDE), **limits)
    return caught.value


@pytest.mark.parametrize(("make", "claimed"), [
    (hub_images.png16, "image/jpeg"), (hub_images.jpeg, "image/png"), (hub_images.tiff, "application/dicom"),
    (hub_images.dicos, "image/tiff"), (lambda: b"GIF89a" + b"\x00" * 200, "image/png"),
])
def test_wrong_magic_for_the_claimed_type(tmp_path: Path, make: object, claimed: str) -> None:
    error = refused(write(tmp_path, make()), claimed)  # type: ignore[operator]
    assert error.code == "bad_magic"
    assert claimed in error.detail


def test_bomb_refused_from_the_header(tmp_path: Path) -> None:
    error = refused(write(tmp_path, hub_images.png_claiming(60000, 60000)), "image/png")
    assert error.code == "bomb"
    assert "60000 x 60000" in error.detail


def test_pixel_budget_counts_planes(tmp_path: Path) -> None:
    path = write(tmp_path, hub_images.tiff(2, 40, 64))
    assert refused(path, "image/tiff", max_pixels=40 * 64 * 2 - 1).code == "bomb"
    assert check_image(path, "image/tiff", MAX_SIDE, max_pixels=40 * 64 * 2).planes == 2
    assert refused(path, "image/tiff", max_side=63).code == "bomb"


@pytest.mark.parametrize(("make", "media_type"), [
    (hub_images.tiff, "image/tiff"), (hub_images.png16, "image/png"), (hub_images.jpeg, "image/jpeg"),
    (hub_images.dicos, "application/dicom"),
])
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_refused(tmp_path: Path, make: object, media_type: str, keep: float) -> None:
    data: bytes = make()  # type: ignore[operator]
    error = refused(write(tmp_path, data[: int(len(data) * keep)]), media_type)
    assert error.code == "truncated", error


@pytest.mark.parametrize(("make", "media_type"), [(hub_images.png16, "image/png"), (hub_images.jpeg, "image/jpeg")])
def test_corrupt_data_with_intact_ends_refused(tmp_path: Path, make: object, media_type: str) -> None:
    data = hub_images.corrupt_middle(make())  # type: ignore[operator]
    path = write(tmp_path, data)
    if media_type == "image/jpeg":  # libjpeg decodes flipped entropy-coded bytes into noise: it is whole
        assert check_image(path, media_type, MAX_SIDE).width == 64
    else:
        assert refused(path, media_type).code == "truncated"


def test_pixels_raw_little_endian_planes_cached(tmp_path: Path) -> None:
    store = DiskBlobStore(tmp_path / "blobs")
    cache = PixelCache(tmp_path / "blobs")
    source = write(tmp_path, hub_images.tiff(2, 40, 64))
    sha = sha256_file(source)
    store.put_file(source, sha)
    raw = cache.pixels(store, sha)
    assert (raw.width, raw.height, raw.bits, raw.planes) == (64, 40, 16, 2)
    samples = np.frombuffer(raw.path.read_bytes(), dtype="<u2").reshape(2, 40, 64)
    expected = hub_images.scan_planes(40, 64, 2)
    assert np.array_equal(samples[0], expected[0]) and np.array_equal(samples[1], expected[1])
    assert raw.path.name == f"{sha}.raw"
    before = raw.path.stat().st_mtime_ns
    assert cache.pixels(store, sha) == raw
    assert raw.path.stat().st_mtime_ns == before  # served from the cache, not decoded again


def test_pixels_colour_as_rgb(tmp_path: Path) -> None:
    store = DiskBlobStore(tmp_path / "blobs")
    source = write(tmp_path, hub_images.png_colour(30, 20))
    sha = sha256_file(source)
    store.put_file(source, sha)
    raw = PixelCache(tmp_path / "blobs").pixels(store, sha)
    assert (raw.bits, raw.planes) == (8, 3)
    planes = np.frombuffer(raw.path.read_bytes(), np.uint8).reshape(3, 30, 20)
    assert planes[0, 20, 0] == 100 and planes[2, 20, 0] == 0  # red bottom half: R plane first
    assert planes[2, 5, 0] == 200 and planes[0, 5, 0] == 0  # blue top half: B plane last


def test_blob_store_content_addressed_and_idempotent(tmp_path: Path) -> None:
    store = DiskBlobStore(tmp_path / "blobs")
    data = hub_images.png16()
    first = write(tmp_path, data, "a")
    sha = sha256_file(first)
    stored = store.put_file(first, sha)
    assert stored.new and not first.exists()
    assert store.path(sha) == tmp_path / "blobs" / sha[:2] / sha[2:4] / sha
    again = store.put_file(write(tmp_path, data, "b"), sha)
    assert not again.new and not (tmp_path / "b").exists()
    with store.open(sha) as handle:
        assert handle.read() == data
    assert store.size(sha) == len(data) and store.size("0" * 64) is None
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.dtype == np.uint16


@pytest.mark.parametrize(("height", "width"), [(40, 64), (40, 1000)], ids=["one-strip", "ten-strips"])
def test_tiff_strip_past_the_end_refused(tmp_path: Path, height: int, width: int) -> None:
    data = hub_images.tiff(1, height, width)
    moved = hub_images.tiff_strip_moved(data, past_end=100)
    assert len(moved) == len(data)
    error = refused(write(tmp_path, moved), "image/tiff")
    assert error.code == "truncated"
    assert "truncated" in error.detail


def _no_full_decode(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    decoded: list[str] = []
    real = image_check.decode_pages

    def counted(path: Path, media_type: str | None) -> list[np.ndarray]:
        decoded.append(str(media_type))
        return real(path, media_type)

    monkeypatch.setattr(image_check, "decode_pages", counted)
    return decoded


@pytest.mark.parametrize(("data", "media_type"), [
    (hub_images.tiff(1, 40, 1000), "image/tiff"), (hub_images.tiff(2, 40, 64), "image/tiff"),
    (hub_images.dicos(2, 40, 64), "application/dicom"), (hub_images.dicos(1, 41, 63), "application/dicom"),
], ids=["tiff-strips", "tiff-dual", "dicos-dual", "dicos-odd"])
def test_uncompressed_proven_from_extents_without_a_full_decode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                data: bytes, media_type: str) -> None:
    path = write(tmp_path, data)
    whole = inspect_image(path, media_type, MAX_SIDE)[0]  # the full decode's facts
    decoded = _no_full_decode(monkeypatch)
    assert check_image(path, media_type, MAX_SIDE) == whole
    assert decoded == []


@pytest.mark.parametrize(("data", "media_type"), [
    (hub_images.tiff_lzw(), "image/tiff"), (hub_images.png16(), "image/png"), (hub_images.jpeg(), "image/jpeg"),
    (hub_images.tiff_strip_counts_short(hub_images.tiff(1, 40, 64)), "image/tiff"),
], ids=["tiff-lzw", "png", "jpeg", "tiff-short-strip-count"])
def test_compressed_or_irregular_decoded_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes,
                                               media_type: str) -> None:
    decoded = _no_full_decode(monkeypatch)
    facts = check_image(write(tmp_path, data), media_type, MAX_SIDE)
    assert decoded == [media_type]
    assert facts.bits in (8, 16)


def test_compressed_tiff_corrupt_inside_refused(tmp_path: Path) -> None:
    data = hub_images.corrupt_middle(hub_images.tiff_lzw())
    assert refused(write(tmp_path, data), "image/tiff").code == "truncated"


def test_dicos_pixel_data_cut_refused_before_sampling(tmp_path: Path) -> None:
    data = hub_images.dicos(2, 40, 64)
    error = refused(write(tmp_path, data[:-2]), "application/dicom")
    assert error.code == "truncated"
