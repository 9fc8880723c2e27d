"""Evaluate shipped models with onnxruntime on a held-out set, as the inference core runs them.

Held-out images come from the same generators with seeds, anomaly shapes and nuisance values
that training never used (see models.generators.common). Each image is resized to the card's
tiling.resize_to_height, cut into tiles with the card's overlap, scaled and normalised as the
card says, run through the exported ONNX graph; the image score is the max tile score and the
anomaly map is stitched back (max over overlaps). Image AUROC over all images; pixel AUROC
over all pixels at the working resolution.

    python -m models.evaluate [NAME ...] [--normal 50 --anomalous 50] [--write]
    python -m models.evaluate [NAME ...] --split independent [--write]   # report only: models/independent_models.py
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from edge.inference.card import IndependentMetrics, ModelCard, load_card, sha256_file, write_card
from edge.inference.resize import resize_to_height
from models import independent_models
from models.generators.common import describe_ranges, seed_for, work_mask
from models.train.specs import SPECS, ModelSpec

log = logging.getLogger(__name__)
MODELS_DIR = Path(__file__).resolve().parent


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic (ties count one half)."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel().astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUROC needs both positive and negative samples")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


class BinnedAuroc:
    """AUROC over many pixels with scores in [0, 1], accumulated in fine histograms."""

    def __init__(self, bins: int = 20000) -> None:
        self.pos = np.zeros(bins, np.int64)
        self.neg = np.zeros(bins, np.int64)
        self.bins = bins

    def add(self, scores: np.ndarray, labels: np.ndarray) -> None:
        idx = np.clip((scores.ravel() * self.bins).astype(np.int64), 0, self.bins - 1)
        lab = labels.ravel().astype(bool)
        self.pos += np.bincount(idx[lab], minlength=self.bins)
        self.neg += np.bincount(idx[~lab], minlength=self.bins)

    def value(self) -> float:
        n_pos, n_neg = self.pos.sum(), self.neg.sum()
        if n_pos == 0 or n_neg == 0:
            raise ValueError("AUROC needs both positive and negative pixels")
        neg_below = np.cumsum(self.neg) - self.neg
        return float(((self.pos * (neg_below + 0.5 * self.neg)).sum()) / (n_pos * n_neg))


def tile_origins(length: int, tile: int, overlap: int) -> list[int]:
    """Tile start positions covering [0, length) with at least `overlap` pixels of overlap."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    n = int(np.ceil((length - tile) / stride)) + 1
    return [min(i * stride, length - tile) for i in range(n)]


@dataclass
class Scored:
    score: float
    amap: np.ndarray  # stitched anomaly map at the working resolution


class OnnxScorer:
    """Runs a model folder the way the core does: resize, tile, normalise, infer, stitch."""

    def __init__(self, folder: Path, threads: int = 2, batch: int = 8) -> None:
        self.card: ModelCard = load_card(folder)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(folder / "model.onnx"), opts, providers=["CPUExecutionProvider"])
        self.batch = batch

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """Resize to the working height and normalise as the card says -> float32 [H, W]."""
        card = self.card
        target = card.tiling.resize_to_height
        if target:
            image = resize_to_height(image, target)  # the core's own resize: models are not indifferent to the kernel
        x = image.astype(np.float32) / card.input.scale
        return (x - card.input.mean[0]) / card.input.std[0]

    def score(self, image: np.ndarray) -> Scored:
        x = self.prepare(image)
        th, tw = self.card.input.height, self.card.input.width
        ph, pw = max(th - x.shape[0], 0), max(tw - x.shape[1], 0)
        if ph or pw:
            x = np.pad(x, ((0, ph), (0, pw)), mode="reflect")
        H, W = x.shape
        origins = [(y, xo) for y in tile_origins(H, th, self.card.tiling.overlap)
                   for xo in tile_origins(W, tw, self.card.tiling.overlap)]
        amap = np.zeros((H, W), np.float32)
        best = -np.inf
        name = self.card.input.name
        for i in range(0, len(origins), self.batch):
            chunk = origins[i:i + self.batch]
            tiles = np.stack([x[y:y + th, xo:xo + tw] for y, xo in chunk])[:, None]
            scores, maps = self.session.run(["score", "anomaly_map"], {name: tiles})
            best = max(best, float(scores.max()))
            for (y, xo), m in zip(chunk, maps[:, 0]):
                up = cv2.resize(m, (tw, th), interpolation=cv2.INTER_LINEAR)
                np.maximum(amap[y:y + th, xo:xo + tw], up, out=amap[y:y + th, xo:xo + tw])
        return Scored(best, amap[: H - ph, : W - pw])


