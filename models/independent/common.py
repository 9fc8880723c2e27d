"""Small numeric helpers shared by the independent evaluation generators.

EVALUATION ONLY: images built with this package are for measuring models, never for
training them, tuning them or choosing between them.
"""

from __future__ import annotations

from functools import lru_cache
from statistics import NormalDist

import cv2
import numpy as np


def rng_streams(seed: int, tag: int, n: int) -> list[np.random.Generator]:
    """`n` independent generators for one seed, so that one stream's draws never shift another's."""
    children = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(seed) >> 32, tag]).spawn(n)
    return [np.random.default_rng(child) for child in children]


@lru_cache(maxsize=1)
def _normal_table() -> np.ndarray:
    """Standard-normal quantiles at the centres of 65536 equal-probability bins."""
    inv = NormalDist().inv_cdf
    return np.array([inv((k + 0.5) / 65536.0) for k in range(65536)], np.float32)


def fast_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard-normal float32 noise (quantised to 65536 levels), about twice as fast as numpy's.

    Per-pixel sensor noise on 8-megapixel images is most of a render's time.
    """
    n = int(np.prod(shape))
    idx = np.frombuffer(rng.bytes(2 * n), dtype=np.uint16)
    return _normal_table()[idx].reshape(shape)


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], cell_px: float) -> np.ndarray:
    """Zero-mean, roughly unit-variance noise that varies over about `cell_px` pixels (float32)."""
    h, w = shape
    gh = max(2, int(np.ceil(h / max(cell_px, 1.0))) + 2)
    gw = max(2, int(np.ceil(w / max(cell_px, 1.0))) + 2)
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def smooth_curve(rng: np.random.Generator, n: int, knots: int) -> np.ndarray:
    """A smooth 1-D curve of `n` samples through `knots` random values in [-1, 1] (float64)."""
    values = rng.uniform(-1.0, 1.0, size=max(2, knots))
    return curve_from_knots(values, n)


def curve_from_knots(values: np.ndarray | tuple[float, ...], n: int) -> np.ndarray:
    """Cubic resampling of knot values to `n` samples, knots spread evenly over the length."""
    column = np.asarray(values, dtype=np.float32).reshape(-1, 1)
    if len(column) < 2:
        return np.full(n, float(column[0, 0]) if len(column) else 0.0)
    out = cv2.resize(column, (1, n), interpolation=cv2.INTER_CUBIC)[:, 0]
    return out.astype(np.float64)


def to_uint8(unit: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (clipped) to 8-bit grey."""
    return cv2.multiply(unit, 255.0, dtype=cv2.CV_8U)  # rounds and saturates


def to_uint16(unit: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (clipped) to 16-bit grey."""
    return cv2.multiply(unit, 65535.0, dtype=cv2.CV_16U)  # rounds and saturates
