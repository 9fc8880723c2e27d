"""The adoption rule: a candidate replaces the lane's current model only if it does at least as
well on both sets, the lane's held-back clean passes and the shipped canaries.

Figures, each model on the same images at its own card threshold:

- clean: the share of held-back clean passes it flags (lower is better);
- canaries: the share of canaries it flags (recall, higher is better) and the canary AUROC,
  the canaries' scores against the held-back clean passes' (separation, threshold-free).

The candidate is adopted when `clean_flagged <= current + tolerance_clean_flagged`, and
`canary_recall >= current - tolerance_canary_recall`, and `canary_auroc >= current -
tolerance_canary_auroc` (all three tolerances 0 by default: "at least as well"). Where the lane
has no model, the current figures are those of no model at all: it flags nothing, finds no
canary, and ranks nothing (AUROC 0.5); the configured baseline model, when there is one, is
measured like any model.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from edge.normal.canaries import Canary
from edge.normal.config import NormalConfig


class Scorer(Protocol):
    """What the judgement needs of a model: `Detector.infer`."""

    def infer(self, image: np.ndarray) -> Any: ...


def auroc(negatives: Sequence[float], positives: Sequence[float]) -> float:
    """P(a positive scores above a negative), ties counted half (0.5 when either side is empty)."""
    if not len(negatives) or not len(positives):
        return 0.5
    neg = np.asarray(negatives, np.float64)[None, :]
    pos = np.asarray(positives, np.float64)[:, None]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


@dataclass(frozen=True)
class Figures:
    """One model on the held-back clean passes and the canaries."""

    model: str
    threshold: float | None
    clean_n: int
    clean_flagged_n: int
    canary_n: int
    canary_found_n: int
    canary_located_n: int  # found with a flagged region on the canary's mask
    canary_auroc: float
    clean_scores: list[float] = field(default_factory=list)
    canary_scores: list[float] = field(default_factory=list)

    @property
    def clean_flagged(self) -> float:
        return self.clean_flagged_n / self.clean_n if self.clean_n else 0.0

    @property
    def canary_recall(self) -> float:
        return self.canary_found_n / self.canary_n if self.canary_n else 0.0

    def text(self) -> str:
        return (f"{self.model}: flags {self.clean_flagged_n} of {self.clean_n} held-back clean passes "
                f"({self.clean_flagged:.0%}); finds {self.canary_found_n} of {self.canary_n} canaries "
                f"({self.canary_recall:.0%}, {self.canary_located_n} where the mask is), canary AUROC "
                f"{self.canary_auroc:.3f}")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(clean_flagged=round(self.clean_flagged, 4), canary_recall=round(self.canary_recall, 4),
                   canary_auroc=round(self.canary_auroc, 4),
                   clean_scores=[round(s, 5) for s in self.clean_scores],
                   canary_scores=[round(s, 5) for s in self.canary_scores])
        return out


def no_model(clean_n: int, canary_n: int) -> Figures:
    """The figures of no model at all: nothing flagged, no canary found, nothing ranked."""
    return Figures("current: no model", None, clean_n, 0, canary_n, 0, 0, 0.5)


def _on_mask(result: Any, mask: np.ndarray) -> bool:
    for region in result.regions:
        if mask[region.y:region.y + region.height, region.x:region.x + region.width].any():
            return True
    return False


def measure(models: Sequence[tuple[str, Scorer | None]], clean: Iterable[np.ndarray],
            canaries: Sequence[Canary]) -> list[Figures]:
    """Each model's figures; every clean image is decoded once (an iterable) and run by all models."""
    clean_scores: list[list[float]] = [[] for _ in models]
    clean_flags = [0] * len(models)
    n_clean = 0
    for image in clean:
        n_clean += 1
        for i, (_, model) in enumerate(models):
            if model is not None:
                result = model.infer(image)
                clean_scores[i].append(float(result.score))
                clean_flags[i] += bool(result.flagged)
    out = []
    for i, (label, model) in enumerate(models):
        if model is None:
            out.append(no_model(n_clean, len(canaries)))
            continue
        results = [model.infer(c.image) for c in canaries]
        scores = [float(r.score) for r in results]
        out.append(Figures(
            label, float(results[0].threshold) if results else None, n_clean, clean_flags[i], len(canaries),
            sum(bool(r.flagged) for r in results),
            sum(bool(r.flagged) and _on_mask(r, c.mask) for r, c in zip(results, canaries, strict=True)),
            auroc(clean_scores[i], scores), clean_scores[i], scores))
    return out


@dataclass(frozen=True)
class Judgement:
    """The rule applied: adopted or not, the figures of both models, what failed."""

    adopted: bool
    candidate: Figures
    current: Figures
    failed: list[str]

    def text(self) -> str:
        verdict = "adopted" if self.adopted else "refused: " + "; ".join(self.failed)
        return f"{verdict}. {self.candidate.text()}. {self.current.text()}."

    def as_dict(self) -> dict[str, Any]:
        return {"adopted": self.adopted, "failed": self.failed, "candidate": self.candidate.as_dict(),
                "current": self.current.as_dict(), "rule": RULE}


RULE = ("adopted only if, on the same held-back clean passes and canaries, it flags no larger a share of the "
        "clean passes, finds no smaller a share of the canaries and separates them no worse (canary AUROC) than "
        "the current model, within the configured tolerances")


def judge(candidate: Figures, current: Figures, config: NormalConfig) -> Judgement:
    """Apply the rule (module docstring)."""
    failed = []
    if candidate.clean_flagged > current.clean_flagged + config.tolerance_clean_flagged + 1e-9:
        failed.append(f"it flags {candidate.clean_flagged:.0%} of the held-back clean passes, the current model "
                      f"{current.clean_flagged:.0%}")
    if candidate.canary_recall < current.canary_recall - config.tolerance_canary_recall - 1e-9:
        failed.append(f"it finds {candidate.canary_recall:.0%} of the canaries, the current model "
                      f"{current.canary_recall:.0%}")
    if candidate.canary_auroc < current.canary_auroc - config.tolerance_canary_auroc - 1e-9:
        failed.append(f"its canary AUROC is {candidate.canary_auroc:.3f}, the current model's "
                      f"{current.canary_auroc:.3f}")
    return Judgement(not failed, candidate, current, failed)
