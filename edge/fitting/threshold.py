"""Decision thresholds chosen from out-of-fold scores of normal images.

Every normal image is scored by a model fitted *without* it (k-fold), so its score is what a
new normal image from the site would get, not the optimistic in-sample one. The image
threshold is a high quantile of those scores plus a margin proportional to their spread:

    threshold = Q_q + margin * (Q_q - median)

so a site with tightly clustered normal scores gets a tight threshold and a noisy site a wide
one, on any distance scale. The pixel threshold uses the same rule on every out-of-fold
anomaly-map value (a higher quantile, since there are many pixels), capped at the image
threshold so a flagged image always has at least one region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Thresholds:
    """The chosen thresholds and the out-of-fold figures they came from."""

    image: float
    pixel: float
    median: float
    quantile_value: float
    max_normal: float
    rule: str


def spread_threshold(values: np.ndarray, quantile: float, margin: float) -> tuple[float, float, float]:
    """(threshold, median, quantile value) of `values` by the rule in the module docstring."""
    q = float(np.quantile(values, quantile))
    med = float(np.median(values))
    return q + margin * max(q - med, 0.0), med, q


def choose_thresholds(image_scores: np.ndarray, map_values: np.ndarray, quantile: float = 0.99,
                      margin: float = 1.0, pixel_quantile: float = 0.999) -> Thresholds:
    """Image and pixel thresholds from out-of-fold normal image scores and anomaly-map values."""
    if len(image_scores) < 2:
        raise ValueError("need at least two out-of-fold scores to choose a threshold")
    image, med, q = spread_threshold(np.asarray(image_scores, np.float64), quantile, margin)
    pixel, _, _ = spread_threshold(np.asarray(map_values, np.float64).ravel(), pixel_quantile, margin)
    pixel = min(pixel, image)
    rule = (f"image: Q{quantile:g} + {margin:g} x (Q{quantile:g} - median) of {len(image_scores)} "
            f"out-of-fold normal image scores; pixel: same rule with Q{pixel_quantile:g} over "
            f"{np.asarray(map_values).size} out-of-fold anomaly-map values, capped at the image threshold")
    return Thresholds(image, pixel, med, q, float(np.max(image_scores)), rule)
