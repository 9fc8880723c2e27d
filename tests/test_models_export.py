"""Exported models: torch/ONNX agreement, shipped cards and hashes, size, a quick quality check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from edge.inference.card import ModelCard, load_card, sha256_file
from models.evaluate import MODELS_DIR, OnnxScorer, auroc
from models.generators.common import seed_for
from models.train.specs import SPECS

SHIPPED = [name for name in SPECS if (MODELS_DIR / name / "model.onnx").exists()]
MAX_BYTES = 20 * 1024 * 1024


@pytest.mark.parametrize(("local_norm", "preblur", "flips", "combine", "scales"), [
    (False, 0.0, 1, "mean", ()), (True, 0.0, 1, "mean", ()), (True, 1.2, 1, "mean", ()), (True, 1.2, 2, "mean", ()),
    (True, 0.0, 4, "mean", ()), (True, 1.2, 4, "min", ()), (True, 1.2, 4, "min", (0.75,))])
@pytest.mark.parametrize("log_input", [False, True])
def test_torch_and_onnx_outputs_agree(tmp_path: Path, log_input: bool, local_norm: bool, preblur: float,
                                      flips: int, combine: str, scales: tuple[float, ...]) -> None:
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    from models.train.export import INPUT_NAME, export_onnx
    from models.train.net import AnomalySegmenter, ExportWrapper

    torch.manual_seed(0)
    net = AnomalySegmenter(1, 16)
    for m in net.modules():  # non-trivial batch-norm statistics, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    wrapper = ExportWrapper(net, log_input, 2.0, 1.5, local_norm=local_norm, in_mean=0.3, in_std=0.2,
                            preblur=preblur, flips=flips, flip_combine=combine, scales=scales).eval()
    path = tmp_path / "model.onnx"
    export_onnx(wrapper, path, 1, 64)
    x = torch.rand(3, 1, 64, 64) * 0.98 + 0.01
    with torch.no_grad():
        t_score, t_map = wrapper(x)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    o_score, o_map = sess.run(["score", "anomaly_map"], {INPUT_NAME: x.numpy()})
    assert o_score.shape == (3,) and o_map.shape == (3, 1, 16, 16)
    np.testing.assert_allclose(o_score, t_score.numpy(), atol=1e-5)
    np.testing.assert_allclose(o_map, t_map.numpy(), atol=1e-5)


def test_local_contrast_norm_cancels_gain_offset_and_smooth_lighting() -> None:
    """What the in-graph normalisation is for: device gain, offset and a smooth illumination
    field barely change what the network sees."""
    torch = pytest.importorskip("torch")
    from models.train.net import LocalContrastNorm

    torch.manual_seed(1)
    lcn = LocalContrastNorm(eps=1e-6)
    scene = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 128, 128), 3, 1, 1)
    yy = torch.linspace(0, 1, 128)[:, None]
    lighting = 0.3 * yy + 0.2 * torch.sin(torch.linspace(0, 3, 128))[None, :]  # smooth, additive (log domain)
    a, b = lcn(scene), lcn(1.7 * scene + 0.4 + lighting)
    inner = (slice(None), slice(None), slice(16, -16), slice(16, -16))
    assert float(a[inner].std()) == pytest.approx(1.0, abs=0.3)
    assert float((a - b)[inner].abs().mean()) < 0.1 * float(a[inner].abs().mean())
    assert float((a - lcn(scene + 0.5 * torch.rand(1, 1, 128, 128)))[inner].abs().mean()) > 0.3  # not constant


def test_at_least_one_model_is_shipped() -> None:
    assert SHIPPED, "no models/<name>/model.onnx found"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_card_is_valid_and_matches_its_file(name: str) -> None:
    folder = MODELS_DIR / name
    card = load_card(folder)
    assert isinstance(card, ModelCard) and card.name == name
    assert card.sha256 == sha256_file(folder / "model.onnx")
    assert (folder / "model.onnx").stat().st_size <= MAX_BYTES
    assert card.metrics.image_auroc is not None and card.metrics.held_out_set
    assert 0.0 < card.threshold < 1.0 and card.pixel_threshold is not None
    graph = onnx.load(str(folder / "model.onnx")).graph
    inp = graph.input[0]
    dims = [d.dim_value or d.dim_param for d in inp.type.tensor_type.shape.dim]
    assert inp.name == card.input.name
    assert dims[1:] == [card.input.channels, card.input.height, card.input.width]
    assert {o.name for o in graph.output} == {o.name for o in card.outputs}
    assert (folder / "README.md").exists()


def _below_target(name: str) -> bool:
    auc = load_card(MODELS_DIR / name).metrics.image_auroc
    return auc is None or auc < 0.95


QUALITY_CASES = [
    pytest.param(name, marks=pytest.mark.xfail(
        reason="card reports held-out image AUROC below the 0.95 target; the model needs more training",
        strict=False)) if _below_target(name) else name
    for name in SHIPPED
]


@pytest.mark.timeout(600)  # cargo_xray: 9 GMAC a tile, minutes on a loaded 2-core machine
@pytest.mark.parametrize("name", QUALITY_CASES)
def test_shipped_model_ranks_fresh_held_out_anomalies_above_normals(name: str) -> None:
    spec = SPECS[name]
    scorer = OnnxScorer(MODELS_DIR / name)
    gen = spec.generator()
    h = spec.work_height * 2  # at most the native height; half of it for the 8-Mpixel under-vehicle images
    w = int(h * spec.native_size[1] / spec.native_size[0])
    scores, labels = [], []
    for i in range(8):  # 8 + 8: with 4 + 4 one clean scan scored 1.0 (by 1.4.0 and 1.5.0 alike) cost 0.25
        for anomalous in (False, True):
            img, mask = gen(seed_for("heldout", 90_000 + i), "heldout", anomalous, h, w)
            scores.append(scorer.score(img).score)
            labels.append(bool(mask.any()))
    assert sum(labels) >= 6
    assert auroc(np.array(scores), np.array(labels)) >= 0.8


def test_card_thresholds_keep_four_significant_digits() -> None:
    """Models whose clean images score near 0 get tiny thresholds; 4 decimals would make them 0."""
    from edge.inference.card import round_threshold

    assert round_threshold(5.749201664e-05) == 5.749e-05
    assert round_threshold(3e-05) > 0.0
    assert round_threshold(0.74441296) == 0.7444
