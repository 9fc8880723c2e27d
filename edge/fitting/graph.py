"""ONNX assembly of the fitted model: extractor -> distance map -> smoothing -> image score.

The head takes `patch_features` [N,C,h,w] and returns
  `anomaly_map` [N,1,h,w]: Mahalanobis-type distance of each patch to normal, Gaussian-smoothed;
  `score`       [N]:       the maximum of `anomaly_map` (one defect anywhere flags the image).
Four heads, one per fitting method:
  knn       1x1 conv whitening, then a 1x1 conv against the memory bank gives all squared
            distances at once (|z|^2 - 2 z.b + |b|^2); the minimum over the bank is kept;
  patchcore the same nearest-patch distance on the raw features (optionally randomly
            projected by a 1x1 conv), against a larger coreset bank; with k > 1 neighbours
            the mean of the k smallest (TopK) instead of the minimum;
  gaussian  1x1 conv whitening; the squared norm is the Mahalanobis distance;
  padim     per-position whitening as one batched MatMul over positions.
Fitting scores held-out images with the same head graph (through onnxruntime), so the
thresholds are chosen on exactly the numbers the deployed model will produce.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, compose, helper, numpy_helper

from edge.fitting.features import PATCH_FEATURES
from edge.fitting.gaussian import Gaussian

SCORE = "score"
ANOMALY_MAP = "anomaly_map"


def _gauss_kernel(sigma: float) -> np.ndarray:
    radius = max(1, round(3 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-(x**2) / (2 * sigma**2))
    k = np.outer(g, g)
    return (k / k.sum()).astype(np.float32)[None, None]


class _Head:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], out: str, **attrs: object) -> str:
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out


def _whiten_conv(head: _Head, x: str, gaussian: Gaussian) -> str:
    w = gaussian.whiten.astype(np.float32)
    bias = -(w @ gaussian.mean.astype(np.float32))
    return head.op("Conv", [x, head.const("whiten_w", w[:, :, None, None]), head.const("whiten_b", bias)], "z")


def _nearest_distance(head: _Head, z: str, bank: np.ndarray, neighbours: int = 1) -> str:
    """Distance of each patch vector `z` [N,D,h,w] to its nearest bank row(s) [M,D]: [N,1,h,w].

    |z - b|^2 = |z|^2 + (|b|^2 - 2 z.b); the bracket is one 1x1 Conv (weights -2b, bias |b|^2),
    and |z|^2 is the same for every b, so it is added after the minimum over the bank, not to
    the [N,M,h,w] tensor (half the memory traffic of the widest step).
    """
    zz = head.op("ReduceSumSquare", [z], "z_sq", axes=[1], keepdims=1)
    bank = bank.astype(np.float32)
    cross = head.op("Conv", [z, head.const("bank_w", (-2.0 * bank)[:, :, None, None]),
                             head.const("bank_sq", (bank**2).sum(1))], "bank_terms")
    k = min(neighbours, len(bank))
    if k <= 1:
        nearest = head.op("ReduceMin", [cross], "nearest_terms", axes=[1], keepdims=1)
    else:
        smallest = helper.make_node("TopK", [cross, head.const("k", np.array([k], np.int64))],
                                    ["nearest_k_terms", "nearest_k_index"], axis=1, largest=0, sorted=0)
        head.nodes.append(smallest)
        nearest = head.op("ReduceMean", ["nearest_k_terms"], "nearest_terms", axes=[1], keepdims=1)
    d2 = head.op("Add", [zz, nearest], "nearest_d2")
    return head.op("Sqrt", [head.op("Relu", [d2], "nearest_d2_pos")], "distance")


def _knn_distance(head: _Head, gaussian: Gaussian, bank: np.ndarray) -> str:
    return _nearest_distance(head, _whiten_conv(head, PATCH_FEATURES, gaussian), bank)


def _patchcore_distance(head: _Head, bank: np.ndarray, projection: np.ndarray | None, neighbours: int) -> str:
    z = PATCH_FEATURES
    if projection is not None:
        z = head.op("Conv", [z, head.const("projection_w", projection.astype(np.float32)[:, :, None, None])],
                    "projected")
    return _nearest_distance(head, z, bank, neighbours)


def _gaussian_distance(head: _Head, gaussian: Gaussian) -> str:
    z = _whiten_conv(head, PATCH_FEATURES, gaussian)
    return head.op("Sqrt", [head.op("ReduceSumSquare", [z], "maha_d2", axes=[1], keepdims=1)], "distance")


def _padim_distance(head: _Head, gaussian: Gaussian, shape: tuple[int, int, int]) -> str:
    c, h, w = shape
    flat = head.op("Reshape", [PATCH_FEATURES, head.const("shape_ncp", np.array([0, c, h * w], np.int64))], "f_ncp")
    per_pos = head.op("Transpose", [flat], "f_pnc", perm=[2, 0, 1])
    centred = head.op("Sub", [per_pos, head.const("pos_mean", gaussian.mean[:, None, :].astype(np.float32))], "f_centred")
    # z[p] = W[p] (f - m[p]); as row vectors: (f - m) @ W[p]^T
    wt = np.ascontiguousarray(gaussian.whiten.transpose(0, 2, 1)).astype(np.float32)
    z = head.op("MatMul", [centred, head.const("pos_whiten_t", wt)], "z_pnc")
    d2 = head.op("ReduceSumSquare", [z], "d2_pn", axes=[2], keepdims=0)
    d2_np = head.op("Transpose", [d2], "d2_np", perm=[1, 0])
    shaped = head.op("Reshape", [d2_np, head.const("shape_n1hw", np.array([-1, 1, h, w], np.int64))], "maha_d2")
    return head.op("Sqrt", [shaped], "distance")


def build_head(method: str, gaussian: Gaussian | None, feature_shape: tuple[int, int, int],
               bank: np.ndarray | None = None, smooth_sigma: float = 1.0,
               like: onnx.ModelProto | None = None, projection: np.ndarray | None = None,
               neighbours: int = 1) -> onnx.ModelProto:
    """Head graph `patch_features` [N,C,h,w] -> (`score` [N], `anomaly_map` [N,1,h,w])."""
    head = _Head()
    if method in ("knn", "patchcore") and bank is None:
        raise ValueError(f"{method} head needs a memory bank")
    if method != "patchcore" and gaussian is None:
        raise ValueError(f"{method} head needs a Gaussian")
    if method == "patchcore":
        dist = _patchcore_distance(head, bank, projection, neighbours)  # type: ignore[arg-type]
    elif method == "knn":
        dist = _knn_distance(head, gaussian, bank)  # type: ignore[arg-type]
    elif method == "gaussian":
        dist = _gaussian_distance(head, gaussian)  # type: ignore[arg-type]
    elif method == "padim":
        dist = _padim_distance(head, gaussian, feature_shape)  # type: ignore[arg-type]
    else:
        raise ValueError(f"unknown method {method!r}")
    if smooth_sigma > 0:
        kernel = _gauss_kernel(smooth_sigma)
        r = kernel.shape[-1] // 2
        padded = head.op("Pad", [dist, head.const("smooth_pads", np.array([0, 0, r, r, 0, 0, r, r], np.int64))],
                         "distance_padded", mode="reflect")
        head.op("Conv", [padded, head.const("smooth_w", kernel)], ANOMALY_MAP)
    else:
        head.op("Identity", [dist], ANOMALY_MAP)
    head.op("ReduceMax", [ANOMALY_MAP], SCORE, axes=[1, 2, 3], keepdims=0)
    c, h, w = feature_shape
    graph = helper.make_graph(
        head.nodes, f"kouan_fitted_{method}_head",
        [helper.make_tensor_value_info(PATCH_FEATURES, TensorProto.FLOAT, ["N", c, h, w])],
        [helper.make_tensor_value_info(SCORE, TensorProto.FLOAT, ["N"]),
         helper.make_tensor_value_info(ANOMALY_MAP, TensorProto.FLOAT, ["N", 1, h, w])],
        head.inits,
    )
    opsets = list(like.opset_import) if like is not None else [helper.make_opsetid("", 17)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="kouan.model_fit")
    model.ir_version = like.ir_version if like is not None else 8
    return model


def assemble(extractor: onnx.ModelProto, head: onnx.ModelProto, doc: str) -> onnx.ModelProto:
    """One graph `image` -> (`score`, `anomaly_map`), checked by the ONNX checker."""
    model = compose.merge_models(extractor, head, io_map=[(PATCH_FEATURES, PATCH_FEATURES)],
                                 producer_name="kouan.model_fit", doc_string=doc)
    onnx.checker.check_model(model, full_check=True)
    return model
