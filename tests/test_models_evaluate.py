"""The evaluation helpers: AUROC in numpy and the tiling that mimics the inference core."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.evaluate import BinnedAuroc, auroc, tile_origins


def _pairwise_auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    pos, neg = scores[labels], scores[~labels]
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


@pytest.mark.parametrize("seed", range(5))
def test_auroc_matches_pairwise_definition_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = np.round(rng.random(300), 1)  # many ties
    labels = rng.random(300) < 0.3
    assert auroc(scores, labels) == pytest.approx(_pairwise_auroc(scores, labels), abs=1e-12)


def test_auroc_extremes_and_errors() -> None:
    assert auroc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])) == 1.0
    assert auroc(np.array([0.9, 0.8, 0.2, 0.1]), np.array([0, 0, 1, 1])) == 0.0
    with pytest.raises(ValueError):
        auroc(np.array([0.1, 0.2]), np.array([1, 1]))


def test_binned_auroc_is_close_to_exact() -> None:
    rng = np.random.default_rng(7)
    labels = rng.random(20000) < 0.1
    scores = np.clip(rng.normal(0.4 + 0.2 * labels, 0.15), 0, 1)
    acc = BinnedAuroc()
    acc.add(scores[:10000], labels[:10000])
    acc.add(scores[10000:], labels[10000:])
    assert acc.value() == pytest.approx(auroc(scores, labels), abs=1e-3)


@pytest.mark.parametrize(("length", "tile", "overlap"), [(1024, 256, 32), (512, 256, 32), (300, 256, 0), (100, 256, 32), (256, 256, 32)])
def test_tile_origins_cover_with_overlap(length: int, tile: int, overlap: int) -> None:
    origins = tile_origins(length, tile, overlap)
    covered = np.zeros(max(length, tile), bool)
    for o in origins:
        covered[o:o + tile] = True
    assert covered[:length].all()
    assert origins[0] == 0 and all(o + tile <= max(length, tile) for o in origins)
    assert all(b - a <= tile - overlap for a, b in zip(origins, origins[1:]))


def test_nuisance_probe_reports_each_nuisance_and_restores_the_generator() -> None:
    import importlib

    from models.evaluate import MODELS_DIR
    from models.nuisance_probe import probe

    if not (MODELS_DIR / "empty_container" / "model.onnx").exists():
        pytest.skip("empty_container is not shipped")
    module = importlib.import_module("models.generators.empty_container")
    before = module.sample_nuisance
    rows = probe("empty_container", MODELS_DIR / "empty_container", 2, ["none", "blur_sigma"])
    assert module.sample_nuisance is before
    assert [r["nuisance"] for r in rows] == ["none", "blur_sigma"]
    assert all(0.0 <= float(r["normal_mean"]) <= 1.0 and 0.0 <= float(r["image_auroc"]) <= 1.0 for r in rows)


def test_shape_probe_reports_each_shape_and_restores_the_generator() -> None:
    import importlib

    from models.evaluate import MODELS_DIR
    from models.generators.common import SHAPES_HELDOUT, SHAPES_TRAIN
    from models.shape_probe import probe

    if not (MODELS_DIR / "empty_container" / "model.onnx").exists():
        pytest.skip("empty_container is not shipped")
    module = importlib.import_module("models.generators.empty_container")
    before = module.shapes_for
    rows = probe("empty_container", MODELS_DIR / "empty_container", 2)
    assert module.shapes_for is before
    assert rows[0]["shape"] == "(normal)"
    shapes = [r["shape"] for r in rows[1:]]
    assert set(shapes) <= set(SHAPES_TRAIN + SHAPES_HELDOUT) and len(shapes) >= 5
    assert [r["held_out_shape"] for r in rows[1:]] == [s in SHAPES_HELDOUT for s in shapes]


def test_independent_split_scores_the_blind_set_and_writes_it_beside_the_held_out_figures(tmp_path) -> None:
    import shutil

    from edge.inference.card import load_card
    from models.evaluate import MODELS_DIR, evaluate, update_card
    from models.independent_models import render
    from models.train.specs import SPECS

    shipped = MODELS_DIR / "empty_container"
    if not (shipped / "model.onnx").exists():
        pytest.skip("empty_container is not shipped")
    spec = SPECS["empty_container"]
    clean, clean_mask = render(spec, 0, False)
    dirty, dirty_mask = render(spec, 0, True)
    assert clean.shape == dirty.shape and clean.shape[0] == spec.native_size[0] and clean.dtype == np.uint8
    assert not clean_mask.any() and dirty_mask.any()

    folder = tmp_path / "empty_container"
    shutil.copytree(shipped, folder)
    before = load_card(folder)
    res = evaluate("empty_container", 2, 2, folder, "independent")
    assert res["split"] == "independent" and res["n_normal"] == 2 and res["n_anomalous"] == 2
    assert 0.0 <= float(res["image_auroc"]) <= 1.0
    update_card("empty_container", res, folder)
    after = load_card(folder)
    assert after.metrics.independent is not None
    assert after.metrics.independent.clean_flagged == res["fpr_at_threshold"]
    assert "models/independent/container_xray.py" in after.metrics.independent.data
    assert after.metrics.image_auroc == before.metrics.image_auroc  # the held-out figures stay as they were
    assert after.threshold == before.threshold


def test_independent_cargo_images_come_at_the_scanners_native_height_and_depth() -> None:
    from models.independent_models import render
    from models.train.specs import SPECS

    spec = SPECS["cargo_xray"]
    clean, clean_mask = render(spec, 3, False)
    dirty, dirty_mask = render(spec, 3, True)
    assert clean.dtype == np.uint16 and clean.shape == dirty.shape == spec.native_size_for(300_003)
    assert not clean_mask.any() and dirty_mask.any()
    assert (clean != dirty).any()


def test_independent_split_says_when_a_kind_has_no_blind_generator(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from models import independent_models
    from models.evaluate import main

    monkeypatch.delitem(independent_models.RENDERERS, "cargo_xray")
    assert main(["cargo_xray", "--split", "independent", "--normal", "1", "--anomalous", "1"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line == {"model": "cargo_xray", "split": "independent", "error": "no independent generator for this image kind"}


def test_independent_fit_fits_on_clean_blind_images_and_scores_others() -> None:
    from edge.fitting import FitOptions
    from models.independent_fit import run

    res = run("empty_container", 10, 2, 2, FitOptions(method="knn"))
    assert res["method"] == "knn" and res["fit_images"] == 10
    assert res["n_normal"] == 2 and res["n_anomalous"] == 2
    assert 0.0 <= float(res["image_auroc"]) <= 1.0  # type: ignore[arg-type]
    assert float(res["threshold"]) > 0  # type: ignore[arg-type]
    assert "models/independent/container_xray.py" in str(res["data"])


def test_site_fit_on_the_own_generator_keeps_every_score_for_choosing_a_rule(tmp_path: Path) -> None:
    from models.site_fit import main

    out = tmp_path / "runs.jsonl"
    assert main(["empty_container", "--fit", "10", "--normal", "2", "--anomalous", "2", "--method", "knn",
                 "--json", str(out)]) == 0
    res = json.loads(out.read_text().splitlines()[-1])
    assert res["source"] == "own generator" and res["method"] == "knn" and res["fit_images"] == 10
    scores = res["scores"]
    assert len(scores["normal"]) == 2 and len(scores["anomalous"]) == 2
    assert len(scores["oof_clean"]) == 10 and len(scores["oof_probed"]) == 10
    assert res["clean_flagged"] == sum(s >= res["threshold"] for s in scores["normal"]) / 2


def test_independent_fit_can_calibrate_the_shipped_model_on_the_clean_images_instead() -> None:
    from edge.fitting import FitOptions
    from models.independent_fit import run

    res = run("empty_container", 20, 2, 2, FitOptions(), calibrate=True, n_finds=3)
    assert res["calibrated_on"] == 20 and res["n_normal"] == 2 and res["n_anomalous"] == 2
    assert res["card_threshold"] != res["threshold"]  # the site's threshold, not the card's
    assert 0.0 <= float(res["clean_flagged"]) <= 1.0  # type: ignore[arg-type]
    finds = res["finds"]  # the lane's finds came into the calibrated threshold, never raising it
    assert finds["finds"] == 3 and len(finds["scores"]) == 3  # type: ignore[index]
    assert finds["floor"] <= res["threshold"] <= finds["rule"] or res["threshold"] == finds["rule"]  # type: ignore[index]
    assert set(res["at_rule"]) == {"normal_flagged", "anomalous_flagged"}  # type: ignore[arg-type]
