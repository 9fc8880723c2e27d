"""The procedural generators: types, masks, determinism, and the train/held-out separation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from models.generators import cargo_xray, empty_container, under_vehicle
from models.generators.common import (
    SHAPES_HELDOUT, SHAPES_NOVEL, SHAPES_TRAIN, _HELDOUT_RANGES, _TRAIN_RANGES, sample_nuisance, seed_for, shape_mask, shapes_for,
)

CASES = [
    (under_vehicle.generate, (256, 512), np.uint8),
    (empty_container.generate, (128, 400), np.uint8),
    (cargo_xray.generate, (256, 700), np.uint16),
]


@pytest.mark.parametrize(("generate", "size", "dtype"), CASES)
def test_normal_image_has_empty_mask_and_right_type(generate, size, dtype) -> None:
    img, mask = generate(3, "train", False, *size)
    assert img.shape == size and img.dtype == dtype
    assert mask.shape == size and not mask.any()
    assert img.std() > 0  # a scene, not a flat frame


@pytest.mark.parametrize(("generate", "size", "dtype"), CASES)
@pytest.mark.parametrize("split", ["train", "heldout", "novel"])
def test_anomalous_images_mark_their_anomalies(generate, size, dtype, split) -> None:
    marked = 0
    for seed in range(6):
        img, mask = generate(seed, split, True, *size)
        if mask.any():
            marked += 1
            # the marked pixels differ from what surrounds them
            assert img[mask > 0].astype(float).mean() != pytest.approx(img[mask == 0].astype(float).mean(), abs=1e-3)
    assert marked >= 5  # an anomaly may be wholly occluded now and then, not usually


@pytest.mark.parametrize(("generate", "size", "dtype"), CASES)
def test_same_seed_same_image_other_seed_other_image(generate, size, dtype) -> None:
    a, ma = generate(11, "train", True, *size)
    b, mb = generate(11, "train", True, *size)
    c, _ = generate(12, "train", True, *size)
    assert np.array_equal(a, b) and np.array_equal(ma, mb)
    assert not np.array_equal(a, c)


def test_held_out_shapes_and_nuisances_are_disjoint_from_training() -> None:
    assert not set(SHAPES_TRAIN) & set(SHAPES_HELDOUT)
    for name, (lo, hi) in _TRAIN_RANGES.items():
        for lo2, hi2 in _HELDOUT_RANGES[name]:
            assert hi2 < lo or lo2 > hi, name
    rng = np.random.default_rng(0)
    for _ in range(50):
        held = dataclasses.asdict(sample_nuisance(rng, "heldout"))
        train = dataclasses.asdict(sample_nuisance(rng, "train"))
        for name, (lo, hi) in _TRAIN_RANGES.items():
            assert lo <= train[name] <= hi
            assert not lo <= held[name] <= hi


def _own_seeds_and_outside_range_nuisances(split: str, others: tuple[str, ...]) -> None:
    seeds = {seed_for(split, i) for i in (0, 10**6)}
    for other in others:
        assert not seeds & {seed_for(other, i) for i in (0, 10**6, 5 * 10**6)}
    rng = np.random.default_rng(1)
    for _ in range(50):
        values = dataclasses.asdict(sample_nuisance(rng, split))  # type: ignore[arg-type]
        for name, (lo, hi) in _TRAIN_RANGES.items():
            assert not lo <= values[name] <= hi, name


def test_stress_split_has_its_own_seeds_training_shapes_and_outside_range_nuisances() -> None:
    """The model-selection set must not overlap the held-out set (seeds, shapes) nor training."""
    assert shapes_for("stress") == SHAPES_TRAIN
    _own_seeds_and_outside_range_nuisances("stress", ("train", "validation", "heldout"))


def test_novel_split_shares_no_shape_or_seed_with_training_or_held_out() -> None:
    """The second selection set judges generalisation to unseen shapes; it must not be the held-out set."""
    novel = set(shapes_for("novel"))
    assert novel == set(SHAPES_NOVEL)
    assert not novel & (set(SHAPES_TRAIN) | set(SHAPES_HELDOUT))
    _own_seeds_and_outside_range_nuisances("novel", ("train", "validation", "heldout", "stress"))


@pytest.mark.parametrize("kind", SHAPES_TRAIN + SHAPES_HELDOUT + SHAPES_NOVEL)
def test_every_shape_draws_something_near_its_centre(kind: str) -> None:
    m = shape_mask(np.random.default_rng(1), kind, (200, 200), 100, 100, 60)
    ys, xs = np.nonzero(m)
    assert len(ys) > 30
    assert abs(ys.mean() - 100) < 35 and abs(xs.mean() - 100) < 35


def test_unknown_shape_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown anomaly shape"):
        shape_mask(np.random.default_rng(1), "hexagon", (50, 50), 25, 25, 10)
