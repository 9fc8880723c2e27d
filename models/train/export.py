"""Export a trained segmenter to ONNX, write its card, measure per-tile latency."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from edge.inference.card import (
    InputSpec, ModelCard, OutputSpec, TilingSpec, round_threshold, sha256_file, write_card,
)
from models.train.net import ExportWrapper
from models.train.specs import ModelSpec

INPUT_NAME = "image"
OPSET = 17


def export_onnx(wrapper: ExportWrapper, path: Path, channels: int, tile: int) -> None:
    """Trace the wrapper (eval mode) to ONNX with a dynamic batch axis; check the graph."""
    wrapper.eval()
    dummy = torch.rand(1, channels, tile, tile)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        wrapper, (dummy,), str(path), dynamo=False, opset_version=OPSET,
        input_names=[INPUT_NAME], output_names=["score", "anomaly_map"],
        dynamic_axes={INPUT_NAME: {0: "N"}, "score": {0: "N"}, "anomaly_map": {0: "N"}},
    )
    onnx.checker.check_model(onnx.load(str(path)))


def conv_gmac(wrapper: ExportWrapper, tile: int) -> float:
    """Multiply-accumulates (10^9) of the segmenters' convolutions on one tile x tile input: the
    wrapper's mirrored copies, its smaller copies (`scales`) and its partners included."""
    sides = [tile] + [round(tile * sc) for sc in wrapper.scales]
    own = sum(_segmenter_macs(wrapper.net, side) for side in sides) * wrapper.flips / 1e9
    return own + sum(conv_gmac(partner, tile) for partner in wrapper.partners)  # type: ignore[arg-type]


def _segmenter_macs(net: torch.nn.Module, side: int) -> int:
    total = 0

    def count(module: torch.nn.Module, _inputs: object, out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(module, torch.nn.Conv2d)
        k = module.kernel_size[0] * module.kernel_size[1]
        total += out.numel() * (module.in_channels // module.groups) * k

    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(1, 1, side, side))
    finally:
        for h in hooks:
            h.remove()
    return total


def make_card(spec: ModelSpec, folder: Path, threshold: float, pixel_threshold: float, training_data: str,
              threshold_note: str) -> ModelCard:
    """Card for a freshly exported model (metrics are filled in by models.evaluate)."""
    card = ModelCard(
        name=spec.name,
        version=spec.version,
        task="anomaly_map",
        description=spec.description + " " + threshold_note,
        input=InputSpec(name=INPUT_NAME, height=spec.tile, width=spec.tile, channels=1, bit_depth=spec.bit_depth,
                        scale=spec.scale, mean=[spec.mean], std=[spec.std]),
        outputs=[
            OutputSpec(name="score", shape="[N]", meaning="Tile anomaly score in [0, 1]: max of the 5x5-averaged "
                       "anomaly probability map; an image's score is the max over its tiles."),
            OutputSpec(name="anomaly_map", shape=f"[N,1,{spec.tile // 4},{spec.tile // 4}]",
                       meaning="Per-pixel anomaly probability in [0, 1] at 1/4 of the tile size, 3x3-averaged"
                       + (f"; the {spec.flip_combine} over {spec.flips} mirrored copies of the tile, each "
                          "mirrored back" if spec.flips > 1 else "")
                       + (f"; the minimum with the map of the tile shrunk to {', '.join(f'{x:g}' for x in spec.scales)} "
                          "of its size" if spec.scales else "")
                       + (f"; the minimum with {len(spec.partner_preblurs)} partner segmenter(s) (pre-blur "
                          f"{', '.join(f'{x:g}' for x in spec.partner_preblurs)} px)" if spec.partner_preblurs else "")
                       + "."),
        ],
        threshold=round_threshold(threshold),
        pixel_threshold=round_threshold(pixel_threshold),
        min_region_area=64,
        tiling=TilingSpec(overlap=spec.overlap, resize_to_height=spec.work_height),
        sha256=sha256_file(folder / "model.onnx"),
        training_data=training_data,
        created_by=f"python -m models.train.train {spec.name}",
    )
    write_card(folder, card)
    return card


def tile_ms(path: Path, channels: int, tile: int, batch: int = 8, threads: int = 2, repeats: int = 10) -> float:
    """Median milliseconds per tile with onnxruntime on `threads` CPU threads, batched."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((batch, channels, tile, tile), dtype=np.float32)
    sess.run(None, {INPUT_NAME: x})
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sess.run(None, {INPUT_NAME: x})
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000 / batch)