def score_generated(spec: ModelSpec, scorer: OnnxScorer, seed: int, split: str, anomalous: bool,
                    size: tuple[int, int] | None = None) -> tuple[Scored, np.ndarray]:
    """Generate one image (at the device's native size unless `size` is given), score it as the
    core would; returns the result and the anomaly mask at the map's resolution."""
    image, mask = spec.generator()(seed, split, anomalous, *(size or spec.native_size_for(seed)))
    result = scorer.score(image)
    return result, work_mask(mask, result.amap.shape)


Sample = tuple[np.ndarray, np.ndarray, bool | None]  # image, mask, label (None: whether the working-size mask is set)


def score_set(scorer: OnnxScorer, samples: Iterable[Sample]
              ) -> tuple[np.ndarray, np.ndarray, BinnedAuroc, list[tuple[np.ndarray, np.ndarray]]]:
    """Score images as the core would; image scores, labels, pixel AUROC accumulator and
    (map, mask) pairs of the anomalous images (for threshold picking)."""
    scores, labels, pairs = [], [], []
    pix = BinnedAuroc()
    for image, mask, given in samples:
        res = scorer.score(image)
        m = work_mask(mask.astype(np.uint8), res.amap.shape)
        label = bool(m.any()) if given is None else given
        scores.append(res.score)
        labels.append(label)
        pix.add(res.amap, m)
        if label:
            pairs.append((res.amap, m))
    return np.array(scores), np.array(labels), pix, pairs


def run_set(spec: ModelSpec, scorer: OnnxScorer, seed_split: str, split: str, n_normal: int, n_anomalous: int,
            size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray, BinnedAuroc, list[tuple[np.ndarray, np.ndarray]]]:
    """Score a freshly generated set (at the device's native size unless `size` is given)."""
    def samples() -> Iterator[Sample]:
        for i in range(n_normal + n_anomalous):
            seed = seed_for(seed_split, i)
            image, mask = spec.generator()(seed, split, i >= n_normal, *(size or spec.native_size_for(seed)))
            yield image, mask, None
    return score_set(scorer, samples())


def run_independent(spec: ModelSpec, scorer: OnnxScorer, n_normal: int, n_anomalous: int
                    ) -> tuple[np.ndarray, np.ndarray, BinnedAuroc, list[tuple[np.ndarray, np.ndarray]]]:
    """Score the independent set (models/independent_models.py), labelled by whether objects were drawn."""
    def samples() -> Iterator[Sample]:
        for anomalous, n in ((False, n_normal), (True, n_anomalous)):
            for i in range(n):
                image, mask = independent_models.render(spec, i, anomalous)
                yield image, mask, anomalous
    return score_set(scorer, samples())


