"""Fit an anomaly model on a site's own normal images: no labels, no torch, no GPU.

Steps: read the folder (unreadable files named and skipped) -> cut the images into the tiles
the core will feed the model -> patch features from the shipped backbone -> k-fold: fit on
the other folds, score the held-out fold with the real head graph -> thresholds from those
out-of-fold scores -> fit on all images -> one ONNX graph + card.json in the output folder.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import onnx

from edge.fitting.features import (
    Backbone,
    FeatureExtractor,
    build_extractor,
    load_backbone,
)
from edge.fitting.gaussian import FeatureSums, Gaussian, fit_per_position, fit_shared
from edge.fitting.graph import ANOMALY_MAP, SCORE, assemble, build_head
from edge.fitting.images import (
    FitInputError,
    NormalSet,
    prepare,
    read_normal_set,
    tiles_of,
)
from edge.fitting.memory_bank import greedy_coreset, whiten
from edge.fitting.progress import Progress, Writer, stderr_writer
from edge.fitting.threshold import Thresholds, choose_thresholds
from edge.inference.card import (
    CARD_FILE,
    MODEL_FILE,
    InputSpec,
    Metrics,
    ModelCard,
    OutputSpec,
    TilingSpec,
    sha256_file,
    write_card,
)

log = logging.getLogger(__name__)

Method = Literal["knn", "gaussian", "padim"]


@dataclass
class FitOptions:
    """How to fit; defaults suit a textured surface seen by a fixed camera or line scanner."""

    method: Method = "knn"
    tile: int = 256
    size: int = 256
    overlap: int = 32
    max_tiles_per_image: int = 16
    folds: int = 5
    quantile: float = 0.99
    margin: float = 1.0
    pixel_quantile: float = 0.999
    bank_size: int = 256
    smooth_sigma: float = 1.0
    shrinkage: float = 0.01
    min_images: int = 10
    threads: int = 2
    seed: int = 0
    name: str | None = None
    version: str = "1.0.0"
    backbone_dir: Path | None = None
    shrink: tuple[int, int] = (1, 1)  # knn/gaussian: (rows, columns) averaged into one pixel in the graph


@dataclass
class FitResult:
    """What was written and the figures a person checks after a fit."""

    folder: Path
    card: ModelCard
    thresholds: Thresholds
    oof_scores: dict[str, float]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class _Geometry:
    height: int
    width: int
    resize_height: int | None


def _geometry(normal: NormalSet, opts: FitOptions, stride: int) -> _Geometry:
    """Tile size: for aligned views the whole (resized) image; for surfaces a square tile (of
    `tile` working pixels: with a shrink, `tile * sy` rows by `tile * sx` columns of the image)."""
    unit = max(8, stride * 2)
    sy, sx = opts.shrink
    if (sy, sx) != (1, 1):
        if opts.method == "padim" or sy < 1 or sx < 1:
            raise FitInputError(f"shrink {opts.shrink}: needs knn or gaussian and factors of at least 1")
        rows = min(opts.tile * sy, min(im.pixels.shape[0] for im in normal.images)) // (unit * sy) * (unit * sy)
        cols = min(opts.tile * sx, min(im.pixels.shape[1] for im in normal.images)) // (unit * sx) * (unit * sx)
        if rows < 4 * unit * sy or cols < 4 * unit * sx:
            raise FitInputError(f"images too small for shrink {opts.shrink}: need at least {4 * unit * sy} rows "
                                f"and {4 * unit * sx} columns")
        return _Geometry(rows, cols, None)
    if opts.method == "padim":
        widths = [im.pixels.shape[1] * opts.size / im.pixels.shape[0] for im in normal.images]
        width = max(unit, int(np.median(widths)) // unit * unit)
        return _Geometry(opts.size // unit * unit, width, opts.size)
    smallest = min(min(im.pixels.shape[:2]) for im in normal.images)
    side = min(opts.tile, smallest) // unit * unit
    if side < 4 * unit:
        raise FitInputError(f"images too small: smallest side {smallest} px, need at least {4 * unit}")
    return _Geometry(side, side, None)


def _extract(normal: NormalSet, geo: _Geometry, extractor: FeatureExtractor, opts: FitOptions,
             write: Writer) -> list[np.ndarray]:
    """Patch features [T,C,h,w] (float16) per image, with a progress line per image."""
    rng = np.random.default_rng(opts.seed)
    progress = Progress("features", len(normal.images), write)
    out: list[np.ndarray] = []
    for im in normal.images:
        pixels = prepare(im.pixels, geo.resize_height)
        tiles = tiles_of(pixels, geo.height, geo.width, opts.overlap, opts.max_tiles_per_image, rng)
        if opts.method == "padim":
            tiles = tiles[:1]  # aligned view: one tile is the whole image, left-aligned as in the core
        out.append(extractor(tiles).astype(np.float16))
        progress.step(f"{im.path.name} ({len(tiles)} tile{'s' if len(tiles) > 1 else ''})")
    return out


@dataclass
class _Stats:
    gaussian: Gaussian
    bank: np.ndarray | None


def _fit_stats(feats: list[np.ndarray], opts: FitOptions, rng: np.random.Generator) -> _Stats:
    if opts.method == "padim":
        stacked = np.concatenate(feats).astype(np.float32)
        return _Stats(fit_per_position(stacked, max(opts.shrinkage, 0.05)), None)
    sums = FeatureSums.of(feats[0].astype(np.float32))
    for f in feats[1:]:
        sums = sums + FeatureSums.of(f.astype(np.float32))
    gaussian = fit_shared(sums, opts.shrinkage)
    if opts.method == "gaussian":
        return _Stats(gaussian, None)
    per_image = max(1, 20000 // len(feats))
    points = []
    for f in feats:
        z = whiten(f.astype(np.float32), gaussian)
        points.append(z[rng.choice(len(z), min(per_image, len(z)), replace=False)])
    return _Stats(gaussian, greedy_coreset(np.concatenate(points), opts.bank_size, rng))


class _HeadRunner:
    """Runs a head graph on cached patch features (what the deployed model would compute)."""

    def __init__(self, head: onnx.ModelProto, threads: int) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.enable_cpu_mem_arena = False  # one session per fold: give memory back between them
        self.session = ort.InferenceSession(head.SerializeToString(), so, providers=["CPUExecutionProvider"])

    def __call__(self, feats: np.ndarray, batch: int = 4) -> tuple[float, np.ndarray]:
        """Image score (max over its tiles) and the tiles' maps; tiles run a few at a time to bound memory."""
        scores, maps = [], []
        for i in range(0, len(feats), batch):
            score, amap = self.session.run([SCORE, ANOMALY_MAP],
                                           {"patch_features": feats[i:i + batch].astype(np.float32)})
            scores.append(score)
            maps.append(amap)
        return float(np.concatenate(scores).max()), np.concatenate(maps)


