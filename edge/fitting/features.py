"""The shipped backbone, wrapped as a patch-feature extractor graph for a given input format.

The extractor is the part of the fitted model before the statistics: grey-to-RGB adaptation
(for 1-channel sites), the backbone, and a 3x3 neighbourhood average of the features (each
patch vector then describes its surroundings, as in PatchCore). Fitting runs this very graph
with onnxruntime, and the final model reuses it unchanged, so fitted statistics and deployed
features cannot drift apart.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, compose, helper

from edge.fitting.images import FitInputError

BACKBONE_DIR = Path(__file__).resolve().parents[2] / "models" / "backbone"
PATCH_FEATURES = "patch_features"
INPUT_NAME = "image"


@dataclass(frozen=True)
class Backbone:
    """A verified backbone graph and its metadata (backbone.json)."""

    model: onnx.ModelProto
    meta: dict[str, object]
    folder: Path

    @property
    def stride(self) -> int:
        return int(self.meta["output"]["stride"])  # type: ignore[index]

    @property
    def label(self) -> str:
        return f"{self.meta['name']} {self.meta['version']} (sha256 {str(self.meta['sha256'])[:12]})"


def load_backbone(folder: Path | None = None) -> Backbone:
    """Load model.onnx + backbone.json and refuse a file whose hash differs from the metadata."""
    folder = folder or BACKBONE_DIR
    try:
        meta = json.loads((folder / "backbone.json").read_text(encoding="utf-8"))
        data = (folder / "model.onnx").read_bytes()
    except (OSError, ValueError) as exc:
        raise FitInputError(f"backbone {folder}: cannot read model.onnx/backbone.json: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != meta.get("sha256"):
        raise FitInputError(f"backbone {folder / 'model.onnx'}: SHA-256 {actual} differs from "
                            f"backbone.json ({meta.get('sha256')}); refusing a changed backbone")
    return Backbone(onnx.load_model_from_string(data), meta, folder)


def _small_model(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto],
                 outputs: list[onnx.ValueInfoProto], like: onnx.ModelProto, name: str) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs)
    model = helper.make_model(graph, opset_imports=list(like.opset_import))
    model.ir_version = like.ir_version
    return model


def build_extractor(backbone: Backbone, channels: int, height: int, width: int,
                    shrink: tuple[int, int] = (1, 1)) -> onnx.ModelProto:
    """Graph `image` [N,channels,height,width] -> `patch_features` [N,C,height/(s*sy),width/(s*sx)].

    `shrink` (sy, sx): rows and columns averaged into one pixel before the backbone, inside the
    graph, so a line scan's 4096-px lines are seen at a coarser working resolution (fewer
    backbone pixels per tile) while the core still feeds native tiles.
    """
    src = helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", channels, height, width])
    sy, sx = shrink
    rgb = helper.make_tensor_value_info("rgb", TensorProto.FLOAT, ["N", 3, height // sy, width // sx])
    nodes: list[onnx.NodeProto] = []
    grey = INPUT_NAME
    if (sy, sx) != (1, 1):
        grey = "shrunk"
        nodes.append(helper.make_node("AveragePool", [INPUT_NAME], [grey], kernel_shape=[sy, sx], strides=[sy, sx]))
    nodes.append(helper.make_node("Concat", [grey] * 3, ["rgb"], axis=1) if channels == 1
                 else helper.make_node("Identity", [grey], ["rgb"]))
    adapter = _small_model(nodes, [src], [rgb], backbone.model, "adapt_channels")
    body = compose.add_prefix(backbone.model, "backbone/")
    feats = helper.make_tensor_value_info("backbone/features", TensorProto.FLOAT, ["N", "C", "h", "w"])
    out = helper.make_tensor_value_info(PATCH_FEATURES, TensorProto.FLOAT, ["N", "C", "h", "w"])
    pool = helper.make_node("AveragePool", ["backbone/features"], [PATCH_FEATURES], kernel_shape=[3, 3],
                            strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0)
    neighbourhood = _small_model([pool], [feats], [out], backbone.model, "neighbourhood")
    merged = compose.merge_models(adapter, body, io_map=[("rgb", "backbone/image")])
    return compose.merge_models(merged, neighbourhood, io_map=[("backbone/features", "backbone/features")])


class FeatureExtractor:
    """Runs the extractor graph on float tiles with onnxruntime (CPU, bounded threads)."""

    def __init__(self, model: onnx.ModelProto, threads: int = 2, batch: int = 8) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.enable_cpu_mem_arena = False
        self.session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        self.batch = batch

    def __call__(self, tiles: list[np.ndarray]) -> np.ndarray:
        """Tiles [C,h,w] float32 -> patch features [T,C',h',w'] float32."""
        outs = []
        for i in range(0, len(tiles), self.batch):
            x = np.ascontiguousarray(np.stack(tiles[i:i + self.batch]), dtype=np.float32)
            outs.append(self.session.run([PATCH_FEATURES], {INPUT_NAME: x})[0])
        return np.concatenate(outs)
