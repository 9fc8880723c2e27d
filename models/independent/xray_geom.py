"""Metres to pixels for the side-view X-ray, and area-weighted drawing into an attenuation map.

The attenuation map holds the line integral of the attenuation coefficient along each ray
(dimensionless, so transmission = exp(-A)). Thin steel members are only a few pixels wide, so
rectangles are added with their exact pixel coverage rather than snapped to whole pixels.
Coordinates: x along the container (metres from the image's left edge), z height above ground.

EVALUATION ONLY: never train, tune or select models on these images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class XGeom:
    """Image size and scale: `sx` columns per metre along, `sy` rows per metre of height."""

    height: int
    width: int
    sx: float
    sy: float

    def colf(self, x_m: float) -> float:
        return x_m * self.sx

    def rowf(self, z_m: float) -> float:
        return self.height - z_m * self.sy

    def col_centres_m(self, c0: int, c1: int) -> np.ndarray:
        return (np.arange(c0, c1) + 0.5) / self.sx

    def row_centres_m(self, r0: int, r1: int) -> np.ndarray:
        return (self.height - (np.arange(r0, r1) + 0.5)) / self.sy


def _coverage(p0: float, p1: float, n: int) -> tuple[int, np.ndarray]:
    """First pixel index and each pixel's covered fraction of the span [p0, p1) in pixel units."""
    lo, hi = min(p0, p1), max(p0, p1)
    i0, i1 = max(0, int(np.floor(lo))), min(n, int(np.ceil(hi)))
    if i1 <= i0:
        return i0, np.zeros(0, np.float32)
    idx = np.arange(i0, i1, dtype=np.float64)
    frac = np.minimum(idx + 1.0, hi) - np.maximum(idx, lo)
    return i0, np.clip(frac, 0.0, 1.0).astype(np.float32)


def add_rect(a: np.ndarray, g: XGeom, x0: float, x1: float, z0: float, z1: float, value: float) -> None:
    """Adds `value` over the box [x0, x1] x [z0, z1], weighted by pixel coverage."""
    c0, wc = _coverage(g.colf(x0), g.colf(x1), g.width)
    r0, wr = _coverage(g.rowf(z1), g.rowf(z0), g.height)
    if wc.size and wr.size:
        a[r0 : r0 + wr.size, c0 : c0 + wc.size] += value * wr[:, None] * wc[None, :]


def add_profile_x(a: np.ndarray, g: XGeom, x0: float, x1: float, z0: float, z1: float,
                  fn: Callable[[np.ndarray], np.ndarray]) -> None:
    """Adds `fn(x)` (a value per column, x in metres) over the box, weighted by coverage."""
    c0, wc = _coverage(g.colf(x0), g.colf(x1), g.width)
    r0, wr = _coverage(g.rowf(z1), g.rowf(z0), g.height)
    if wc.size and wr.size:
        vals = fn(g.col_centres_m(c0, c0 + wc.size)).astype(np.float32)
        a[r0 : r0 + wr.size, c0 : c0 + wc.size] += wr[:, None] * (wc * vals)[None, :]


def add_profile_z(a: np.ndarray, g: XGeom, x0: float, x1: float, z0: float, z1: float,
                  fn: Callable[[np.ndarray], np.ndarray]) -> None:
    """Adds `fn(z)` (a value per row, z in metres) over the box, weighted by coverage."""
    c0, wc = _coverage(g.colf(x0), g.colf(x1), g.width)
    r0, wr = _coverage(g.rowf(z1), g.rowf(z0), g.height)
    if wc.size and wr.size:
        vals = fn(g.row_centres_m(r0, r0 + wr.size)).astype(np.float32)
        a[r0 : r0 + wr.size, c0 : c0 + wc.size] += (wr * vals)[:, None] * wc[None, :]


def add_ellipse(a: np.ndarray, g: XGeom, x: float, z: float, rx: float, rz: float, value: float) -> None:
    """Adds `value` inside an ellipse (drawn at 4x and averaged down, for soft edges)."""
    pad = 2
    c0, c1 = int(np.floor(g.colf(x - rx))) - pad, int(np.ceil(g.colf(x + rx))) + pad
    r0, r1 = int(np.floor(g.rowf(z + rz))) - pad, int(np.ceil(g.rowf(z - rz))) + pad
    c0c, c1c, r0c, r1c = max(0, c0), min(g.width, c1), max(0, r0), min(g.height, r1)
    if c1c <= c0c or r1c <= r0c:
        return
    k = 4
    big = np.zeros(((r1 - r0) * k, (c1 - c0) * k), np.float32)
    centre = (int(round((g.colf(x) - c0) * k)), int(round((g.rowf(z) - r0) * k)))
    axes = (max(1, int(round(rx * g.sx * k))), max(1, int(round(rz * g.sy * k))))
    cv2.ellipse(big, centre, axes, 0, 0, 360, 1.0, -1)
    small = cv2.resize(big, (c1 - c0, r1 - r0), interpolation=cv2.INTER_AREA)
    a[r0c:r1c, c0c:c1c] += value * small[r0c - r0 : r1c - r0, c0c - c0 : c1c - c0]


def add_map(a: np.ndarray, g: XGeom, x0: float, x1: float, z0: float, z1: float,
            fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
    """Adds `fn(X, Z)` (2-D metre grids of the box's pixel centres) over the box."""
    c0, c1 = max(0, int(np.floor(g.colf(x0)))), min(g.width, int(np.ceil(g.colf(x1))))
    r0, r1 = max(0, int(np.floor(g.rowf(z1)))), min(g.height, int(np.ceil(g.rowf(z0))))
    if c1 <= c0 or r1 <= r0:
        return
    xs, zs = g.col_centres_m(c0, c1), g.row_centres_m(r0, r1)
    a[r0:r1, c0:c1] += fn(xs[None, :], zs[:, None]).astype(np.float32)
