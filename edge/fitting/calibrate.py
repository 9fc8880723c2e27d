"""Re-pick a shipped model's decision threshold on a site's own clean images.

A shipped model's threshold was set at 2 % false positives on validation images made with the
training range of device conditions. A lane whose scanner is blurrier, noisier or stripier
than that sees many more false alarms at the same threshold, even where the model still ranks
anomalies above normal images. This scores the site's normal images with the model as the
core runs it and writes a copy of the model folder whose card carries a threshold from those
scores; the ONNX file is copied unchanged, so its hash still matches.

    threshold = Q_q + margin * (Q_q - median) of the site's normal image scores

(the same rule as `kouan model fit`, with a smaller default margin since shipped scores are
probabilities in [0, 1]), kept below 1 for such a model (its card threshold and every clean
score at most 1); a fitted model's scores are distances, and its threshold is not capped. The
pixel threshold is capped at the new image threshold so a flagged image always has a region.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.fitting.images import FitInputError, read_normal_set
from edge.fitting.threshold import spread_threshold
from edge.inference.card import ModelCard, round_threshold, write_card
from edge.inference.config import InferenceConfig
from edge.inference.core import Detector

log = logging.getLogger(__name__)

MAX_THRESHOLD = 0.999


@dataclass
class Calibration:
    """What was written and the figures behind it."""

    folder: Path
    card: ModelCard
    old_threshold: float
    scores: list[float]
    flagged_before: int
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0


def calibrate_model(model: str | Path, normal_dir: Path, out: Path, quantile: float = 0.98, margin: float = 0.25,
                    min_images: int = 20, name: str | None = None, models_dir: Path | None = None,
                    threads: int = 2) -> Calibration:
    """Score `normal_dir` with `model`; write `out` = the model with a site threshold on its card."""
    if not 0.5 <= quantile < 1.0:
        raise FitInputError(f"--quantile {quantile}: must be in [0.5, 1)")
    if margin < 0:
        raise FitInputError(f"--margin {margin}: must be >= 0")
    t0 = time.perf_counter()
    detector = Detector.load(model, InferenceConfig(intra_op_threads=threads), models_dir=models_dir)
    card = detector.card
    normal = read_normal_set(normal_dir, min_images)
    scores = []
    for i, image in enumerate(normal.images):
        scores.append(detector.infer(image.pixels).score)
        log.info("calibrate: scored %d/%d images", i + 1, len(normal.images))
    values = np.asarray(scores, np.float64)
    threshold, median, q = spread_threshold(values, quantile, margin)
    if card.threshold <= 1.0 and float(values.max()) <= 1.0:  # probabilities: a threshold of 1 flags nothing
        threshold = min(threshold, MAX_THRESHOLD)
    flagged_before = int((values >= card.threshold).sum())
    out.mkdir(parents=True, exist_ok=True)
    if (out / "model.onnx").resolve() != (detector.folder / "model.onnx").resolve():
        shutil.copyfile(detector.folder / "model.onnx", out / "model.onnx")
    rule = (f"Site threshold {threshold:.4g} = Q{quantile:g} ({q:.4g}) + {margin:g} x (Q{quantile:g} - median "
            f"{median:.4g}) of the scores of {len(scores)} clean images from {normal_dir} (was {card.threshold:.4g}, "
            f"which flagged {flagged_before} of them).")
    new = card.model_copy(deep=True)
    new.name = name or f"{card.name}_site"
    new.threshold = round_threshold(threshold)
    if new.pixel_threshold is not None:
        new.pixel_threshold = min(new.pixel_threshold, new.threshold)
    new.description = f"{card.description} {rule}"
    new.created_by = f"kouan model calibrate {card.name} --normal {normal_dir}"
    write_card(out, new)
    log.info("calibrate: %s", rule)
    return Calibration(out, new, card.threshold, scores, flagged_before, normal.skipped, time.perf_counter() - t0)
