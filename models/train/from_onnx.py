"""Recover a segmenter's weights from an exported model.onnx (for re-exporting or fine-tuning).

Checkpoints live in the git-ignored var/ and are lost with the machine that trained them; the
shipped ONNX graph is not. torch's export folds each batch norm into the convolution before it,
so the graph holds, in order, one (weight, bias) pair per convolution. They are loaded back into
an `AnomalySegmenter` whose batch norms are set to the identity (gamma 1, beta = the folded bias,
mean 0, variance 1 - eps): in eval mode it computes what the graph computes. Fine-tuning such a
net must keep its batch norms in eval mode (`net.freeze_batchnorm`), since their statistics are gone.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import torch
from onnx import numpy_helper
from torch import nn

from models.train.net import AnomalySegmenter, ExportWrapper


def conv_weights(path: Path) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """(weight, bias) of every 4-D-weight convolution in graph order, skipping the fixed blurs."""
    graph = onnx.load(str(path)).graph
    inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
    pairs, seen = [], set()
    for node in graph.node:
        # a segmenter run more than once (wrapper `scales`) reuses its weights: count each once
        if node.op_type != "Conv" or node.input[1] not in inits or node.input[1] in seen:
            continue
        seen.add(node.input[1])
        weight = inits[node.input[1]]
        if weight.shape[0] == 1 and weight.shape[1] == 1:
            continue  # FixedBlur's separable kernels: 1 -> 1 channel, not part of the segmenter
        bias = inits[node.input[2]] if len(node.input) > 2 and node.input[2] in inits else None
        pairs.append((weight, bias))
    return pairs


def segmenter_from_onnx(path: Path, width: int, in_channels: int = 1) -> AnomalySegmenter:
    """An AnomalySegmenter (eval mode) computing what the exported graph's (first) segmenter computes."""
    return segmenters_from_onnx(path, width, in_channels)[0]


def segmenters_from_onnx(path: Path, width: int, in_channels: int = 1) -> list[AnomalySegmenter]:
    """Every segmenter of a graph in graph order: the wrapper's own, then its partners'."""
    n = sum(isinstance(m, nn.Conv2d) for m in AnomalySegmenter(in_channels, width).modules())
    pairs = conv_weights(path)
    if not pairs or len(pairs) % n:
        raise ValueError(f"{path}: {len(pairs)} convolutions in the graph, the width-{width} segmenter has {n}")
    return [_load_segmenter(path, pairs[k:k + n], width, in_channels) for k in range(0, len(pairs), n)]


def _load_segmenter(path: Path, pairs: list[tuple[torch.Tensor, torch.Tensor | None]], width: int,
                    in_channels: int) -> AnomalySegmenter:
    net = AnomalySegmenter(in_channels, width)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    norms = {id(conv): bn for conv, bn in _conv_bn_pairs(net)}
    with torch.no_grad():
        for conv, (weight, bias) in zip(convs, pairs):
            if tuple(weight.shape) != tuple(conv.weight.shape):
                raise ValueError(f"{path}: convolution weight {tuple(weight.shape)} where the width-{width} "
                                 f"segmenter has {tuple(conv.weight.shape)}")
            conv.weight.copy_(weight)
            bn = norms.get(id(conv))
            if bn is None:
                if conv.bias is None or bias is None:
                    raise ValueError(f"{path}: a convolution without batch norm must have a bias")
                conv.bias.copy_(bias)
                continue
            bn.weight.fill_(1.0)
            bn.bias.copy_(bias if bias is not None else torch.zeros_like(bn.bias))
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
    return net.eval()


def _conv_bn_pairs(net: nn.Module) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    """Each convolution directly followed by a batch norm inside an nn.Sequential."""
    pairs = []
    for module in net.modules():
        if isinstance(module, nn.Sequential):
            children = list(module.children())
            for a, b in zip(children, children[1:]):
                if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d):
                    pairs.append((a, b))
    return pairs


def model_folder_weights(folder: Path, wrapper: ExportWrapper, width: int, partners: bool = True) -> dict[str, object]:
    """Put an exported model folder's segmenter into `wrapper`, and with `partners` the graph's
    next segmenters into the wrapper's partners (else they keep theirs); returns the training
    statistics of the run that made it (its training_report.json, empty if there is none)."""
    nets = segmenters_from_onnx(folder / "model.onnx", width)
    need = 1 + (len(wrapper.partners) if partners else 0)
    if len(nets) < need:  # more is fine: re-exporting without some partners
        raise ValueError(f"{folder}: the graph holds {len(nets)} segmenter(s), the model needs {need}")
    wrapper.net = nets[0]
    for partner, net in zip(wrapper.partners if partners else [], nets[1:]):
        partner.net = net
    report_path = folder / "training_report.json"
    earlier = json.loads(report_path.read_text()) if report_path.exists() else {}
    stats = {k: earlier[k] for k in ("steps", "train_seconds", "final_loss", "batch", "crop", "images", "device", "init")
             if k in earlier}
    if partners and wrapper.partners and "partners" in earlier:  # the partners' own runs, as many as are kept
        stats["partners"] = earlier["partners"][: len(wrapper.partners)]
    return stats
