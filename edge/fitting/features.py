"""A shipped backbone, wrapped as a patch-feature extractor graph for a given input format.

The extractor is the part of the fitted model before the statistics: grey-to-RGB adaptation
(for 1-channel sites), the backbone, and a 3x3 neighbourhood average of the features (each
patch vector then describes its surroundings, as in PatchCore). A backbone with two taps
(EfficientNet-Lite0: strides 8 and 16) has each tap pooled, the coarser one upsampled
bilinearly to the finer grid, and both concatenated. Fitting runs this very graph with
onnxruntime, and the final model reuses it unchanged, so fitted statistics and deployed
features cannot drift apart.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, compose, helper, numpy_helper

from edge.fitting.images import FitInputError

BACKBONE_DIR = Path(__file__).resolve().parents[2] / "models" / "backbone"
PATCH_FEATURES = "patch_features"
INPUT_NAME = "image"
# backbone name -> (graph file, metadata file) inside the backbone folder
BACKBONE_FILES = {
    "filterbank": ("model.onnx", "backbone.json"),
    "lite0": ("efficientnet_lite0.onnx", "efficientnet_lite0.json"),
}


@dataclass(frozen=True)
class Tap:
    """One feature output of a backbone graph."""

    name: str
    stride: int
    channels: int


@dataclass(frozen=True)
class Backbone:
    """A verified backbone graph and its metadata (backbone.json)."""

    model: onnx.ModelProto
    meta: dict[str, object]
    folder: Path

    @property
    def taps(self) -> list[Tap]:
        """Feature outputs, finest first (backbone.json's `output`, or the card's `outputs` list)."""
        outs: list[dict[str, object]] = self.meta.get("outputs") or [self.meta["output"]]  # type: ignore[assignment]
        taps = [Tap(str(o["name"]), int(o["stride"]), int(o["channels"])) for o in outs]  # type: ignore[call-overload]
        return sorted(taps, key=lambda t: t.stride)

    @property
    def multiple_of(self) -> int:
        """What input height and width must be multiples of (the metadata's `input.multiple_of`)."""
        return int(self.meta.get("input", {}).get("multiple_of", 8))  # type: ignore[union-attr]

    @property
    def stride(self) -> int:
        """Stride of the patch features (the finest tap's)."""
        return self.taps[0].stride

    @property
    def channels(self) -> int:
        """Channels of the patch features (all taps together)."""
        return sum(t.channels for t in self.taps)

    @property
    def label(self) -> str:
        return f"{self.meta['name']} {self.meta['version']} (sha256 {str(self.meta['sha256'])[:12]})"


def load_backbone(folder: Path | None = None, name: str = "filterbank") -> Backbone:
    """Load backbone `name`'s graph + metadata and refuse a file whose hash differs from the metadata."""
    folder = folder or BACKBONE_DIR
    if name not in BACKBONE_FILES:
        raise FitInputError(f"backbone {name!r}: unknown (known: {', '.join(BACKBONE_FILES)})")
    graph_file, meta_file = BACKBONE_FILES[name]
    try:
        meta = json.loads((folder / meta_file).read_text(encoding="utf-8"))
        data = (folder / graph_file).read_bytes()
    except (OSError, ValueError) as exc:
        raise FitInputError(f"backbone {folder}: cannot read {graph_file}/{meta_file}: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != meta.get("sha256"):
        raise FitInputError(f"backbone {folder / graph_file}: SHA-256 {actual} differs from "
                            f"{meta_file} ({meta.get('sha256')}); refusing a changed backbone")
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
    neighbourhood = _neighbourhood(backbone)
    merged = compose.merge_models(adapter, body, io_map=[("rgb", "backbone/image")])
    return compose.merge_models(merged, neighbourhood, io_map=[(f"backbone/{t.name}", f"backbone/{t.name}")
                                                               for t in backbone.taps])


def _neighbourhood(backbone: Backbone) -> onnx.ModelProto:
    """Each tap 3x3-averaged; coarser taps upsampled (bilinear) to the finest grid; concatenated."""
    taps = backbone.taps
    inputs = [helper.make_tensor_value_info(f"backbone/{t.name}", TensorProto.FLOAT, ["N", t.channels, "h", "w"])
              for t in taps]
    out = helper.make_tensor_value_info(PATCH_FEATURES, TensorProto.FLOAT, ["N", backbone.channels, "h", "w"])
    nodes, pooled, inits = [], [], []
    for t in taps:
        name = f"{t.name}_pooled" if len(taps) > 1 else PATCH_FEATURES
        nodes.append(helper.make_node("AveragePool", [f"backbone/{t.name}"], [name], kernel_shape=[3, 3],
                                      strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0))
        if t.stride != taps[0].stride:
            factor = float(t.stride // taps[0].stride)
            inits.append(numpy_helper.from_array(np.array([1, 1, factor, factor], np.float32), f"{t.name}_scales"))
            nodes.append(helper.make_node("Resize", [name, "", f"{t.name}_scales"], [f"{name}_up"], mode="linear",
                                          coordinate_transformation_mode="half_pixel"))
            name = f"{name}_up"
        pooled.append(name)
    if len(taps) > 1:
        nodes.append(helper.make_node("Concat", pooled, [PATCH_FEATURES], axis=1))
    graph = helper.make_graph(nodes, "neighbourhood", inputs, [out], inits)
    model = helper.make_model(graph, opset_imports=list(backbone.model.opset_import))
    model.ir_version = backbone.model.ir_version
    return model


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
