"""Fit an anomaly model on a site's own normal images: no labels, no torch, no GPU.

Steps: read the folder (unreadable files named and skipped) -> cut the images into the tiles
the core will feed the model -> patch features from a shipped backbone (the filter bank or
EfficientNet-Lite0), and of one tile per image with a synthetic defect painted on (the probe)
-> k-fold: fit each candidate head on the other folds, score the held-out fold and its probes
with the real head graph -> the head picked by probe AUROC (`auto`) or as asked -> thresholds
from its out-of-fold clean scores -> fit on all images -> one ONNX graph + card.json.
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
from edge.fitting.defects import add_defect
from edge.fitting.folds import (
    AUTO_METHODS,
    FoldScores,
    HeadSettings,
    Probe,
    fit_stats,
    head_graph,
    out_of_fold,
    pick,
)
from edge.fitting.graph import ANOMALY_MAP, SCORE, assemble
from edge.fitting.images import (
    FitInputError,
    NormalSet,
    prepare,
    read_normal_set,
    tiles_of,
)
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

Method = Literal["knn", "gaussian", "padim", "patchcore", "auto"]
BackboneName = Literal["filterbank", "lite0"]
PROBE_DEFECTS = ("scratch", "blob", "tone_change", "smudge")  # need no second material


@dataclass
class FitOptions:
    """How to fit; defaults suit a textured surface seen by a fixed camera or line scanner."""

    method: Method = "auto"
    backbone: BackboneName = "filterbank"
    tile: int = 256
    size: int = 256
    overlap: int = 32
    max_tiles_per_image: int = 16
    folds: int = 5
    quantile: float = 0.99
    margin: float = 2.5  # chosen on selection photographs (models/backbone/README.md, "Threshold rule")
    pixel_quantile: float = 0.999
    bank_size: int = 256  # knn: k-center bank of whitened patches
    coreset_fraction: float = 0.1  # patchcore: share of all patches kept ...
    coreset_max: int = 512  # ... at most this many (the lane's cost grows with it; 1024 measured no better)
    projection: int = 0  # patchcore: random projection to this many dims first (0: none)
    neighbours: int = 1  # patchcore: mean distance to this many nearest bank patches
    smooth_sigma: float = 1.0
    shrinkage: float = 0.01
    min_images: int = 10
    threads: int = 2
    seed: int = 0
    name: str | None = None
    version: str = "1.0.0"
    backbone_dir: Path | None = None  # folder holding the backbone files (default models/backbone)
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
    method: str = "knn"  # the head written (the one picked with --method auto)
    quality: dict[str, float] = field(default_factory=dict)  # head -> out-of-fold probe AUROC
    folds: FoldScores | None = None  # the written head's out-of-fold scores (clean, probed, map values)


@dataclass
class _Geometry:
    height: int
    width: int
    resize_height: int | None


def _geometry(normal: NormalSet, opts: FitOptions, backbone: Backbone) -> _Geometry:
    """Tile size: for aligned views the whole (resized) image; for surfaces a square tile (of
    `tile` working pixels: with a shrink, `tile * sy` rows by `tile * sx` columns of the image)."""
    unit = max(8, backbone.stride * 2, backbone.multiple_of)
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
             write: Writer) -> tuple[list[np.ndarray], list[Probe]]:
    """Patch features [T,C,h,w] (float16) per image and its probe, with a progress line per image."""
    rng = np.random.default_rng(opts.seed)
    progress = Progress("features", len(normal.images), write)
    out: list[np.ndarray] = []
    probes: list[Probe] = []
    for i, im in enumerate(normal.images):
        pixels = prepare(im.pixels, geo.resize_height)
        tiles = tiles_of(pixels, geo.height, geo.width, opts.overlap, opts.max_tiles_per_image, rng)
        if opts.method == "padim":
            tiles = tiles[:1]  # aligned view: one tile is the whole image, left-aligned as in the core
        at = int(rng.integers(len(tiles)))
        painted, _ = add_defect(tiles[at].transpose(1, 2, 0), PROBE_DEFECTS[i % len(PROBE_DEFECTS)], rng)
        feats = extractor([*tiles, np.ascontiguousarray(painted.transpose(2, 0, 1))])
        out.append(feats[:-1].astype(np.float16))
        probes.append(Probe(at, feats[-1:].astype(np.float16)))
        progress.step(f"{im.path.name} ({len(tiles)} tile{'s' if len(tiles) > 1 else ''})")
    return out, probes


def _settings(opts: FitOptions) -> HeadSettings:
    return HeadSettings(opts.bank_size, opts.coreset_fraction, opts.coreset_max, opts.projection, opts.neighbours,
                        opts.shrinkage, opts.smooth_sigma, opts.threads)


METHOD_TEXT = {
    "knn": "nearest-neighbour distance to a k-center memory bank of normal patches, in the space whitened by "
           "one shared Gaussian (Mahalanobis); for surfaces where a defect can be anywhere",
    "patchcore": "PatchCore: nearest-neighbour distance to a greedy k-center coreset of the normal patch "
                 "features as they are",
    "gaussian": "Mahalanobis distance to one shared Gaussian of all normal patches",
    "padim": "Mahalanobis distance to a Gaussian per feature-map position (PaDiM); for aligned views",
}


def _card(opts: FitOptions, method: str, normal: NormalSet, geo: _Geometry, normal_dir: Path, thr: Thresholds,
          backbone: Backbone, sha: str, scores: dict[str, FoldScores]) -> ModelCard:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    ry, rx = backbone.stride * opts.shrink[0], backbone.stride * opts.shrink[1]
    skipped = f"; {len(normal.skipped)} unreadable skipped: " + ", ".join(p.name for p, _ in normal.skipped) \
        if normal.skipped else ""
    taps = " + ".join(f"stride {t.stride}" for t in backbone.taps)
    picked = (f" Picked by --method auto from {', '.join(f'{m} {s.quality:.3f}' for m, s in scores.items())} "
              "(out-of-fold probe AUROC)." if opts.method == "auto" else "")
    folds = min(opts.folds, len(normal.images))
    return ModelCard(
        name=opts.name or f"site_{normal_dir.resolve().name}",
        version=opts.version,
        task="anomaly_map",
        description=f"Fitted on site: {METHOD_TEXT[method]}.{picked} Backbone {backbone.label} ({taps}); "
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
                                     f"({folds}-fold) scores of the normal images. Out-of-fold AUROC "
                                     f"{scores[method].quality:.3f} against the same images with one tile each "
                                     f"given a synthetic {', '.join(PROBE_DEFECTS)} (in turn).",
                        n_normal=len(normal.images)),
        created_by=f"kouan model fit --normal {normal_dir} --backbone {opts.backbone} --method {opts.method}",
    )


def fit_model(normal_dir: Path, out_dir: Path, opts: FitOptions | None = None,
              write: Writer = stderr_writer) -> FitResult:
    """Fit, choose the head and thresholds, and write model.onnx + card.json into `out_dir`."""
    opts = opts or FitOptions()
    started = time.perf_counter()
    normal = read_normal_set(Path(normal_dir), opts.min_images)
    for path, why in normal.skipped:
        write(f"[read] skipped unreadable image {path.name}: {why}")
    write(f"[read] {len(normal.images)} normal images, {normal.channels} channel(s), {normal.bit_depth}-bit")
    backbone = load_backbone(opts.backbone_dir, opts.backbone)
    geo = _geometry(normal, opts, backbone)
    extractor_model = build_extractor(backbone, normal.channels, geo.height, geo.width, opts.shrink)
    extractor = FeatureExtractor(extractor_model, opts.threads)
    feats, probes = _extract(normal, geo, extractor, opts, write)
    shape = tuple(int(d) for d in feats[0].shape[1:])
    cfg = _settings(opts)
    methods = AUTO_METHODS if opts.method == "auto" else (opts.method,)
    scores = out_of_fold(feats, probes, methods, opts.folds, opts.seed, cfg, shape,  # type: ignore[arg-type]
                         extractor_model, write)
    method = pick(scores)
    if opts.method == "auto":
        write(f"[pick] {method} (" + ", ".join(f"{m} {s.quality:.3f}" for m, s in scores.items())
              + " out-of-fold probe AUROC)")
    chosen = scores[method]
    thr = choose_thresholds(chosen.clean, chosen.map_values, opts.quantile, opts.margin, opts.pixel_quantile)
    write(f"[threshold] image {thr.image:.4g} (normal median {thr.median:.4g}, max {thr.max_normal:.4g}), "
          f"pixel {thr.pixel:.4g}")
    stats = fit_stats(method, feats, cfg, np.random.default_rng(opts.seed + 2))
    head = head_graph(method, stats, shape, cfg, extractor_model)  # type: ignore[arg-type]
    model = assemble(extractor_model, head, doc=f"kouan model fit ({method}) on {normal_dir}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(out_dir / MODEL_FILE))
    card = _card(opts, method, normal, geo, Path(normal_dir), thr, backbone, sha256_file(out_dir / MODEL_FILE), scores)
    write_card(out_dir, card)
    elapsed = time.perf_counter() - started
    write(f"[done] wrote {out_dir / MODEL_FILE} and {CARD_FILE} in {elapsed:.1f}s")
    oof = {im.path.name: float(s) for im, s in zip(normal.images, chosen.clean, strict=True)}
    return FitResult(out_dir, card, thr, oof, normal.skipped, elapsed, method,
                     {m: s.quality for m, s in scores.items()}, chosen)
