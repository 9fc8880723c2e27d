"""The simulated lane's own models (models/demo_lane/, made by models/demo_lane/make_demo_models.py).

Each is loaded the way the edge loads a model (registry by folder name, hash and graph checked,
warm-up) and run through the inference core on freshly rendered empty-box stub interiors with
seeds 70001-70006, which neither the fit (40000-40059) nor the held-out evaluation (1-1000) used:
empty ones must pass, not-empty ones must be flagged with a region on the cargo. Cargo ground
truth: the renderer is deterministic per seed, so where the not-empty render of a seed differs
from its empty render by far more than the sensor noise is cargo.

There is no demo-lane under-vehicle model to test: `kouan model fit` does not find the
under-vehicle stub's objects (models/demo_lane/README.md).
"""

from __future__ import annotations

import numpy as np
import pytest

from edge.inference.config import InferenceConfig
from edge.inference.core import Detector
from edge.inference.registry import ModelRegistry
from firmware_stubs.empty_box_image import render_interior

SEEDS = range(70_001, 70_007)
MODELS = {"demo_lane/empty_container": "camera", "demo_lane/empty_container_transmission": "transmission"}
CARGO_DIFF = {"camera": 25, "transmission": 3000}   # noise: sigma 3 (8-bit) / 300 (16-bit) per render


def cargo_mask(kind: str, seed: int) -> np.ndarray:
    full = render_interior(kind, full=True, seed=seed).astype(np.int32)
    empty = render_interior(kind, full=False, seed=seed).astype(np.int32)
    diff = np.abs(full - empty)
    return (diff.max(axis=2) if diff.ndim == 3 else diff) > CARGO_DIFF[kind]


@pytest.fixture(scope="module", params=list(MODELS), ids=lambda name: name.split("/")[-1])
def model(request: pytest.FixtureRequest) -> tuple[Detector, str]:
    return Detector.load(request.param, InferenceConfig()), MODELS[request.param]


def test_cards_say_demo_lane_only_and_carry_held_out_figures() -> None:
    registry = ModelRegistry()
    for name in MODELS:
        card = registry.load(name).card
        assert card.description.startswith("DEMO LANE ONLY")
        assert "NOT a claim about real" in card.metrics.held_out_set
        assert card.metrics.image_auroc is not None and card.metrics.n_normal and card.metrics.n_anomalous


def test_empty_interiors_pass(model: tuple[Detector, str]) -> None:
    detector, kind = model
    scores = [detector.infer(render_interior(kind, full=False, seed=seed)) for seed in SEEDS]
    assert [r.flagged for r in scores] == [False] * len(SEEDS), [round(r.score, 3) for r in scores]


def test_not_empty_interiors_flagged_with_a_region_on_the_cargo(model: tuple[Detector, str]) -> None:
    detector, kind = model
    for seed in SEEDS:
        result = detector.infer(render_interior(kind, full=True, seed=seed))
        assert result.flagged, (seed, result.score, detector.card.threshold)
        cargo = cargo_mask(kind, seed)
        assert cargo.sum() > 500, seed   # the render really holds cargo
        on_cargo = [bool(cargo[r.y:r.y + r.height, r.x:r.x + r.width].any()) for r in result.regions]
        assert on_cargo and on_cargo[0], (seed, [r.to_dict()["box"] for r in result.regions])
        covered = np.zeros_like(cargo)
        for r in result.regions:
            covered[r.y:r.y + r.height, r.x:r.x + r.width] = True
        assert (covered & cargo).sum() >= 0.5 * cargo.sum(), seed   # the regions cover most of the cargo
