"""Small ONNX graphs built with onnx.helper, for tests and benchmarks (no torch, no weights to download).

- `identity_map_graph`: the anomaly map is the input itself (grey) or its channel mean (colour),
  optionally max-pooled by `pool`; the score is the map's maximum. Where a bright patch is in
  the image is exactly where a region must appear, which makes tiling and stitching testable.
- `conv_map_graph`: three strided 3x3 convolutions and a 1x1 head with fixed random weights,
  a stand-in of realistic cost for benchmarks when no shipped model is present.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge.inference.card import MODEL_FILE, InputSpec, ModelCard, OutputSpec, sha256_file, write_card

OPSET = 18
IR_VERSION = 9


def _finish(nodes: list[onnx.NodeProto], channels: int, size: tuple[int, int], map_hw: tuple[object, object],
            initializers: list[onnx.TensorProto] | None = None, batch: int | str = "N") -> onnx.ModelProto:
    h, w = size
    graph = helper.make_graph(
        nodes, "kouan_synthetic",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, channels, h, w])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [batch]),
         helper.make_tensor_value_info("anomaly_map", TensorProto.FLOAT, [batch, 1, *map_hw])],
        initializer=initializers or [],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def _score_from_map(nodes: list[onnx.NodeProto], initializers: list[onnx.TensorProto]) -> None:
    initializers.append(numpy_helper.from_array(np.array([1, 2, 3], dtype=np.int64), "axes_chw"))
    nodes.append(helper.make_node("ReduceMax", ["anomaly_map", "axes_chw"], ["score"], keepdims=0))


def identity_map_graph(channels: int = 1, size: tuple[int, int] = (64, 64), pool: int = 1,
                       batch: int | str = "N") -> onnx.ModelProto:
    """anomaly_map = input (channel mean for colour), max-pooled by `pool`; score = max of the map."""
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    source = "image"
    if channels > 1:
        inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "axes_c"))
        nodes.append(helper.make_node("ReduceMean", ["image", "axes_c"], ["grey"], keepdims=1))
        source = "grey"
    if pool > 1:
        nodes.append(helper.make_node("MaxPool", [source], ["anomaly_map"], kernel_shape=[pool, pool],
                                      strides=[pool, pool]))
    else:
        nodes.append(helper.make_node("Identity", [source], ["anomaly_map"]))
    _score_from_map(nodes, inits)
    return _finish(nodes, channels, size, (size[0] // pool, size[1] // pool), inits, batch)


def conv_map_graph(channels: int = 1, size: tuple[int, int] = (256, 256), widths: tuple[int, ...] = (16, 32, 64),
                   seed: int = 0) -> onnx.ModelProto:
    """Strided 3x3 conv stack + 1x1 head: map at 1/2**len(widths) resolution, score = map maximum."""
    rng = np.random.default_rng(seed)
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    source, cin = "image", channels
    for i, cout in enumerate(widths):
        weight = (rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (cin * 9))).astype(np.float32)
        bias = np.zeros(cout, dtype=np.float32)
        inits += [numpy_helper.from_array(weight, f"w{i}"), numpy_helper.from_array(bias, f"b{i}")]
        nodes.append(helper.make_node("Conv", [source, f"w{i}", f"b{i}"], [f"c{i}"], kernel_shape=[3, 3],
                                      strides=[2, 2], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        source, cin = f"r{i}", cout
    head = (rng.standard_normal((1, cin, 1, 1)) / np.sqrt(cin)).astype(np.float32)
    inits.append(numpy_helper.from_array(head, "w_head"))
    nodes.append(helper.make_node("Conv", [source, "w_head"], ["anomaly_map"], kernel_shape=[1, 1]))
    _score_from_map(nodes, inits)
    factor = 2 ** len(widths)
    return _finish(nodes, channels, size, (size[0] // factor, size[1] // factor), inits)


def write_model(folder: Path, model: onnx.ModelProto, name: str, *, threshold: float = 0.5,
                pixel_threshold: float | None = 0.5, bit_depth: int = 8, overlap: int = 8,
                resize_to_height: int | None = None, min_region_area: int = 1,
                mean: list[float] | None = None, std: list[float] | None = None) -> ModelCard:
    """Save model.onnx and a matching card.json (hash computed from the written file) into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / MODEL_FILE))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    channels, height, width = (d.dim_value for d in dims[1:])
    card = ModelCard(
        name=name, version="0.0.1", task="anomaly_map",
        description="Synthetic graph built with onnx.helper for tests and benchmarks.",
        input=InputSpec(name="image", height=height, width=width, channels=channels, bit_depth=bit_depth,
                        scale=255.0 if bit_depth == 8 else 65535.0,
                        mean=mean or [0.0], std=std or [1.0]),
        outputs=[OutputSpec(name="score", shape="[N]", meaning="maximum of the anomaly map"),
                 OutputSpec(name="anomaly_map", shape="[N,1,h,w]", meaning="per-pixel anomaly value")],
        threshold=threshold, pixel_threshold=pixel_threshold, min_region_area=min_region_area,
        tiling={"overlap": overlap, "resize_to_height": resize_to_height},
        sha256=sha256_file(folder / MODEL_FILE), training_data="none: fixed synthetic graph",
        created_by="edge.inference.synthetic",
    )
    write_card(folder, card)
    return card
