"""The independent surface-defect painter (models/independent/surface_defects.py).

Determinism, shapes, masks that cover what changed, visibility, size and placement of every
kind on flat, noise and textured crops of several sizes. The package is loaded by file path,
so nothing else under models/ runs.
"""

from __future__ import annotations


import cv2
import numpy as np
import pytest

from tests.independent_package import load


sd = load("surface_defects")
objects = load("surface_objects")
draw = load("surface_draw")

THIN = ("crack", "scratch")
AREA = tuple(k for k in sd.KINDS if k not in THIN)


def _texture(size: int, seed: int = 0) -> np.ndarray:
    """A stone-like test texture: blurred noise cells with dark gaps (mean ~120, std ~35)."""
    rng = np.random.default_rng(seed)
    coarse = cv2.resize(rng.uniform(0, 1, (size // 8, size // 8)).astype(np.float32), (size, size),
                        interpolation=cv2.INTER_NEAREST)
    fine = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), 1.0)
    img = 70 + 100 * coarse + 12 * fine
    return np.clip(img, 0, 255).astype(np.uint8)


def _crops(size: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(size)
    return {"flat": np.full((size, size), 128, np.uint8),
            "noise": rng.integers(0, 256, (size, size), dtype=np.uint8),
            "texture": _texture(size)}


def _near(mask: np.ndarray, radius: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), k) > 0


def test_kinds_and_objects() -> None:
    assert set(sd.KINDS) == {"crack", "hole", "stain", "foreign_object", "paint", "scratch", "burn",
                             "missing_piece"}
    assert len(set(sd.KINDS)) == len(sd.KINDS)
    assert set(objects.OBJECTS) == {"bolt", "leaf", "bottle_cap", "plastic", "paper", "cigarette_butt"}
    assert sd.keep_radius((128, 128)) == 4 and sd.keep_radius((64, 64)) == 3


@pytest.mark.parametrize("kind", sd.KINDS)
def test_deterministic_and_seed_dependent(kind: str) -> None:
    crop = _texture(128, 3)
    before = crop.copy()
    a, ma = sd.add_defect(crop, kind, 11)
    b, mb = sd.add_defect(crop, kind, 11)
    assert np.array_equal(crop, before)  # the input is not modified
    assert np.array_equal(a, b) and np.array_equal(ma, mb)
    c, mc = sd.add_defect(crop, kind, 12)
    assert not np.array_equal(ma, mc) and not np.array_equal(a, c)
    big, _ = sd.add_defect(crop, kind, 2**40 + 11)  # 64-bit seeds are used in full
    assert not np.array_equal(big, a)


@pytest.mark.parametrize("size", [64, 128, 256])
@pytest.mark.parametrize("kind", sd.KINDS)
def test_changes_only_near_mask_and_visible(kind: str, size: int) -> None:
    radius = sd.keep_radius((size, size))
    for name, crop in _crops(size).items():
        for seed in range(6):
            img, mask = sd.add_defect(crop, kind, seed)
            assert img.dtype == np.uint8 and img.shape == crop.shape
            assert mask.dtype == bool and mask.shape == crop.shape and mask.any(), (name, seed)
            changed = img != crop
            assert not (changed & ~_near(mask, radius)).any(), (name, seed)
            assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any()), (name, seed)
            change = np.abs(img.astype(np.int16) - crop)
            assert change[mask].mean() >= 8.0, (name, seed, change[mask].mean())
            edge = _near(mask, radius) & ~_near(mask, radius - 1)  # no visible cut where changes stop
            assert change[edge].max(initial=0) <= 10, (name, seed, change[edge].max())


@pytest.mark.parametrize("level", [40, 220])
def test_visible_on_dark_and_light_flat_crops(level: int) -> None:
    crop = np.full((128, 128), level, np.uint8)
    for kind in sd.KINDS:
        for seed in range(10):
            img, mask = sd.add_defect(crop, kind, seed)
            assert np.abs(img.astype(np.int16) - crop)[mask].mean() >= 8.0, (kind, seed)


def test_sizes_positions_and_variation() -> None:
    crop = _texture(128, 5)
    for kind in sd.KINDS:
        fracs, diags, centres = [], [], []
        for seed in range(25):
            _, mask = sd.add_defect(crop, kind, seed)
            ys, xs = np.nonzero(mask)
            fracs.append(mask.mean())
            diags.append(np.hypot(np.ptp(xs), np.ptp(ys)) / 128)
            centres.append((xs.mean(), ys.mean()))
        fracs_a = np.array(fracs)
        if kind in THIN:  # judged by length: a third to most of the crop
            assert np.min(diags) >= 0.3 and np.median(diags) >= 0.45, (kind, np.min(diags))
            assert fracs_a.max() < 0.06, kind
        else:  # about 3 % to 15 % of the crop
            assert 0.01 <= fracs_a.min() and fracs_a.max() <= 0.2, (kind, fracs_a.min(), fracs_a.max())
            assert np.median(fracs_a) >= 0.04, kind
        assert fracs_a.std() > 0.15 * fracs_a.mean(), kind  # sizes vary
        assert np.std(np.array(centres), 0).min() > 10, kind  # so do positions


def test_physical_look() -> None:
    crop = _texture(128, 7)
    f = crop.astype(np.float32)
    for kind in ("stain", "burn", "crack"):
        for seed in range(8):
            img, mask = sd.add_defect(crop, kind, seed)
            assert img[mask].mean() < f[mask].mean() - 5, (kind, seed)  # darker than what was there
    for seed in range(8):  # a stain keeps the texture visible under it (multiplicative)
        img, mask = sd.add_defect(crop, "stain", seed)
        inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        if inner.sum() > 50:
            assert img[inner].astype(np.float32).std() > 0.3 * f[inner].std(), seed
    for seed in range(8):  # a hole: dark interior, with a rim brighter than the surface was
        img, mask = sd.add_defect(crop, "hole", seed)
        assert img[mask].mean() < f[mask].mean() - 10, seed
        assert (img.astype(np.int16) - crop)[mask].max() > 15, seed


@pytest.mark.parametrize("which", objects.OBJECTS)
def test_every_object(which: str) -> None:
    crop = _texture(128, 9)
    for seed in range(4):
        ctx = draw.make_ctx(crop, np.random.default_rng(seed))
        out, alpha, shadow = objects.foreign_object(ctx, which)
        assert out.shape == crop.shape and np.isfinite(out).all()
        assert 0.01 <= (alpha > 0.3).mean() <= 0.2, (which, seed, (alpha > 0.3).mean())
        cover = alpha > 0.9
        assert np.abs(out[cover] * 255 - crop[cover]).mean() > 8, (which, seed)
        assert shadow.max() > 0.2, (which, seed)


def test_other_shapes_and_bad_input() -> None:
    crop = _texture(512)[:100, :300].copy()
    for kind in sd.KINDS:
        img, mask = sd.add_defect(crop, kind, 1)
        assert img.shape == (100, 300) and mask.shape == (100, 300) and mask.any()
    big = _texture(512)
    img, mask = sd.add_defect(big, "crack", 4)
    assert img.shape == (512, 512) and mask.any()
    with pytest.raises(ValueError):
        sd.add_defect(crop, "dent", 0)
    with pytest.raises(ValueError):
        sd.add_defect(crop.astype(np.float32), "stain", 0)
    with pytest.raises(ValueError):
        sd.add_defect(np.zeros((128, 128, 3), np.uint8), "stain", 0)
