"""Recovering a segmenter from its exported graph, and the graph's test-time mirroring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from models.train.export import INPUT_NAME, export_onnx  # noqa: E402
from models.train.from_onnx import model_folder_weights, segmenter_from_onnx, segmenters_from_onnx  # noqa: E402
from models.train.net import AnomalySegmenter, ExportWrapper  # noqa: E402


def _trained_like(width: int) -> AnomalySegmenter:
    torch.manual_seed(3)
    net = AnomalySegmenter(1, width)
    for m in net.modules():  # batch norms that are not the identity, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net.eval()


def test_segmenter_recovered_from_onnx_computes_what_the_graph_computes(tmp_path: Path) -> None:
    wrapper = ExportWrapper(_trained_like(16), True, local_norm=True, in_mean=0.3, in_std=0.2, preblur=1.2).eval()
    path = tmp_path / "model.onnx"
    export_onnx(wrapper, path, 1, 64)
    again = ExportWrapper(segmenter_from_onnx(path, 16), True, local_norm=True, in_mean=0.3, in_std=0.2,
                          preblur=1.2).eval()
    x = torch.rand(2, 1, 64, 64) * 0.98 + 0.01
    with torch.no_grad():
        (s1, m1), (s2, m2) = wrapper(x), again(x)
    np.testing.assert_allclose(s2.numpy(), s1.numpy(), atol=1e-5)
    np.testing.assert_allclose(m2.numpy(), m1.numpy(), atol=1e-5)
    o_score, o_map = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        ["score", "anomaly_map"], {INPUT_NAME: x.numpy()})
    np.testing.assert_allclose(m2.numpy(), o_map, atol=1e-5)


def test_segmenter_recovered_from_a_graph_that_runs_it_at_two_scales(tmp_path: Path) -> None:
    """With `scales` the graph holds the segmenter's convolutions once per scale; one copy comes back."""
    kwargs = dict(local_norm=True, in_mean=0.3, in_std=0.2, preblur=1.2, flips=4, flip_combine="min", scales=(0.75,))
    wrapper = ExportWrapper(_trained_like(16), True, **kwargs).eval()
    path = tmp_path / "model.onnx"
    export_onnx(wrapper, path, 1, 64)
    again = ExportWrapper(segmenter_from_onnx(path, 16), True, **kwargs).eval()
    x = torch.rand(2, 1, 64, 64) * 0.98 + 0.01
    with torch.no_grad():
        (s1, m1), (s2, m2) = wrapper(x), again(x)
    np.testing.assert_allclose(s2.numpy(), s1.numpy(), atol=1e-5)
    np.testing.assert_allclose(m2.numpy(), m1.numpy(), atol=1e-5)


def test_partners_come_back_from_the_graph_in_order(tmp_path: Path) -> None:
    """A wrapper with a partner segmenter (its own pre-blur): both sets of weights are recovered."""
    own, other = _trained_like(16), AnomalySegmenter(1, 16).eval()
    kwargs = dict(local_norm=True, in_mean=0.3, in_std=0.2, flips=4, flip_combine="min")
    wrapper = ExportWrapper(own, True, preblur=1.2, scales=(0.75,), **kwargs,
                            partners=[ExportWrapper(other, True, preblur=2.0, **kwargs)]).eval()
    path = tmp_path / "model.onnx"
    export_onnx(wrapper, path, 1, 64)
    nets = segmenters_from_onnx(path, 16)
    assert len(nets) == 2
    again = ExportWrapper(nets[0], True, preblur=1.2, scales=(0.75,), **kwargs,
                          partners=[ExportWrapper(nets[1], True, preblur=2.0, **kwargs)]).eval()
    x = torch.rand(2, 1, 64, 64) * 0.98 + 0.01
    with torch.no_grad():
        (s1, m1), (s2, m2) = wrapper(x), again(x)
        alone = ExportWrapper(own, True, preblur=1.2, scales=(0.75,), **kwargs).eval()(x)[1]
    np.testing.assert_allclose(m2.numpy(), m1.numpy(), atol=1e-5)
    assert bool((m1 <= alone + 1e-6).all())  # the partner can only lower the map
    o_map = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        ["anomaly_map"], {INPUT_NAME: x.numpy()})[0]
    np.testing.assert_allclose(o_map, m1.numpy(), atol=1e-5)
    fewer = ExportWrapper(AnomalySegmenter(1, 16), True, preblur=1.2, **kwargs).eval()
    model_folder_weights(tmp_path, fewer, 16)  # re-exporting without the partner takes the first segmenter
    np.testing.assert_allclose(fewer.net.stem[0][0].weight.detach().numpy(), nets[0].stem[0][0].weight.detach().numpy())
    more = ExportWrapper(AnomalySegmenter(1, 16), True, preblur=1.2, **kwargs, partners=[
        ExportWrapper(AnomalySegmenter(1, 16), True, preblur=2.0, **kwargs) for _ in range(2)])
    with pytest.raises(ValueError, match="holds 2 segmenter\\(s\\), the model needs 3"):
        model_folder_weights(tmp_path, more, 16)


