"""Out-of-fold scoring of the normal images, and the pick between heads by measured quality.

Every normal image is scored by a head fitted on the other folds, through the real head graph
(onnxruntime), so thresholds are chosen on the numbers the deployed model will produce. The
same folds also score a probe per image: one of its tiles with a synthetic defect painted on
(a scratch, a stain, a tone change or a smudge from edge.fitting.defects, in turn), the image
scored as the maximum over its other tiles and the defective one. The AUROC of clean against
probed out-of-fold scores is the head's measured quality on this site's own surface; with
`--method auto` the best head is kept (a head within `TIE` of the best and cheaper wins).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnx

from edge.fitting.gaussian import FeatureSums, Gaussian, fit_per_position, fit_shared
from edge.fitting.graph import ANOMALY_MAP, SCORE, build_head
from edge.fitting.memory_bank import greedy_coreset, whiten
from edge.fitting.patchcore import fit_patch_bank
from edge.fitting.progress import Progress, Writer

# heads --method auto chooses between, cheapest first (padim needs whole aligned views)
AUTO_METHODS = ("gaussian", "knn", "patchcore")
TIE = 0.01


@dataclass(frozen=True)
class HeadSettings:
    """The knobs of the heads (from FitOptions)."""

    bank_size: int = 256
    coreset_fraction: float = 0.1
    coreset_max: int = 512
    projection: int = 0
    neighbours: int = 1
    shrinkage: float = 0.01
    smooth_sigma: float = 1.0
    threads: int = 2


@dataclass
class HeadStats:
    """What a head is built from: a Gaussian (knn/gaussian/padim) and/or a bank (knn/patchcore)."""

    gaussian: Gaussian | None
    bank: np.ndarray | None
    projection: np.ndarray | None = None
    neighbours: int = 1


def fit_stats(method: str, feats: list[np.ndarray], cfg: HeadSettings, rng: np.random.Generator) -> HeadStats:
    """Statistics of `method`'s head from patch features [T,C,h,w] per image."""
    if method == "padim":
        stacked = np.concatenate(feats).astype(np.float32)
        return HeadStats(fit_per_position(stacked, max(cfg.shrinkage, 0.05)), None)
    if method == "patchcore":
        pb = fit_patch_bank(feats, cfg.coreset_fraction, cfg.coreset_max, rng, cfg.projection, cfg.neighbours)
        return HeadStats(None, pb.bank, pb.projection, pb.neighbours)
    sums = FeatureSums.of(feats[0].astype(np.float32))
    for f in feats[1:]:
        sums = sums + FeatureSums.of(f.astype(np.float32))
    gaussian = fit_shared(sums, cfg.shrinkage)
    if method == "gaussian":
        return HeadStats(gaussian, None)
    per_image = max(1, 20000 // len(feats))
    points = []
    for f in feats:
        z = whiten(f.astype(np.float32), gaussian)
        points.append(z[rng.choice(len(z), min(per_image, len(z)), replace=False)])
    return HeadStats(gaussian, greedy_coreset(np.concatenate(points), cfg.bank_size, rng))


def head_graph(method: str, stats: HeadStats, shape: tuple[int, int, int], cfg: HeadSettings,
               like: onnx.ModelProto) -> onnx.ModelProto:
    """The head graph of `method` for `stats`."""
    return build_head(method, stats.gaussian, shape, stats.bank, cfg.smooth_sigma, like, stats.projection,
                      stats.neighbours)


class HeadRunner:
    """Runs a head graph on cached patch features (what the deployed model would compute)."""

    def __init__(self, head: onnx.ModelProto, threads: int) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.enable_cpu_mem_arena = False  # one session per fold: give memory back between them
        self.session = ort.InferenceSession(head.SerializeToString(), so, providers=["CPUExecutionProvider"])

    def __call__(self, feats: np.ndarray, batch: int = 4) -> tuple[np.ndarray, np.ndarray]:
        """Per-tile scores [T] and maps [T,1,h,w]; tiles run a few at a time to bound memory."""
        scores, maps = [], []
        for i in range(0, len(feats), batch):
            score, amap = self.session.run([SCORE, ANOMALY_MAP],
                                           {"patch_features": feats[i:i + batch].astype(np.float32)})
            scores.append(score)
            maps.append(amap)
        return np.concatenate(scores), np.concatenate(maps)


@dataclass(frozen=True)
class Probe:
    """One image's defective tile: which tile it replaces and its patch features [1,C,h,w]."""

    tile: int
    feats: np.ndarray


@dataclass
class FoldScores:
    """Out-of-fold image scores of one head: clean, probed (defect painted on), all map values."""

    clean: np.ndarray
    probed: np.ndarray
    map_values: np.ndarray

    @property
    def quality(self) -> float:
        """AUROC of probed against clean scores (ties count half)."""
        return auroc(self.clean, self.probed)


def auroc(normal: np.ndarray, anomalous: np.ndarray) -> float:
    """Probability that an anomalous score exceeds a normal one (ties count half)."""
    a, n = np.asarray(anomalous)[:, None], np.asarray(normal)[None, :]
    return float((a > n).mean() + 0.5 * (a == n).mean())


def out_of_fold(feats: list[np.ndarray], probes: Sequence[Probe], methods: Sequence[str], folds: int, seed: int,
                cfg: HeadSettings, shape: tuple[int, int, int], like: onnx.ModelProto,
                write: Writer) -> dict[str, FoldScores]:
    """Score every image and its probe with each head fitted on the other folds."""
    n = len(feats)
    k = max(2, min(folds, n))
    fold_of = np.random.default_rng(seed + 1).permutation(n) % k
    out: dict[str, FoldScores] = {}
    for method in methods:
        rng = np.random.default_rng(seed + 1)
        clean, probed = np.zeros(n), np.zeros(n)
        maps: list[np.ndarray] = []
        progress = Progress(f"folds {method}", k, write)
        for fold in range(k):
            train = [f for f, g in zip(feats, fold_of, strict=True) if g != fold]
            runner = HeadRunner(head_graph(method, fit_stats(method, train, cfg, rng), shape, cfg, like), cfg.threads)
            for i in np.flatnonzero(fold_of == fold):
                tiles, amap = runner(feats[i])
                maps.append(amap.ravel())
                clean[i] = tiles.max()
                others = np.delete(tiles, probes[i].tile)
                probe_score, _ = runner(probes[i].feats)
                probed[i] = max(float(probe_score[0]), float(others.max()) if len(others) else -np.inf)
            progress.step(f"fold held out {int((fold_of == fold).sum())} image(s)")
        out[method] = FoldScores(clean, probed, np.concatenate(maps))
        progress.note(f"out-of-fold AUROC on probes {out[method].quality:.3f}")
    return out


def pick(scores: dict[str, FoldScores]) -> str:
    """The head with the best probe AUROC; one within TIE of it that comes first (cheaper) wins."""
    best = max(s.quality for s in scores.values())
    return next(m for m, s in scores.items() if s.quality >= best - TIE)
