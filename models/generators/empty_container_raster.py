"""Anti-aliased drawing of attenuation (log domain, -ln transmission; 0 = air) for container scans.

Rectangles with edge coverage (thin lines stay visible) and radial profiles inside ellipses.
"""

from __future__ import annotations

import numpy as np


def cover(a0: float, a1: float, n: int) -> tuple[int, np.ndarray]:
    """First index and per-pixel coverage of the interval [a0, a1) on a 0..n pixel axis."""
    a0, a1 = max(a0, 0.0), min(a1, float(n))
    if a1 <= a0:
        return 0, np.zeros(0, np.float32)
    i0, i1 = int(np.floor(a0)), int(np.ceil(a1))
    edges = np.arange(i0, i1 + 1, dtype=np.float32)
    cov = np.minimum(edges[1:], a1) - np.maximum(edges[:-1], a0)
    return i0, np.clip(cov, 0, 1).astype(np.float32)


def rect(img: np.ndarray, y0: float, y1: float, x0: float, x1: float, mu: float | np.ndarray) -> None:
    """Add `mu` over a rectangle, edge pixels weighted by their coverage (thin lines stay visible).

    `mu` may be a scalar, a row profile (len = covered rows) or a column profile."""
    h, w = img.shape
    if y1 - y0 < 0.6:  # keep sub-pixel lines: spread the same integral over one pixel
        mu, c = mu * (y1 - y0) / 0.6, (y0 + y1) / 2
        y0, y1 = c - 0.3, c + 0.3
    if x1 - x0 < 0.6:
        mu, c = mu * (x1 - x0) / 0.6, (x0 + x1) / 2
        x0, x1 = c - 0.3, c + 0.3
    ya, cy = cover(y0, y1, h)
    xa, cx = cover(x0, x1, w)
    if cy.size == 0 or cx.size == 0:
        return
    img[ya:ya + cy.size, xa:xa + cx.size] += np.float32(1) * np.outer(cy, cx) * mu


def radial(img: np.ndarray, cx: float, cy: float, rx: float, ry: float, profile) -> None:  # type: ignore[no-untyped-def]
    """Add profile(rho, theta) inside the ellipse (rho = normalised radius, 0 centre, 1 rim)."""
    h, w = img.shape
    x0, x1 = int(max(np.floor(cx - rx - 1), 0)), int(min(np.ceil(cx + rx + 2), w))
    y0, y1 = int(max(np.floor(cy - ry - 1), 0)), int(min(np.ceil(cy + ry + 2), h))
    if x1 <= x0 or y1 <= y0 or rx < 0.3 or ry < 0.3:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = (xx + 0.5 - cx) / rx, (yy + 0.5 - cy) / ry
    rho = np.sqrt(dx * dx + dy * dy)
    theta = np.arctan2(dy, dx)
    edge = np.clip((1.0 - rho) * min(rx, ry) + 0.5, 0, 1)  # anti-aliased outer edge
    img[y0:y1, x0:x1] += edge * profile(rho, theta).astype(np.float32)


def band(rho: np.ndarray, r0: float, r1: float, soft: float) -> np.ndarray:
    """Soft indicator of r0 <= rho < r1."""
    return np.clip((rho - r0) / soft + 0.5, 0, 1) * np.clip((r1 - rho) / soft + 0.5, 0, 1)
