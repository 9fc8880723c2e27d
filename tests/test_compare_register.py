"""The comparison's registration on synthetic passes whose true offset and stretch are known."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from edge.inference.compare import CompareConfig, compare
from edge.inference.compare_align import register
from edge.inference.compare_register import fit_path, highpass, lateral_offsets, row_path

ROWS, COLS = 1200, 512


def scene(seed: int, rows: int = ROWS, cols: int = COLS) -> np.ndarray:
    """An undercarriage-like float image: shaded floor, two rails along it, cross members, parts."""
    rng = np.random.default_rng(seed)
    img = 70 + 25 * cv2.GaussianBlur(rng.normal(0, 1, (rows, cols)).astype(np.float32), (0, 0), 9) * 9
    for c in (int(cols * 0.33), int(cols * 0.62)):
        img[:, c:c + 14] = 150
    for r in range(60, rows - 40, int(rng.integers(90, 140))):
        img[r:r + 8, 40:cols - 40] = 120
    for _ in range(60):
        y, x = int(rng.integers(0, rows - 40)), int(rng.integers(20, cols - 60))
        img[y:y + int(rng.integers(6, 40)), x:x + int(rng.integers(6, 50))] = float(rng.uniform(30, 220))
    return np.clip(img, 0, 255).astype(np.float32)


def resample(img: np.ndarray, stretch: np.ndarray, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """`img` with each row stretched by `stretch` (rows out per row in) and shifted `shift` columns;
    returns the image and, per output row, the input row it shows."""
    edges = np.concatenate([[0.0], np.cumsum(stretch)])
    n = int(edges[-1])
    source = np.interp(np.arange(n) + 0.5, edges, np.arange(img.shape[0] + 1)) - 0.5
    map_x = np.broadcast_to(np.arange(img.shape[1], dtype=np.float32)[None, :] - shift, (n, img.shape[1]))
    map_y = np.broadcast_to(source.astype(np.float32)[:, None], (n, img.shape[1]))
    out = cv2.remap(img, np.ascontiguousarray(map_x), np.ascontiguousarray(map_y), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out, source


def relight(img: np.ndarray, seed: int) -> np.ndarray:
    """Other fill light (one side brighter), exposure, banding and noise."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, img.shape[1], dtype=np.float32)
    rows = 1 + rng.normal(0, 0.02, img.shape[0]).astype(np.float32)
    out = img * (1.15 - 0.4 * x)[None, :] * rows[:, None] + rng.normal(0, 2, img.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.float32)


def uneven(n: int) -> np.ndarray:
    """A probe 20 % longer on average, its speed wobbling by +-6 % along the pass."""
    return 1.2 * (1 + 0.06 * np.sin(np.linspace(0, 2 * math.pi, n)))


@pytest.mark.parametrize("shift", [-37.0, 12.5])
def test_a_known_lateral_offset_and_uneven_stretch_are_recovered(shift: float) -> None:
    ref = scene(1)
    probe, source = resample(ref, uneven(ROWS), shift)
    reg = register(ref, relight(probe, 2), CompareConfig(), max_shift_w=80)
    assert reg is not None and not reg.flipped
    rows = reg.matched
    assert rows.mean() > 0.9
    err = np.abs(reg.map_rows[rows] - source[rows])
    assert np.percentile(err, 95) < 1.0 and err.max() < 2.0, (np.percentile(err, 95), err.max())
    # reference column = probe column + map_cols, and the probe was shifted by +shift
    assert np.abs(reg.map_cols[rows] + shift).max() < 0.75
    assert reg.slope == pytest.approx(1 / 1.2, abs=0.03)


def test_a_cut_off_reference_leaves_the_probe_rows_it_lacks_unmatched() -> None:
    ref = scene(3)
    probe, source = resample(ref, np.full(ROWS, 0.9), 20.0)
    short = ref[: int(ROWS * 0.7)]
    reg = register(short, relight(probe, 4), CompareConfig(), max_shift_w=80)
    assert reg is not None
    beyond = source > short.shape[0] - 1
    assert not reg.matched[beyond].any()
    inside = reg.matched & ~beyond
    assert inside.sum() > 0.9 * (~beyond).sum()
    assert np.abs(reg.map_rows[inside] - source[inside]).max() < 2.0


def test_a_pass_in_reverse_is_turned_round() -> None:
    ref = scene(5)
    probe, source = resample(ref, np.full(ROWS, 1.1), -15.0)
    reg = register(ref, relight(probe[::-1].copy(), 6), CompareConfig(), max_shift_w=80)
    assert reg is not None and reg.flipped
    rows = reg.matched
    assert np.abs(reg.map_rows[rows] - source[rows]).max() < 2.0


def test_an_added_block_is_found_where_it_is_and_the_clean_pair_is_not_flagged() -> None:
    ref = scene(7).astype(np.uint8)
    probe, _ = resample(scene(7), uneven(ROWS), 25.0)
    clean = relight(probe, 8).astype(np.uint8)
    changed = clean.copy()
    changed[700:760, 300:360] = 235
    assert not compare(ref, clean).flagged
    result = compare(ref, changed)
    assert result.flagged
    assert any(r.y < 760 and r.y + r.height > 700 and r.x < 360 and r.x + r.width > 300 for r in result.regions)


def test_lateral_offset_of_shifted_profiles() -> None:
    ref = scene(9)
    probe, _ = resample(ref, np.ones(ROWS), 23.0)
    (dx, corr), = lateral_offsets(highpass(ref, 4), highpass(probe, 4), 60, 1)
    assert dx == pytest.approx(-23.0, abs=0.5) and corr > 0.5


def test_row_path_follows_a_band_and_leaves_the_rest() -> None:
    rng = np.random.default_rng(0)
    sim = rng.normal(0, 0.08, (200, 500)).astype(np.float32)
    truth = {i: 2 * (30 + 0.8 * (i - 40)) for i in range(40, 180)}   # probe rows 40..179, slope 0.8, half rows
    for i, j in truth.items():
        sim[i, int(round(j))] = 0.9
    path = row_path(sim, tau=0.3, step_penalty=0.03)
    assert path is not None
    assert abs(path.first - 40) <= 2 and abs(path.last - 179) <= 2
    expected = np.array([truth[i] / 2 for i in range(path.first, path.last + 1) if i in truth])
    got = path.ref_rows[[i - path.first for i in range(path.first, path.last + 1) if i in truth]]
    assert np.abs(got - expected).max() <= 1.0


def test_fit_path_cuts_an_end_that_wandered_off() -> None:
    rows = np.concatenate([0.9 * np.arange(200.0), 0.9 * 199 + 0.5 * np.arange(1, 41)])   # last 40 at slope 0.5
    fit, inlier = fit_path(rows, knot_every=40, tolerance=1.5, stiffness=1.0)
    assert inlier[:190].all() and not inlier[-15:].any()
    assert np.abs(fit[:150] - rows[:150]).max() < 0.5
