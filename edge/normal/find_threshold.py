"""Lower a refit candidate's threshold to catch the lane's confirmed finds.

The fit's threshold rule, `Q + margin x (Q - median)` of out-of-fold clean scores, knows only
clean passes, so its margin has to guard against every clean pass it has not seen; on patch
distances with a high floor that can sit above most of what an object adds (a container lane's
own fit on independent X-rays: AUROC 0.975, but 16 % of the containers with objects flagged).
Once the lane holds confirmed finds (`finds.py`), the candidate scores them and its threshold
becomes

    threshold = max(Q, min(rule, quantile(find scores, find_quantile)))

never higher than the rule, never lower than Q itself (the rule with margin 0: about the
highest out-of-fold clean score), and low enough to catch at least 1 - find_quantile of the
finds where Q allows it. Only a candidate that tells the finds from clean passes gets it: the
finds' AUROC against the out-of-fold clean scores must reach `min_auroc`; below it, lowering
the threshold buys alarms, not finds (a lane fit on independent undercarriages, AUROC 0.57:
lowered, it flagged 8 % of clean vehicles instead of 4 % and 10 % of the loaded ones instead of
6 %), and the rule's threshold stays. The judgement that follows is unchanged: a candidate that
now flags more held-back clean passes than the current model is refused.
A re-calibrated candidate (`refit = "calibrate"`) is treated the same way, with the scores of
the clean passes it was calibrated on in place of out-of-fold ones and the calibration's Q.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.inference.card import load_card, round_threshold, write_card
from edge.inference.config import InferenceConfig
from edge.inference.core import Detector
from edge.normal.judge import auroc


@dataclass(frozen=True)
class FindThreshold:
    """What the finds did to a candidate's threshold, and the figures it came from."""

    finds: int
    rule: float  # the candidate's threshold before the finds
    floor: float  # Q of the clean scores the threshold came from
    target: float  # quantile(find scores, find_quantile)
    threshold: float  # the candidate's threshold now
    quantile: float
    caught: int  # finds at or above the new threshold
    auroc: float  # the finds against those clean scores
    min_auroc: float
    scores: list[float]

    @property
    def lowered(self) -> bool:
        return self.threshold < self.rule

    def text(self) -> str:
        if self.auroc < self.min_auroc:
            return (f"threshold kept at {self.rule:.4g}: the candidate does not tell the {self.finds} confirmed finds "
                    f"from clean passes (AUROC {self.auroc:.3f} < {self.min_auroc:g}); it catches {self.caught} of "
                    f"{self.finds}")
        move = (f"lowered from {self.rule:.4g} to {self.threshold:.4g}" if self.lowered
                else f"kept at {self.rule:.4g}")
        return (f"threshold {move} by {self.finds} confirmed finds (AUROC {self.auroc:.3f} against clean passes, "
                f"their Q{self.quantile:g} {self.target:.4g}, floor Q {self.floor:.4g}); it catches {self.caught} "
                f"of {self.finds}")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["scores"] = [round(s, 5) for s in self.scores]
        out["auroc"] = round(self.auroc, 4)
        return out


def lowered_threshold(rule: float, floor: float, find_scores: Iterable[float], quantile: float) -> tuple[float, float]:
    """(threshold, target) by the rule in the module docstring."""
    target = float(np.quantile(np.asarray(list(find_scores), np.float64), quantile))
    return max(floor, min(rule, target)), target


def lower_to_finds(folder: Path, finds: Iterable[np.ndarray], clean_scores: Sequence[float], floor: float,
                   quantile: float, min_auroc: float, threads: int = 2) -> FindThreshold:
    """Score `finds` with the model in `folder` and rewrite its card's threshold (pixel threshold
    capped at it) when the finds lower it; `clean_scores` are the clean scores the threshold came from
    and `floor` their Q. What was done."""
    detector = Detector.load(folder, InferenceConfig(intra_op_threads=threads))
    scores = [float(detector.infer(image).score) for image in finds]
    if not scores:
        raise ValueError("no finds to lower a threshold to")
    card = load_card(folder)
    rule = float(card.threshold)
    threshold, target = lowered_threshold(rule, floor, scores, quantile)
    separation = auroc(clean_scores, scores)
    if separation < min_auroc or threshold > rule:  # a calibration capped under its Q: the cap stays
        threshold = rule
    if threshold < rule:
        card.threshold = round_threshold(threshold)
        threshold = card.threshold
        if card.pixel_threshold is not None:
            card.pixel_threshold = min(card.pixel_threshold, card.threshold)
    done = FindThreshold(len(scores), rule, floor, target, threshold, quantile,
                         sum(s >= threshold for s in scores), separation, min_auroc, scores)
    if done.lowered:
        card.description = f"{card.description} Lane finds: {done.text()}."
        write_card(folder, card)
    return done