def test_a_smaller_copy_must_agree_too() -> None:
    """The scaled copy's map enters the per-pixel minimum: never above the full-size map alone."""
    net = _trained_like(16)
    x = torch.rand(2, 1, 64, 64) * 0.98 + 0.01
    plain = ExportWrapper(net, True, local_norm=True, in_mean=0.3, in_std=0.2, preblur=1.2).eval()
    scaled = ExportWrapper(net, True, local_norm=True, in_mean=0.3, in_std=0.2, preblur=1.2, scales=(0.75,)).eval()
    with torch.no_grad():
        p_full = plain.probability(plain.prepare(x))
        p_small = scaled.scaled_probability(x, 0)
        _, m_plain = plain(x)
        _, m_scaled = scaled(x)
    assert p_small.shape == p_full.shape
    expected = torch.nn.functional.avg_pool2d(torch.minimum(p_full, p_small), 3, stride=1, padding=1,
                                              count_include_pad=False)
    np.testing.assert_allclose(m_scaled.numpy(), expected.numpy(), atol=1e-6)
    assert not torch.allclose(m_scaled, m_plain)
    with pytest.raises(ValueError, match="scales need"):
        ExportWrapper(net, scales=(0.75,))


def test_recovery_refuses_a_graph_of_another_width(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    export_onnx(ExportWrapper(_trained_like(16)).eval(), path, 1, 64)
    with pytest.raises(ValueError, match="width-32"):
        segmenter_from_onnx(path, 32)


@pytest.mark.parametrize("combine", ["mean", "min"])
def test_mirrored_copies_are_mirrored_back_and_combined(combine: str) -> None:
    net = _trained_like(16)
    z = torch.randn(3, 1, 64, 64)
    with torch.no_grad():
        views = [torch.sigmoid(net(z)), torch.flip(torch.sigmoid(net(torch.flip(z, (-1,)))), (-1,)),
                 torch.flip(torch.sigmoid(net(torch.flip(z, (-2,)))), (-2,)),
                 torch.flip(torch.sigmoid(net(torch.flip(z, (-2, -1)))), (-2, -1))]
        got = ExportWrapper(net, flips=4, flip_combine=combine).eval().probability(z)
    want = torch.stack(views).amin(0) if combine == "min" else torch.stack(views).mean(0)
    assert float((views[0] - views[1]).abs().max()) > 1e-3  # the net is not mirror-symmetric: the test can fail
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-6)


def test_mirroring_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="flips"):
        ExportWrapper(AnomalySegmenter(1, 16), flips=3)
    with pytest.raises(ValueError, match="flip_combine"):
        ExportWrapper(AnomalySegmenter(1, 16), flips=2, flip_combine="max")
