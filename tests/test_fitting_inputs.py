"""Fitting on 16-bit grey images of mixed sizes (transmission scans), as the core will read them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.fitting import FitInputError, FitOptions, fit_model
from edge.inference.core import Detector


def scan(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A 16-bit 'transmission' image: smooth attenuation with corrugation stripes and detector noise."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    stripes = 0.08 * np.sin(2 * np.pi * x / 11.0 + rng.uniform(0, 6.3))
    level = 0.45 + 0.1 * (y / h) + stripes + rng.normal(0, 0.01, (h, w))
    return (np.clip(level, 0, 1) * 65535).astype(np.uint16)


def test_sixteen_bit_mixed_sizes_fit_and_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    normal = tmp_path / "normal"
    normal.mkdir()
    sides = []
    for i in range(12):
        img = scan(rng, int(rng.integers(150, 260)), int(rng.integers(180, 300)))
        sides.append(min(img.shape))
        cv2.imwrite(str(normal / f"scan_{i:02d}.png"), img)
    result = fit_model(normal, tmp_path / "model", FitOptions(tile=256, folds=3), write=lambda line: None)
    card = result.card
    assert (card.input.bit_depth, card.input.scale, card.input.channels) == (16, 65535.0, 1)
    assert card.input.height == card.input.width == min(sides) // 8 * 8  # one tile fits every image
    detector = Detector.load(tmp_path / "model")
    clean = [detector.infer(scan(rng, 240, 320)).score for _ in range(5)]
    dense = []
    for _ in range(5):
        img = scan(rng, 240, 320)
        cv2.rectangle(img, (150, 90), (175, 120), 9000, -1)  # a dense block hidden in the load
        dense.append(detector.infer(img).score)
    assert min(dense) > max(clean)
    assert sum(s >= card.threshold for s in clean) <= 1


def test_images_smaller_than_the_backbone_needs_are_refused(tmp_path: Path) -> None:
    normal = tmp_path / "tiny"
    normal.mkdir()
    for i in range(12):
        cv2.imwrite(str(normal / f"{i}.png"), np.full((20, 20), 100, np.uint8))
    with pytest.raises(FitInputError, match="images too small"):
        fit_model(normal, tmp_path / "model", FitOptions(), write=lambda line: None)