def _out_of_fold(feats: list[np.ndarray], opts: FitOptions, shape: tuple[int, int, int],
                 like: onnx.ModelProto, write: Writer) -> tuple[np.ndarray, np.ndarray]:
    """Score every image with a model fitted on the other folds; (image scores, all map values)."""
    n = len(feats)
    k = max(2, min(opts.folds, n))
    rng = np.random.default_rng(opts.seed + 1)
    fold_of = rng.permutation(n) % k
    scores = np.zeros(n)
    maps: list[np.ndarray] = []
    progress = Progress("threshold", k, write)
    for fold in range(k):
        train = [f for f, g in zip(feats, fold_of, strict=True) if g != fold]
        stats = _fit_stats(train, opts, rng)
        runner = _HeadRunner(build_head(opts.method, stats.gaussian, shape, stats.bank, opts.smooth_sigma, like),
                             opts.threads)
        for i in np.flatnonzero(fold_of == fold):
            scores[i], amap = runner(feats[i])
            maps.append(amap.ravel())
        progress.step(f"fold held out {int((fold_of == fold).sum())} image(s)")
    return scores, np.concatenate(maps)


def _card(opts: FitOptions, normal: NormalSet, geo: _Geometry, folder: Path, normal_dir: Path,
          thr: Thresholds, backbone: Backbone, sha: str) -> ModelCard:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    ry, rx = backbone.stride * opts.shrink[0], backbone.stride * opts.shrink[1]
    skipped = f"; {len(normal.skipped)} unreadable skipped: " + ", ".join(p.name for p, _ in normal.skipped) \
        if normal.skipped else ""
    method_text = {
        "knn": "nearest-neighbour distance to a k-center memory bank of normal patches, in the space whitened by "
               "one shared Gaussian (Mahalanobis); for surfaces where a defect can be anywhere",
        "gaussian": "Mahalanobis distance to one shared Gaussian of all normal patches",
        "padim": "Mahalanobis distance to a Gaussian per feature-map position (PaDiM); for aligned views",
    }[opts.method]
    return ModelCard(
        name=opts.name or f"site_{normal_dir.resolve().name}",
        version=opts.version,
        task="anomaly_map",
        description=f"Fitted on site: {method_text}. Backbone {backbone.label}; "
                    + (f"{opts.shrink[0]}x{opts.shrink[1]} (rows x columns) average-pooled in the graph first; "
                       if opts.shrink != (1, 1) else "") +
                    f"3x3 patch neighbourhoods; map smoothed with sigma {opts.smooth_sigma:g}; score = map maximum.",
        input=InputSpec(name="image", height=geo.height, width=geo.width, channels=normal.channels,  # type: ignore[arg-type]
                        bit_depth=normal.bit_depth, scale=255.0 if normal.bit_depth == 8 else 65535.0),  # type: ignore[arg-type]
        outputs=[OutputSpec(name=SCORE, shape="[N]", meaning="Image anomaly score: the largest value of anomaly_map "
                            "(distance of the least normal patch to the normal images)."),
                 OutputSpec(name=ANOMALY_MAP, shape=f"[N,1,{geo.height // ry},{geo.width // rx}]",
                            meaning=(f"Per-patch distance to normal, at 1/{ry} of the input" if ry == rx else
                                     f"Per-patch distance to normal, at 1/{ry} of the input's rows and 1/{rx} "
                                     "of its columns") + ", on the scale of pixel_threshold.")],
        threshold=thr.image,
        pixel_threshold=thr.pixel,
        tiling=TilingSpec(overlap=opts.overlap, resize_to_height=geo.resize_height),
        sha256=sha,
        training_data=f"{len(normal.images)} normal images from {normal_dir} fitted {when}{skipped}. "
                      f"Thresholds: {thr.rule}. Out-of-fold normal scores: median {thr.median:.4g}, "
                      f"Q{opts.quantile:g} {thr.quantile_value:.4g}, max {thr.max_normal:.4g}.",
        metrics=Metrics(held_out_set="No labelled anomalies at fit time; thresholds come from out-of-fold "
                                     f"({min(opts.folds, len(normal.images))}-fold) scores of the normal images.",
                        n_normal=len(normal.images)),
        created_by=f"kouan model fit --normal {normal_dir} --method {opts.method}",
    )


