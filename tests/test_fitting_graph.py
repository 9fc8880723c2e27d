"""The fitted graph computes what the statistics say, the backbone is what its script makes, PaDiM fits aligned views."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
import pytest

from edge.fitting import FitOptions, fit_model
from edge.fitting.features import BACKBONE_DIR, load_backbone
from edge.fitting.gaussian import FeatureSums, fit_per_position, fit_shared
from edge.fitting.graph import ANOMALY_MAP, SCORE, build_head
from edge.fitting.images import FitInputError
from edge.fitting.memory_bank import greedy_coreset
from edge.fitting.threshold import choose_thresholds
from edge.inference.core import Detector


def run_head(model: object, feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])  # type: ignore[attr-defined]
    score, amap = sess.run([SCORE, ANOMALY_MAP], {"patch_features": feats})
    return score, amap


def correlated_features(rng: np.random.Generator, n: int, c: int = 6, h: int = 8, w: int = 10) -> np.ndarray:
    mix = rng.normal(size=(c, c))
    base = rng.normal(size=(n, h, w, c)) @ mix.T + rng.normal(size=c)
    return base.transpose(0, 3, 1, 2).astype(np.float32)


@pytest.mark.parametrize("method", ["gaussian", "padim"])
def test_head_equals_numpy_mahalanobis(method: str) -> None:
    rng = np.random.default_rng(1)
    train = correlated_features(rng, 30)
    gaussian = fit_shared(FeatureSums.of(train)) if method == "gaussian" else fit_per_position(train)
    test = correlated_features(rng, 3) + rng.normal(0, 2, size=(3, 6, 8, 10)).astype(np.float32)
    score, amap = run_head(build_head(method, gaussian, (6, 8, 10), smooth_sigma=0.0), test)
    expected = gaussian.distance(test.astype(np.float64))
    np.testing.assert_allclose(amap, expected, rtol=2e-4, atol=2e-4)
    np.testing.assert_allclose(score, expected.reshape(3, -1).max(1), rtol=2e-4)


def test_knn_head_equals_brute_force_nearest_distance() -> None:
    rng = np.random.default_rng(2)
    train = correlated_features(rng, 20)
    gaussian = fit_shared(FeatureSums.of(train))
    z_train = (train.transpose(0, 2, 3, 1).reshape(-1, 6) - gaussian.mean) @ gaussian.whiten.T
    bank = greedy_coreset(z_train.astype(np.float32), 64, rng)
    test = correlated_features(rng, 2)
    _, amap = run_head(build_head("knn", gaussian, (6, 8, 10), bank, smooth_sigma=0.0), test)
    z_test = (test.transpose(0, 2, 3, 1).reshape(-1, 6) - gaussian.mean) @ gaussian.whiten.T
    nearest = np.sqrt(((z_test[:, None, :] - bank[None]) ** 2).sum(-1).min(1)).reshape(2, 8, 10)
    np.testing.assert_allclose(amap[:, 0], nearest, rtol=1e-3, atol=1e-3)


def test_coreset_covers_every_point_better_than_random() -> None:
    rng = np.random.default_rng(3)
    points = np.concatenate([rng.normal(0, 1, (2000, 4)), rng.normal(8, 0.1, (5, 4))]).astype(np.float32)
    bank = greedy_coreset(points, 50, rng)
    assert np.sqrt(((points[:, None] - bank[None]) ** 2).sum(-1).min(1)).max() < 2.0
    assert (np.linalg.norm(bank - 8, axis=1) < 1).any()  # the rare cluster is kept


def test_thresholds_follow_the_stated_rule() -> None:
    scores = np.arange(1.0, 101.0)
    thr = choose_thresholds(scores, np.arange(1000.0), quantile=0.99, margin=1.0, pixel_quantile=0.999)
    q, med = np.quantile(scores, 0.99), np.median(scores)
    assert thr.image == pytest.approx(q + (q - med))
    assert thr.pixel <= thr.image


def _make_backbone_module() -> object:
    spec = importlib.util.spec_from_file_location("make_backbone", BACKBONE_DIR / "make_backbone.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_backbone_is_what_its_script_makes() -> None:
    rebuilt = _make_backbone_module().build()  # type: ignore[attr-defined]
    shipped = (BACKBONE_DIR / "model.onnx").read_bytes()
    meta = json.loads((BACKBONE_DIR / "backbone.json").read_text())
    assert hashlib.sha256(shipped).hexdigest() == meta["sha256"]
    assert len(shipped) < 20 * 1024 * 1024
    # Same graph, node for node; the filter weights may differ in the last float32 bit, because
    # numpy's exp/cos can round differently from one release (or CPU) to the next.
    original = onnx.load_from_string(shipped)
    assert [(n.op_type, list(n.input), list(n.output), list(n.attribute)) for n in rebuilt.graph.node] == [
        (n.op_type, list(n.input), list(n.output), list(n.attribute)) for n in original.graph.node]
    assert [i.name for i in rebuilt.graph.initializer] == [i.name for i in original.graph.initializer]
    for a, b in zip(rebuilt.graph.initializer, original.graph.initializer):
        np.testing.assert_allclose(numpy_helper.to_array(a), numpy_helper.to_array(b), rtol=1e-6, atol=1e-9)


def test_backbone_variant_with_line_channels_finds_a_thin_line(tmp_path: Path) -> None:
    """A compared variant (not shipped) goes to its own folder, loads like the shipped one, and its
    dark-line channel answers a 1-px dark line on noise where no other pixel does."""
    module = _make_backbone_module()
    with pytest.raises(SystemExit):  # a variant never overwrites the shipped backbone
        module.main(["--lines", "0.7:3"])  # type: ignore[attr-defined]
    module.main(["--lines", "0.7:3", "--anisotropic", "--out", str(tmp_path)])  # type: ignore[attr-defined]
    backbone = load_backbone(tmp_path)
    assert backbone.channels == 16 and backbone.meta["version"].endswith("+variant")
    rng = np.random.default_rng(0)
    grey = np.clip(0.5 + rng.normal(0, 0.05, (64, 64)), 0, 1).astype(np.float32)
    grey[:, 40] -= 0.3  # the line, in column 40: stride-4 columns 9-10 see it
    image = np.repeat(grey[None, None], 3, axis=1)
    sess = ort.InferenceSession(backbone.model.SerializeToString(), providers=["CPUExecutionProvider"])
    dark = sess.run(None, {"image": image})[0][0, 14]
    on_line = dark[2:-2, 9:11].min()
    away = np.delete(dark[2:-2], [8, 9, 10, 11], axis=1).max()
    assert on_line > away + 1.0, (on_line, away)


def test_changed_backbone_is_refused(tmp_path: Path) -> None:
    (tmp_path / "backbone.json").write_text((BACKBONE_DIR / "backbone.json").read_text())
    data = bytearray((BACKBONE_DIR / "model.onnx").read_bytes())
    data[-5] ^= 0xFF
    (tmp_path / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(FitInputError, match="refusing a changed backbone"):
        load_backbone(tmp_path)


def test_padim_fits_aligned_colour_views(tmp_path: Path) -> None:
    """A fixed colour camera: the same scene with small shifts, noise and lighting; a stain must stand out."""
    skimage_data = pytest.importorskip("skimage.data")
    scene = cv2.cvtColor(skimage_data.coffee(), cv2.COLOR_RGB2BGR)[:320, 100:420]
    rng = np.random.default_rng(4)

    def view() -> np.ndarray:
        dy, dx = rng.integers(-2, 3, 2)
        shifted = np.roll(scene, (int(dy), int(dx)), axis=(0, 1)).astype(np.float32)
        lit = shifted * rng.uniform(0.93, 1.07) + rng.normal(0, 3, shifted.shape)
        return np.clip(lit, 0, 255).astype(np.uint8)

    (tmp_path / "normal").mkdir()
    for i in range(24):
        cv2.imwrite(str(tmp_path / "normal" / f"{i:02d}.png"), view())
    fit_model(tmp_path / "normal", tmp_path / "model", FitOptions(method="padim", size=128, folds=4),
              write=lambda line: None)
    detector = Detector.load(tmp_path / "model")
    assert (detector.card.input.channels, detector.card.input.height) == (3, 128)
    clean = [detector.infer(view()).score for _ in range(6)]
    stained = []
    for _ in range(6):
        img = view()
        cv2.circle(img, (int(rng.integers(60, 260)), int(rng.integers(60, 260))), 18, (40, 160, 40), -1)
        stained.append(detector.infer(img).score)
    assert min(stained) > max(clean)
