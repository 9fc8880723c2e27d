"""PatchCore head, the two-tap Lite0 extractor, and the pick between heads by out-of-fold quality."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from edge.fitting import FitOptions, fit_model
from edge.fitting.features import BACKBONE_DIR, PATCH_FEATURES, build_extractor, load_backbone
from edge.fitting.folds import FoldScores, pick
from edge.fitting.graph import ANOMALY_MAP, SCORE, build_head
from edge.fitting.images import FitInputError
from edge.fitting.patchcore import fit_patch_bank
from edge.inference.core import Detector


def _session(model: object) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])  # type: ignore[attr-defined]


def _vectors(feats: np.ndarray) -> np.ndarray:
    return feats.transpose(0, 2, 3, 1).reshape(-1, feats.shape[1])


@pytest.mark.parametrize(("neighbours", "dims"), [(1, 0), (3, 0), (1, 4)])
def test_patchcore_head_equals_brute_force_knn(neighbours: int, dims: int) -> None:
    rng = np.random.default_rng(5)
    train = [rng.normal(size=(2, 6, 8, 10)).astype(np.float32) for _ in range(5)]
    pb = fit_patch_bank(train, 0.2, 100, rng, projection_dims=dims, neighbours=neighbours)
    assert len(pb.bank) == 100 and pb.bank.shape[1] == (dims or 6)
    test = (rng.normal(size=(2, 6, 8, 10)) * 1.5).astype(np.float32)
    score, amap = _session(build_head("patchcore", None, (6, 8, 10), pb.bank, 0.0, projection=pb.projection,
                                      neighbours=neighbours)).run([SCORE, ANOMALY_MAP], {PATCH_FEATURES: test})
    q = _vectors(test) @ pb.projection.T if pb.projection is not None else _vectors(test)
    d2 = ((q[:, None, :] - pb.bank[None]) ** 2).sum(-1)
    expected = np.sqrt(np.sort(d2, axis=1)[:, :neighbours].mean(1)).reshape(2, 8, 10)
    np.testing.assert_allclose(amap[:, 0], expected, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(score, expected.reshape(2, -1).max(1), rtol=1e-3)


def test_coreset_keeps_a_rare_kind_of_patch_and_respects_the_cap() -> None:
    rng = np.random.default_rng(6)
    common = rng.normal(0, 1, (40, 8, 16, 16)).astype(np.float32)
    rare = np.full((1, 8, 2, 2), 9.0, np.float32)
    feats = [common[i:i + 1] for i in range(40)] + [rare]
    pb = fit_patch_bank(feats, 0.05, 300, rng)
    assert len(pb.bank) == 300  # 5 % of 10,244 patches is 512, capped at 300
    assert (np.linalg.norm(pb.bank - 9.0, axis=1) < 1e-3).any()


def test_lite0_extractor_pools_upsamples_and_concatenates_both_taps() -> None:
    backbone = load_backbone(name="lite0")
    assert (backbone.stride, backbone.channels) == (8, 152)
    extractor = _session(build_extractor(backbone, 1, 64, 96))
    rng = np.random.default_rng(7)
    grey = rng.uniform(0, 1, (1, 1, 64, 96)).astype(np.float32)
    (feats,) = extractor.run([PATCH_FEATURES], {"image": grey})
    s8, s16 = _session(backbone.model).run(["features_s8", "features_s16"], {"image": np.repeat(grey, 3, axis=1)})
    assert feats.shape == (1, 152, 8, 12)

    def pool(f: np.ndarray) -> np.ndarray:
        return np.stack([cv2.blur(c, (3, 3), borderType=cv2.BORDER_CONSTANT) for c in f[0]]) / np.stack(
            [cv2.blur(np.ones_like(c), (3, 3), borderType=cv2.BORDER_CONSTANT) for c in f[0]])

    np.testing.assert_allclose(feats[0, :40], pool(s8), rtol=1e-4, atol=1e-4)
    coarse = pool(s16)
    up = np.stack([cv2.resize(c, (12, 8), interpolation=cv2.INTER_LINEAR) for c in coarse])
    np.testing.assert_allclose(feats[0, 40:], up, rtol=1e-4, atol=1e-4)


def test_changed_lite0_backbone_is_refused(tmp_path: Path) -> None:
    (tmp_path / "efficientnet_lite0.json").write_text((BACKBONE_DIR / "efficientnet_lite0.json").read_text())
    data = bytearray((BACKBONE_DIR / "efficientnet_lite0.onnx").read_bytes())
    data[-5] ^= 0xFF
    (tmp_path / "efficientnet_lite0.onnx").write_bytes(bytes(data))
    with pytest.raises(FitInputError, match="refusing a changed backbone"):
        load_backbone(tmp_path, "lite0")
    with pytest.raises(FitInputError, match="unknown"):
        load_backbone(name="resnet")


def test_pick_takes_the_best_head_and_a_cheaper_one_on_a_tie() -> None:
    clean = np.arange(10.0)

    def scores(probed: list[float]) -> FoldScores:
        return FoldScores(clean, np.array(probed), np.zeros(1))

    assert pick({"gaussian": scores([5.0] * 10), "knn": scores([20.0] * 10)}) == "knn"
    assert pick({"gaussian": scores([20.0] * 10), "knn": scores([20.0] * 10)}) == "gaussian"


def test_auto_fit_writes_the_picked_head_with_its_figures(tmp_path: Path) -> None:
    """Lite0 + --method auto on a small striped surface: one graph, the pick and the figures on the card."""
    rng = np.random.default_rng(8)
    (tmp_path / "normal").mkdir()
    y, x = np.mgrid[:96, :96]
    for i in range(12):
        stripes = 128 + 60 * np.sin((x + rng.uniform(0, 12)) * 2 * np.pi / 12) + rng.normal(0, 6, (96, 96))
        cv2.imwrite(str(tmp_path / "normal" / f"{i:02d}.png"), np.clip(stripes, 0, 255).astype(np.uint8))
    lines: list[str] = []
    result = fit_model(tmp_path / "normal", tmp_path / "model",
                       FitOptions(backbone="lite0", method="auto", tile=96, folds=3), write=lines.append)
    assert set(result.quality) == {"gaussian", "knn", "patchcore"}
    assert result.method in result.quality
    assert max(result.quality.values()) - result.quality[result.method] <= 0.01 + 1e-9
    assert any(line.startswith("[pick] ") for line in lines)
    assert any(line.startswith("[folds patchcore] 3/3") for line in lines)
    card = Detector.load(tmp_path / "model").card
    assert "out-of-fold probe AUROC" in card.description and "efficientnet_lite0" in card.description
    assert card.outputs[1].shape == "[N,1,12,12]"
    clean = 128 + 60 * np.sin((x + 3.0) * 2 * np.pi / 12)
    blotched = clean.copy()
    blotched[30:60, 30:60] = 30.0
    detector = Detector.load(tmp_path / "model")
    assert detector.infer(blotched.astype(np.uint8)).score > detector.infer(clean.astype(np.uint8)).score