def fit_model(normal_dir: Path, out_dir: Path, opts: FitOptions | None = None,
              write: Writer = stderr_writer) -> FitResult:
    """Fit, choose thresholds, and write model.onnx + card.json into `out_dir`."""
    opts = opts or FitOptions()
    started = time.perf_counter()
    normal = read_normal_set(Path(normal_dir), opts.min_images)
    for path, why in normal.skipped:
        write(f"[read] skipped unreadable image {path.name}: {why}")
    write(f"[read] {len(normal.images)} normal images, {normal.channels} channel(s), {normal.bit_depth}-bit")
    backbone = load_backbone(opts.backbone_dir)
    geo = _geometry(normal, opts, backbone.stride)
    extractor_model = build_extractor(backbone, normal.channels, geo.height, geo.width, opts.shrink)
    extractor = FeatureExtractor(extractor_model, opts.threads)
    feats = _extract(normal, geo, extractor, opts, write)
    shape = tuple(int(d) for d in feats[0].shape[1:])
    scores, map_values = _out_of_fold(feats, opts, shape, extractor_model, write)  # type: ignore[arg-type]
    thr = choose_thresholds(scores, map_values, opts.quantile, opts.margin, opts.pixel_quantile)
    write(f"[threshold] image {thr.image:.4g} (normal median {thr.median:.4g}, max {thr.max_normal:.4g}), "
          f"pixel {thr.pixel:.4g}")
    stats = _fit_stats(feats, opts, np.random.default_rng(opts.seed + 2))
    head = build_head(opts.method, stats.gaussian, shape, stats.bank, opts.smooth_sigma, extractor_model)  # type: ignore[arg-type]
    model = assemble(extractor_model, head, doc=f"kouan model fit ({opts.method}) on {normal_dir}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(out_dir / MODEL_FILE))
    card = _card(opts, normal, geo, out_dir, Path(normal_dir), thr, backbone, sha256_file(out_dir / MODEL_FILE))
    write_card(out_dir, card)
    elapsed = time.perf_counter() - started
    write(f"[done] wrote {out_dir / MODEL_FILE} and {CARD_FILE} in {elapsed:.1f}s")
    oof = {im.path.name: float(s) for im, s in zip(normal.images, scores, strict=True)}
    return FitResult(out_dir, card, thr, oof, normal.skipped, elapsed)
