"""The comparison's own pair maker (models.compare_pairs, models.compare_objects) does what it says."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from models.compare_objects import paint
from models.compare_pairs import PassNuisance, degrade


def plain() -> PassNuisance:
    return PassNuisance(stretch_knots=(1.0,), shift_px=0.0, drift_px=0.0, exposure=1.0, light_centre=0.5,
                        light_falloff=0.0, flicker=0.0, flicker_period=100.0, banding=0.0, blur_rows=1, noise=0.0)


def vehicle(rows: int = 400, cols: int = 256) -> np.ndarray:
    """A bright vehicle (the middle 3/4 of the rows, 40..215 of 256 columns) over a dark road,
    with a ramp along it to follow."""
    img = np.full((rows, cols), 14, np.uint8)
    r0, r1, c0, c1 = rows // 8, rows - rows // 8, cols * 40 // 256, cols * 216 // 256
    img[r0:r1, c0:c1] = (60 + np.arange(r1 - r0) * 100 // (r1 - r0))[:, None]
    return img


def test_a_stretch_resamples_the_rows_and_tells_which_row_each_shows() -> None:
    out = degrade(vehicle(), replace(plain(), stretch_knots=(1.2,)), np.random.default_rng(0))
    assert out.image.shape[0] == 480
    assert out.source_row[240] == pytest.approx(240 / 1.2, abs=0.5)
    assert int(out.image[int(round(200 * 1.2)), 100]) == pytest.approx(int(vehicle()[200, 100]), abs=1)


def test_a_shift_moves_the_columns_and_drifts() -> None:
    out = degrade(vehicle(), replace(plain(), shift_px=20.0, drift_px=6.0), np.random.default_rng(0))
    assert out.shift[0] == pytest.approx(20.0) and out.shift[-1] == pytest.approx(26.0)
    assert out.image[100, 40 + 20] == 14 and out.image[100, 40 + 23] > 50   # shifted by 21.5 at row 100


@pytest.mark.parametrize("truncate", [False, True])
def test_a_cut_tail_loses_the_last_part_of_the_vehicle(truncate: bool) -> None:
    out = degrade(vehicle(), replace(plain(), tail_cut=0.2, truncate=truncate), np.random.default_rng(0))
    end = 349 - 0.2 * 299
    if truncate:
        assert out.image.shape[0] == pytest.approx(end, abs=2)
    else:
        assert out.image.shape[0] == 400 and not out.image[int(end) + 2:].any() and out.image[int(end) - 2].any()


@pytest.mark.parametrize("kind", ["flat_plate", "dark_box"])
def test_a_painted_object_lies_inside_the_vehicle_and_its_box(kind: str) -> None:
    rng = np.random.default_rng(3)
    base = (vehicle(2000, 4096) + rng.normal(0, 2, (2000, 4096))).clip(0, 255).astype(np.uint8)
    painted, (r0, r1, c0, c1) = paint(base, kind, 1.0, np.random.default_rng(4))
    changed = np.nonzero(painted != base)
    assert changed[0].min() >= r0 and changed[0].max() < r1 and changed[1].min() >= c0 and changed[1].max() < c1
    assert 250 <= r0 and r1 <= 1750 and 40 * 16 <= c0 and c1 <= 216 * 16, (r0, r1, c0, c1)
    with pytest.raises(ValueError, match="unknown"):
        paint(base, "anvil", 1.0, rng)