def evaluate(name: str, n_normal: int, n_anomalous: int, folder: Path | None = None,
             split: str = "heldout") -> dict[str, object]:
    """Image / pixel AUROC on the held-out set, or on a model-selection set that chooses between
    models without the held-out set: `stress` (training shapes, nuisances outside range A, seeds
    from 20,000,000) or `novel` (shapes neither training nor held-out uses, same nuisances, seeds
    from 60,000,000)."""
    spec = SPECS[name]
    folder = folder or MODELS_DIR / name
    scorer = OnnxScorer(folder)
    t0 = time.perf_counter()
    run = run_independent(spec, scorer, n_normal, n_anomalous) if split == "independent" \
        else run_set(spec, scorer, split, split, n_normal, n_anomalous)
    scores, labels, pix, _ = run
    thr = scorer.card.threshold
    result: dict[str, object] = {
        "model": name,
        "split": split,
        "image_auroc": round(auroc(scores, labels), 4),
        "pixel_auroc": round(pix.value(), 4),
        "n_normal": int((~labels).sum()),
        "n_anomalous": int(labels.sum()),
        "tpr_at_threshold": round(float((scores[labels] >= thr).mean()), 4),
        "fpr_at_threshold": round(float((scores[~labels] >= thr).mean()), 4),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return result


def held_out_description(spec: ModelSpec, res: dict[str, object]) -> str:
    h, w = spec.native_size
    return (
        f"{res['n_normal']} normal + {res['n_anomalous']} anomalous images from "
        f"models/generators/{spec.generator_module.rsplit('.', 1)[1]}.py "
        f"at native size {h}x{w}, seeds from 10,000,000 (training used seeds < 500,000, validation 500,000+); "
        "anomaly shapes never used in training: irregular polygon, ring, L-shape, cluster of blobs "
        "(training: box, ellipse, plate); nuisance values outside the training range: "
        f"{describe_ranges()}. Scored with onnxruntime through resize/tiling as the core does. "
        f"At the card threshold: TPR {res['tpr_at_threshold']}, FPR {res['fpr_at_threshold']}."
    )


def update_card(name: str, res: dict[str, object], folder: Path | None = None) -> None:
    folder = folder or MODELS_DIR / name
    card = load_card(folder)
    card.sha256 = sha256_file(folder / "model.onnx")
    if res["split"] == "independent":
        card.metrics.independent = IndependentMetrics(
            image_auroc=float(res["image_auroc"]), clean_flagged=float(res["fpr_at_threshold"]),  # type: ignore[arg-type]
            anomalous_flagged=float(res["tpr_at_threshold"]), n_normal=int(res["n_normal"]),  # type: ignore[arg-type]
            n_anomalous=int(res["n_anomalous"]),  # type: ignore[arg-type]
            data=independent_models.describe(SPECS[name], int(res["n_normal"]), int(res["n_anomalous"])))  # type: ignore[arg-type]
        write_card(folder, card)
        return
    card.metrics.clean_flagged = float(res["fpr_at_threshold"])  # type: ignore[arg-type]
    card.metrics.image_auroc = float(res["image_auroc"])  # type: ignore[arg-type]
    card.metrics.pixel_auroc = float(res["pixel_auroc"])  # type: ignore[arg-type]
    card.metrics.n_normal = int(res["n_normal"])  # type: ignore[arg-type]
    card.metrics.n_anomalous = int(res["n_anomalous"])  # type: ignore[arg-type]
    card.metrics.held_out_set = held_out_description(SPECS[name], res)
    write_card(folder, card)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", default=list(SPECS), help="models to evaluate")
    parser.add_argument("--normal", type=int, default=50, help="normal held-out images per model")
    parser.add_argument("--anomalous", type=int, default=50, help="anomalous held-out images per model")
    parser.add_argument("--write", action="store_true", help="write the figures onto each card.json")
    parser.add_argument("--split", choices=["heldout", "stress", "novel", "independent"], default="heldout",
                        help="stress, novel: model-selection sets (training shapes or shapes neither training nor held-out uses; "
                        "nuisances outside range A; own seeds); independent: the blind generators, report only")
    parser.add_argument("--folder", type=Path, default=None, help="model folder (one name only; default models/NAME)")
    args = parser.parse_args(argv)
    if args.write and args.split not in ("heldout", "independent"):
        parser.error("--write records held-out or independent figures only")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in args.names:
        folder = args.folder or MODELS_DIR / name
        if not (folder / "model.onnx").exists():
            print(json.dumps({"model": name, "error": "no model.onnx"}))
            continue
        if args.split == "independent" and not independent_models.has_independent(name):
            print(json.dumps({"model": name, "split": "independent", "error": "no independent generator for this image kind"}))
            continue
        res = evaluate(name, args.normal, args.anomalous, folder, args.split)
        print(json.dumps(res), flush=True)
        if args.write:
            update_card(name, res, folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
