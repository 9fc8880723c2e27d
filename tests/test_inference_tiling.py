"""Tiling covers every pixel with overlap, stitched maps and regions land in original coordinates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.inference.config import InferenceConfig
from edge.inference.core import Detector
from edge.inference.synthetic import identity_map_graph, write_model
from edge.inference.tiling import MapStitcher, make_grid, pad_to_tile, tile_starts


@given(length=st.integers(1, 5000), tile=st.integers(1, 512), overlap=st.integers(0, 64))
@settings(max_examples=300, deadline=None)
def test_tile_starts_cover_every_pixel_with_overlap(length: int, tile: int, overlap: int) -> None:
    overlap = min(overlap, tile - 1)
    starts = tile_starts(length, tile, overlap)
    if length <= tile:
        assert starts == [0]
        return
    assert starts[0] == 0 and starts[-1] == length - tile, "first at the border, last shifted in, no padding"
    assert starts == sorted(set(starts))
    covered = np.zeros(length, dtype=int)
    for start in starts:
        covered[start:start + tile] += 1
    assert covered.min() >= 1
    for a, b in zip(starts, starts[1:], strict=False):
        assert b - a <= tile - overlap, "neighbours overlap by at least `overlap`"


@pytest.mark.parametrize(("height", "width", "tile", "overlap"), [(2048, 4096, 256, 32), (300, 517, 64, 8), (64, 64, 64, 8)])
def test_mean_stitch_counts_every_pixel(height: int, width: int, tile: int, overlap: int) -> None:
    grid = make_grid(height, width, tile, tile, overlap)
    stitcher = MapStitcher(grid, tile, tile, (height, width), blend="mean")
    for y, x in grid.positions:
        stitcher.add(y, x, np.ones((tile, tile), dtype=np.float32))
    coverage = stitcher.coverage()
    assert coverage.shape == (height, width)
    assert coverage.min() >= 1
    assert (coverage > 1).any() == (len(grid) > 1)
    np.testing.assert_allclose(stitcher.result(), 1.0)


def test_stitched_identity_map_reproduces_the_image(tmp_path: Path) -> None:
    write_model(tmp_path / "m", identity_map_graph(1, (64, 64)), "m", overlap=8)
    detector = Detector.load(tmp_path / "m", InferenceConfig(map_max_side=1024))
    image = np.random.default_rng(1).integers(0, 256, (333, 517), dtype=np.uint8)
    result = detector.infer(image)
    assert result.anomaly_map is not None and result.anomaly_map.shape == image.shape
    np.testing.assert_allclose(result.anomaly_map, image / 255.0, atol=1e-6)


def test_reduced_map_keeps_aspect_and_scale(tmp_path: Path) -> None:
    write_model(tmp_path / "m", identity_map_graph(1, (64, 64)), "m", overlap=8)
    detector = Detector.load(tmp_path / "m", InferenceConfig(map_max_side=100))
    result = detector.infer(np.zeros((300, 1000), dtype=np.uint8))
    assert result.anomaly_map is not None and result.anomaly_map.shape == (30, 100)
    assert result.map_scale == pytest.approx((10.0, 10.0))


def _bright_patches(shape: tuple[int, int], boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    image = np.full(shape, 20, dtype=np.uint8)
    for x, y, w, h in boxes:
        image[y:y + h, x:x + w] = 250
    return image


# Patches straddle tile seams (tile 64, overlap 8 -> starts 0, 56, 112, ...) and the shifted last tile.
BOXES = [(50, 40, 20, 30), (300, 200, 7, 5), (500, 320, 17, 13), (0, 0, 3, 3)]


def test_regions_in_original_coordinates_after_tiling(tmp_path: Path) -> None:
    write_model(tmp_path / "m", identity_map_graph(1, (64, 64)), "m", overlap=8, min_region_area=4)
    detector = Detector.load(tmp_path / "m")
    result = detector.infer(_bright_patches((333, 517), BOXES))
    found = sorted((r.x, r.y, r.width, r.height) for r in result.regions)
    assert found == sorted(box for box in BOXES if box[2] * box[3] >= 4)
    assert all(r.score == pytest.approx(250 / 255) for r in result.regions)
    big = next(r for r in result.regions if r.width == 20)
    assert sorted(big.polygon) == [(50, 40), (50, 69), (69, 40), (69, 69)], "outline on the patch's corner pixels"
    assert result.flagged and result.score == pytest.approx(250 / 255)


def test_regions_scaled_from_pooled_map(tmp_path: Path) -> None:
    write_model(tmp_path / "m", identity_map_graph(1, (64, 64), pool=4), "m", overlap=16)
    detector = Detector.load(tmp_path / "m")
    boxes = [(64, 32, 32, 16), (400, 300, 40, 20)]
    result = detector.infer(_bright_patches((336, 520), boxes))
    assert result.anomaly_map is not None and result.anomaly_map.shape == (84, 130)
    assert sorted((r.x, r.y, r.width, r.height) for r in result.regions) == sorted(boxes)
    for r in result.regions:
        assert len(r.polygon) >= 4
        assert all(r.x <= px < r.x + r.width and r.y <= py < r.y + r.height for px, py in r.polygon)


def test_resize_to_height_maps_regions_back(tmp_path: Path) -> None:
    write_model(tmp_path / "m", identity_map_graph(1, (64, 64)), "m", overlap=8, resize_to_height=200)
    detector = Detector.load(tmp_path / "m")
    result = detector.infer(_bright_patches((400, 800), [(100, 100, 40, 40)]))
    assert len(result.regions) == 1
    region = result.regions[0]
    assert abs(region.x - 100) <= 2 and abs(region.y - 100) <= 2
    assert abs(region.width - 40) <= 4 and abs(region.height - 40) <= 4


def test_image_smaller_than_tile_is_padded_and_cropped(tmp_path: Path) -> None:
    write_model(tmp_path / "m", identity_map_graph(1, (64, 64)), "m")
    detector = Detector.load(tmp_path / "m")
    result = detector.infer(_bright_patches((30, 50), [(40, 20, 5, 5)]))
    assert result.anomaly_map is not None and result.anomaly_map.shape == (30, 50)
    assert [(r.x, r.y, r.width, r.height) for r in result.regions] == [(40, 20, 5, 5)]
    assert result.tiles == 1


def test_clean_image_is_not_flagged(tmp_path: Path) -> None:
    write_model(tmp_path / "m", identity_map_graph(1, (64, 64)), "m")
    result = Detector.load(tmp_path / "m").infer(np.full((200, 300), 60, dtype=np.uint8))
    assert not result.flagged and result.regions == []
    assert result.score == pytest.approx(60 / 255)


def test_min_area_and_max_regions(tmp_path: Path) -> None:
    write_model(tmp_path / "m", identity_map_graph(1, (64, 64)), "m", min_region_area=10)
    detector = Detector.load(tmp_path / "m")
    image = np.zeros((200, 200), dtype=np.uint8)
    image[10:12, 10:12] = 255  # 4 px: below min area
    for i in range(5):
        image[50 + 20 * i:55 + 20 * i, 100:105] = 200 + 10 * i
    result = detector.infer(image)
    assert len(result.regions) == 5
    assert [r.y for r in result.regions] == [130, 110, 90, 70, 50], "highest score first"


def _brute_force_stitch(grid_positions: list[tuple[int, int]], maps: list[np.ndarray], shape: tuple[int, int],
                        scale: int, blend: str) -> np.ndarray:
    """Per map pixel, the max (or mean) over the tiles that cover it, computed pixel by pixel."""
    out = np.zeros(shape, dtype=np.float64)
    for py in range(shape[0]):
        for px in range(shape[1]):
            values = []
            for (y, x), tile_map in zip(grid_positions, maps, strict=True):
                my, mx = py - y // scale, px - x // scale
                if 0 <= my < tile_map.shape[0] and 0 <= mx < tile_map.shape[1]:
                    values.append(float(tile_map[my, mx]))
            assert values, "every map pixel is covered"
            out[py, px] = max(values) if blend == "max" else sum(values) / len(values)
    return out


@pytest.mark.parametrize("blend", ["max", "mean"])
@pytest.mark.parametrize(("height", "width", "tile", "overlap", "scale"), [(100, 150, 32, 8, 1), (120, 200, 64, 16, 4)])
def test_overlapping_tiles_with_different_values_blend(blend: str, height: int, width: int, tile: int,
                                                        overlap: int, scale: int) -> None:
    """Tiles disagree in their overlaps (random maps), so a stitcher that lets one tile overwrite
    another, or blends the wrong way, gives a different map than the pixel-by-pixel reference."""
    grid = make_grid(height, width, tile, tile, overlap)
    map_side = tile // scale
    rng = np.random.default_rng(9)
    maps = [rng.random((map_side, map_side), dtype=np.float32) for _ in grid.positions]
    stitcher = MapStitcher(grid, map_side, map_side, (height, width), blend=blend)  # type: ignore[arg-type]
    for (y, x), tile_map in zip(grid.positions, maps, strict=True):
        stitcher.add(y, x, tile_map)
    expected = _brute_force_stitch(grid.positions, maps, (height // scale, width // scale), scale, blend)
    np.testing.assert_allclose(stitcher.result(), expected, rtol=1e-6)


def test_max_blend_keeps_the_higher_tile_whichever_comes_last() -> None:
    grid = make_grid(64, 100, 64, 64, 16)                    # xs = [0, 36]: columns 36-63 overlap
    assert grid.xs == [0, 36]
    for first, last in ((0.9, 0.1), (0.1, 0.9)):
        stitcher = MapStitcher(grid, 64, 64, (64, 100))
        stitcher.add(0, 0, np.full((64, 64), first, dtype=np.float32))
        stitcher.add(0, 36, np.full((64, 64), last, dtype=np.float32))
        out = stitcher.result()
        assert out.shape == (64, 100)
        np.testing.assert_allclose(out[:, 36:64], max(first, last))
        np.testing.assert_allclose(out[:, :36], first)
        np.testing.assert_allclose(out[:, 64:], last)


def test_map_larger_than_the_tile_is_stitched_at_scale() -> None:
    """A model whose map is twice its tile: tiles land at twice their image offsets."""
    grid = make_grid(40, 60, 16, 16, 4)
    rng = np.random.default_rng(3)
    maps = [rng.random((32, 32), dtype=np.float32) for _ in grid.positions]
    stitcher = MapStitcher(grid, 32, 32, (40, 60))
    for (y, x), tile_map in zip(grid.positions, maps, strict=True):
        stitcher.add(y, x, tile_map)
    expected = np.full((80, 120), -np.inf)
    for (y, x), tile_map in zip(grid.positions, maps, strict=True):
        window = expected[2 * y:2 * y + 32, 2 * x:2 * x + 32]
        np.maximum(window, tile_map, out=window)
    np.testing.assert_allclose(stitcher.result(), expected, rtol=1e-6)


def test_last_tile_map_is_shifted_in_to_end_at_the_map_border() -> None:
    """Tile 6 and map 3 (pool 2) on 13 rows: the last tile starts at row 7 of the image, 3.5 map rows,
    which rounds (half to even) to 4 and would run past the 6-row map; it is shifted in to end at row 6."""
    for transpose in (False, True):                                 # rows, then the same along columns
        height, width = (6, 13) if transpose else (13, 6)
        grid = make_grid(height, width, 6, 6, 2)
        assert (grid.xs if transpose else grid.ys) == [0, 4, 7]
        stitcher = MapStitcher(grid, 3, 3, (height, width))
        for y, x in grid.positions:
            stitcher.add(y, x, np.full((3, 3), 1.0 if max(y, x) == 7 else 0.0, dtype=np.float32))
        out = stitcher.result().T if transpose else stitcher.result()
        assert out.shape == (6, 3)
        np.testing.assert_array_equal(out[3:], 1.0)
        np.testing.assert_array_equal(out[:3], 0.0)


@pytest.mark.parametrize("blend", ["max", "mean"])
def test_result_is_float32_cropped_to_the_unpadded_image(blend: str) -> None:
    """A 1 x 50 (and a 50 x 1) image padded to one 64 x 64 tile; a 30 x 50 one with a pooled map (pool 4) keeps 8 x 12
    (7.5 and 12.5 map pixels, rounded half to even)."""
    for map_side, valid, shape in ((64, (1, 50), (1, 50)), (64, (50, 1), (50, 1)), (16, (30, 50), (8, 12))):
        grid = make_grid(64, 64, 64, 64, 8)
        stitcher = MapStitcher(grid, map_side, map_side, valid, blend=blend)  # type: ignore[arg-type]
        stitcher.add(0, 0, np.full((map_side, map_side), 0.25, dtype=np.float32))
        out = stitcher.result()
        assert out.shape == shape and out.dtype == np.float32
        np.testing.assert_array_equal(out, 0.25)


def test_coverage_is_only_kept_for_mean() -> None:
    grid = make_grid(64, 64, 64, 64, 8)
    with pytest.raises(ValueError, match=r"^coverage is only tracked when blend='mean'$"):
        MapStitcher(grid, 64, 64, (64, 64)).coverage()


def test_grid_refuses_an_image_smaller_than_a_tile_in_either_direction() -> None:
    for height, width in ((63, 100), (100, 63)):
        with pytest.raises(ValueError, match=rf"^image {width}x{height} smaller than tile 64x64; pad it first$"):
            make_grid(height, width, 64, 64, 8)


def test_pad_reflects_bottom_and_right_only_up_to_one_tile() -> None:
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    padded = pad_to_tile(image, 5, 6)
    np.testing.assert_array_equal(padded, [[0, 1, 2, 3, 2, 1],
                                           [4, 5, 6, 7, 6, 5],
                                           [8, 9, 10, 11, 10, 9],
                                           [4, 5, 6, 7, 6, 5],
                                           [0, 1, 2, 3, 2, 1]])


def test_pad_only_the_short_direction_and_keep_a_big_image_as_it_is() -> None:
    tall = np.arange(6 * 3, dtype=np.uint8).reshape(6, 3)
    assert pad_to_tile(tall, 4, 5).shape == (6, 5)
    wide = np.arange(3 * 6, dtype=np.uint8).reshape(3, 6)
    np.testing.assert_array_equal(pad_to_tile(wide, 4, 6), np.vstack([wide, wide[1:2]]))
    big = np.zeros((8, 8), dtype=np.uint8)
    assert pad_to_tile(big, 8, 8) is big


def test_pad_two_pixel_image_reflects_and_colour_keeps_channels() -> None:
    two = np.array([[10, 20]], dtype=np.uint8).T                      # 2 rows, 1 column
    np.testing.assert_array_equal(pad_to_tile(np.hstack([two, two]), 4, 2), [[10, 10], [20, 20], [10, 10], [20, 20]])
    colour = np.zeros((2, 3, 3), dtype=np.uint8)
    colour[1] = 7
    padded = pad_to_tile(colour, 3, 3)
    assert padded.shape == (3, 3, 3)
    np.testing.assert_array_equal(padded[2], 0)                       # reflected row 0, not row 1 repeated
