"""Trial: the frozen pretrained backbone with a small trained head, scored on the project's own splits only.

    python -m models.train.lite0_head_trial KIND [--train 240] [--work-height 512] [--negatives 4000]
                                            [--hidden 64] [--pos-weight 2] [--splits novel,heldout]

Issue 13 suggests the pretrained backbone as a way to models that hold on scenes nobody here drew.
This trial keeps EfficientNet-Lite0 (blocks 1-10, `models/backbone/efficientnet_lite0.onnx`)
frozen and trains only a 1x1 head (152 -> hidden -> 1, ReLU, sigmoid) on its patch features of
the kind's own training generator: `--train` images (every second one with anomalies), at the
working height, tiled 256x256 with 32 px overlap as the core does, every patch with anomaly
cover > 5 % and `--negatives` random others per image (a patch counts as anomalous above 25 %
cover; between 5 and 25 % it is left out of the loss), then two rounds of hard negatives (the
top 2 % of normal patches weigh 5x). The head sits in one graph with the backbone (input = raw
/ scale, the core's own tiling), anomaly_map = 3x3 average of the probabilities, score = its
maximum. The threshold is the 98th percentile of 30 own validation normals, as for the shipped
models. It prints the own validation threshold and one JSON line per own split.

Selection data only: it never touches `models/independent/`. Whether a candidate replaces a
shipped model is decided by a rule fixed before (models/README.md, "A pretrained backbone with
a trained head"), on these own figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import TensorProto, compose, helper, numpy_helper

from edge.fitting.features import PATCH_FEATURES, FeatureExtractor, build_extractor, load_backbone
from edge.inference.card import sha256_file
from edge.inference.resize import resize_to_height
from models.evaluate import MODELS_DIR, OnnxScorer, evaluate, run_set, tile_origins
from models.generators.common import seed_for
from models.train.specs import SPECS

TILE, OVERLAP, GRID, CHANNELS = 256, 32, 32, 152


def tiles_of(image: np.ndarray, mask: np.ndarray, work_height: int) -> tuple[list[np.ndarray], np.ndarray]:
    """The core's tiles of one image ([1,256,256] raw / scale) and each tile's anomaly cover on the 32x32 patch grid."""
    scale = 65535.0 if image.dtype == np.uint16 else 255.0
    x = resize_to_height(image, work_height).astype(np.float32) / scale
    m = cv2.resize(mask.astype(np.float32), (x.shape[1], x.shape[0]), interpolation=cv2.INTER_AREA)
    pad = ((0, max(0, TILE - x.shape[0])), (0, max(0, TILE - x.shape[1])))
    if any(p for _, p in pad):
        x, m = np.pad(x, pad, mode="reflect"), np.pad(m, pad)
    origins = [(y, xo) for y in tile_origins(x.shape[0], TILE, OVERLAP) for xo in tile_origins(x.shape[1], TILE, OVERLAP)]
    cover = np.stack([cv2.resize(m[y:y + TILE, xo:xo + TILE], (GRID, GRID), interpolation=cv2.INTER_AREA)
                      for y, xo in origins])
    return [x[y:y + TILE, xo:xo + TILE][None] for y, xo in origins], cover


def extractor_graph() -> onnx.ModelProto:
    """The frozen backbone as a patch-feature graph for 1-channel 256x256 tiles (the fit's own extractor)."""
    return build_extractor(load_backbone(name="lite0"), 1, TILE, TILE)


def extract(extractor_model: onnx.ModelProto, kind: str, n: int, work_height: int, negatives: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """Patch features [P,152] (float16) and anomaly cover [P] of `n` own training images."""
    spec = SPECS[kind]
    generate = spec.generator()
    extractor = FeatureExtractor(extractor_model)
    feats, covers = [], []
    start = time.perf_counter()
    for i in range(n):
        seed = seed_for("train", i)
        image, mask = generate(seed, "train", i % 2 == 1, *spec.native_size_for(seed))
        tiles, cover = tiles_of(image, mask, work_height)
        f = extractor(tiles).transpose(0, 2, 3, 1).reshape(-1, CHANNELS)
        c = cover.reshape(-1)
        others = np.flatnonzero(c <= 0.05)
        rng = np.random.default_rng(seed)
        keep = np.concatenate([np.flatnonzero(c > 0.05), rng.choice(others, min(len(others), negatives), replace=False)])
        feats.append(f[keep].astype(np.float16))
        covers.append(c[keep].astype(np.float16))
        if i % 40 == 0:
            print(f"extract {i}/{n} {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return np.concatenate(feats), np.concatenate(covers)


def train_head(feats: np.ndarray, cover: np.ndarray, hidden: int, pos_weight: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train the head; returns (w1, b1, w2, b2) with the feature standardisation folded into w1, b1."""
    import torch

    torch.manual_seed(0)
    x = torch.tensor(feats.astype(np.float32))
    c = torch.tensor(cover.astype(np.float32))
    y, ambiguous = (c > 0.25).float(), (c > 0.05) & (c <= 0.25)
    mu, sd = x.mean(0), x.std(0) + 1e-3
    xn = (x - mu) / sd
    net = torch.nn.Sequential(torch.nn.Linear(CHANNELS, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
    opt = torch.optim.AdamW(net.parameters(), 3e-3, weight_decay=1e-3)
    weight = torch.where(ambiguous, 0.0, 1.0)

    def epochs(n: int) -> None:
        for _ in range(n):
            perm = torch.randperm(len(xn))
            for i in range(0, len(perm), 4096):
                b = perm[i:i + 4096]
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    net(xn[b]).squeeze(1), y[b], pos_weight=torch.tensor(pos_weight), reduction="none")
                opt.zero_grad()
                (loss * weight[b]).mean().backward()
                opt.step()

    epochs(6)
    normal = (y == 0) & ~ambiguous
    for _ in range(2):
        with torch.no_grad():
            z = torch.cat([net(xn[i:i + 65536]).squeeze(1) for i in range(0, len(xn), 65536)])
        sample = z[normal][torch.randperm(int(normal.sum()))[:200_000]]
        weight = torch.where(ambiguous, 0.0, torch.where(normal & (z > torch.quantile(sample, 0.98)), 5.0, 1.0))
        epochs(3)
    w1, b1 = net[0].weight.detach(), net[0].bias.detach()
    return ((w1 / sd).numpy(), (b1 - (w1 * (mu / sd)).sum(1)).numpy(),
            net[2].weight.detach().numpy(), net[2].bias.detach().numpy())


def build_graph(extractor: onnx.ModelProto, weights: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
                ) -> onnx.ModelProto:
    """Extractor + head in one graph: `image` [N,1,256,256] -> `score` [N], `anomaly_map` [N,1,32,32]."""
    w1, b1, w2, b2 = weights
    inits = [numpy_helper.from_array(w1[:, :, None, None].astype(np.float32), "w1"),
             numpy_helper.from_array(b1.astype(np.float32), "b1"),
             numpy_helper.from_array(w2[:, :, None, None].astype(np.float32), "w2"),
             numpy_helper.from_array(b2.astype(np.float32), "b2")]
    nodes = [helper.make_node("Conv", [PATCH_FEATURES, "w1", "b1"], ["hidden"]),
             helper.make_node("Relu", ["hidden"], ["hidden_relu"]),
             helper.make_node("Conv", ["hidden_relu", "w2", "b2"], ["logit"]),
             helper.make_node("Sigmoid", ["logit"], ["prob"]),
             helper.make_node("AveragePool", ["prob"], ["anomaly_map"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                              count_include_pad=0),
             helper.make_node("ReduceMax", ["anomaly_map"], ["score"], axes=[1, 2, 3], keepdims=0)]
    graph = helper.make_graph(
        nodes, "trained_head", [helper.make_tensor_value_info(PATCH_FEATURES, TensorProto.FLOAT, ["N", CHANNELS, "h", "w"])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"]),
         helper.make_tensor_value_info("anomaly_map", TensorProto.FLOAT, ["N", 1, "h", "w"])], inits)
    head = helper.make_model(graph, opset_imports=list(extractor.opset_import))
    head.ir_version = extractor.ir_version
    model = compose.merge_models(extractor, head, io_map=[(PATCH_FEATURES, PATCH_FEATURES)])
    onnx.checker.check_model(model)
    return model


def write_folder(kind: str, model: onnx.ModelProto, work_height: int, folder: Path) -> dict[str, object]:
    """A model folder the core can load: this graph, and the shipped card with its input, tiling and hash."""
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / "model.onnx")
    card = json.loads((MODELS_DIR / kind / "card.json").read_text(encoding="utf-8"))
    card["input"].update(mean=[0.0], std=[1.0])
    card["tiling"]["resize_to_height"] = work_height
    card["outputs"][1]["shape"] = f"[N,1,{GRID},{GRID}]"
    card.update(version="0.0.0-trial", metrics={}, sha256=sha256_file(folder / "model.onnx"))
    (folder / "card.json").write_text(json.dumps(card), encoding="utf-8")
    return card


def score_own(kind: str, model: onnx.ModelProto, work_height: int, splits: list[str], folder: Path) -> list[dict[str, object]]:
    """Pick the threshold on 30 own validation normals and score each own split (50 + 50) as
    `models.evaluate` does."""
    card = write_folder(kind, model, work_height, folder)
    scores, _, _, _ = run_set(SPECS[kind], OnnxScorer(folder), "validation", "validation", 30, 0)
    card["threshold"] = card["pixel_threshold"] = float(np.quantile(scores, 0.98))
    (folder / "card.json").write_text(json.dumps(card), encoding="utf-8")
    rows: list[dict[str, object]] = [{"kind": kind, "split": "validation", "threshold": card["threshold"]}]
    for split in splits:
        res = evaluate(kind, 50, 50, folder, split)
        rows.append({"kind": kind, **{k: res[k] for k in ("split", "image_auroc", "pixel_auroc", "fpr_at_threshold",
                                                           "tpr_at_threshold")}})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=sorted(SPECS))
    parser.add_argument("--train", type=int, default=240, help="own training images (every second with anomalies)")
    parser.add_argument("--work-height", type=int, default=512, help="rows the core resizes an image to")
    parser.add_argument("--negatives", type=int, default=4000, help="random normal patches kept per image")
    parser.add_argument("--hidden", type=int, default=64, help="hidden width of the head")
    parser.add_argument("--pos-weight", type=float, default=2.0, help="weight of anomalous patches in the loss")
    parser.add_argument("--splits", default="novel,heldout", help="own splits to score (never independent)")
    parser.add_argument("--out", type=Path, default=None, help="keep the model folder here (default: a temp folder)")
    args = parser.parse_args(argv)
    splits = [s for s in args.splits.split(",") if s]
    if "independent" in splits:
        parser.error("this trial scores own splits only; the independent set is for the chosen model")
    start = time.perf_counter()
    extractor = extractor_graph()
    feats, cover = extract(extractor, args.kind, args.train, args.work_height, args.negatives)
    weights = train_head(feats, cover, args.hidden, args.pos_weight)
    print(f"extracted and trained in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        for row in score_own(args.kind, build_graph(extractor, weights), args.work_height, splits, args.out or Path(tmp)):
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
