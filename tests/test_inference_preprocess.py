"""Pre-processing: 8/16-bit grey and colour decoding, channel order, scaling to the card's float32."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.inference.card import InputSpec
from edge.inference.core import Detector
from edge.inference.preprocess import (
    ImageDecodeError,
    Normaliser,
    decode_image,
    match_channels,
    read_image,
)
from edge.inference.resize import resize_to_height
from edge.inference.synthetic import identity_map_graph, write_model


def _spec(**kw: object) -> InputSpec:
    base: dict[str, object] = {"name": "image", "height": 4, "width": 4, "channels": 1, "bit_depth": 8, "scale": 255.0}
    base.update(kw)
    return InputSpec(**base)


@pytest.mark.parametrize("ext", [".png", ".tiff"])
def test_16bit_file_is_read_as_16bit(tmp_path: Path, ext: str) -> None:
    image = np.arange(0, 65536, 257, dtype=np.uint16).reshape(16, 16)
    path = tmp_path / f"scan{ext}"
    assert cv2.imwrite(str(path), image)
    decoded = read_image(path)
    assert decoded.dtype == np.uint16
    np.testing.assert_array_equal(decoded, image)


def test_16bit_scan_through_16bit_model_keeps_full_precision(tmp_path: Path) -> None:
    write_model(tmp_path / "m", identity_map_graph(1, (32, 32)), "m", bit_depth=16, pixel_threshold=0.5)
    detector = Detector.load(tmp_path / "m")
    scan = np.full((80, 100), 32000, dtype=np.uint16)
    scan[10:20, 30:45] = 33000  # above 32767.5 only in 16 bits: in 8 bits both are 125 and 128 -> 0.49, 0.50
    scan[50:60, 60:70] = 32767  # just below the threshold
    path = tmp_path / "scan.png"
    cv2.imwrite(str(path), scan)
    result = detector.infer(read_image(path))
    assert [(r.x, r.y, r.width, r.height) for r in result.regions] == [(30, 10, 15, 10)]
    assert result.score == pytest.approx(33000 / 65535, abs=1e-6)


def test_8bit_image_on_16bit_model_is_rescaled(tmp_path: Path) -> None:
    write_model(tmp_path / "m", identity_map_graph(1, (32, 32)), "m", bit_depth=16)
    result = Detector.load(tmp_path / "m").infer(np.full((40, 40), 255, dtype=np.uint8))
    assert result.score == pytest.approx(1.0)


def test_normaliser_scale_mean_std_and_rgb_order() -> None:
    spec = _spec(channels=3, mean=[0.1, 0.2, 0.3], std=[0.5, 0.25, 0.125])
    bgr = np.zeros((4, 4, 3), dtype=np.uint8)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 51, 102, 204  # B, G, R
    rgb = match_channels(bgr, 3)
    out = Normaliser(spec, rgb.dtype).batch([rgb])
    assert out.shape == (1, 3, 4, 4) and out.dtype == np.float32
    expected = [(204 / 255 - 0.1) / 0.5, (102 / 255 - 0.2) / 0.25, (51 / 255 - 0.3) / 0.125]
    np.testing.assert_allclose(out[0, :, 0, 0], expected, rtol=1e-5)


@pytest.mark.parametrize(
    ("shape", "channels", "expected_shape"),
    [((8, 8), 3, (8, 8, 3)), ((8, 8, 3), 1, (8, 8)), ((8, 8, 4), 3, (8, 8, 3)), ((8, 8, 1), 1, (8, 8))],
)
def test_channel_conversion(shape: tuple[int, ...], channels: int, expected_shape: tuple[int, ...]) -> None:
    assert match_channels(np.zeros(shape, dtype=np.uint16), channels).shape == expected_shape


def test_colour_jpeg_through_grey_and_colour_models(tmp_path: Path) -> None:
    image = np.full((100, 120, 3), 30, dtype=np.uint8)
    image[40:60, 50:80] = (240, 240, 240)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 98])
    assert ok
    for channels in (1, 3):
        folder = tmp_path / f"m{channels}"
        write_model(folder, identity_map_graph(channels, (32, 32)), f"m{channels}", min_region_area=50)
        result = Detector.load(folder).infer_bytes(jpeg.tobytes(), "frame.jpg")
        assert len(result.regions) == 1
        region = result.regions[0]
        assert (abs(region.x - 50), abs(region.y - 40)) <= (1, 1)
        assert abs(region.width - 30) <= 2 and abs(region.height - 20) <= 2


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_corrupt_bytes_raise_decode_error(data: bytes) -> None:
    with pytest.raises(ImageDecodeError):
        decode_image(data, "bad.png")


def test_unsupported_dtype_is_refused() -> None:
    with pytest.raises(ImageDecodeError, match="float32"):
        match_channels(np.zeros((4, 4), dtype=np.float32), 1)


@pytest.mark.parametrize("column", [0, 1, 2, 3, 5, 6])
def test_resize_to_height_does_not_lose_thin_lines(column: int) -> None:
    image = np.zeros((400, 800), dtype=np.uint8)
    image[:, 400 + column] = 255  # one pixel wide: plain INTER_LINEAR at 1/4 skips some phases
    small = resize_to_height(image, 100)
    assert small.shape == (100, 200)
    assert small.max() >= 20
