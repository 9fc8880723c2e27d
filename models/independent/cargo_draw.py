"""Drawing helpers for loaded-container X-rays: polygons, pasted patches, radial and chord profiles.

All values are attenuation (line integrals of the attenuation coefficient, so transmission is
exp(-A)) added into float32 maps laid out like `xray_geom.XGeom` (x along the container in
metres, z up from the frame's bottom edge). `MU` turns a density and a path length into
attenuation: about 0.045 cm^2/g, the mass attenuation of most materials at the mean energy of a
4-9 MeV linac beam, so one metre of material of density 1 g/cm^3 gives A = 4.5.

EVALUATION ONLY: never train, tune or select models on these images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from .xray_geom import XGeom

MU = 4.5            # attenuation per metre of path per g/cm^3
STEEL = 7.85 * MU   # attenuation per metre of steel (about 35)


def u(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A uniform draw as a plain float."""
    return float(rng.uniform(lo, hi))


def box_px(g: XGeom, x0: float, x1: float, z0: float, z1: float) -> tuple[int, int, int, int]:
    """Pixel bounds (r0, r1, c0, c1), end exclusive and clipped, of a metre box."""
    c0, c1 = max(0, int(np.floor(g.colf(x0)))), min(g.width, int(np.ceil(g.colf(x1))))
    r0, r1 = max(0, int(np.floor(g.rowf(z1)))), min(g.height, int(np.ceil(g.rowf(z0))))
    return r0, r1, c0, c1


def paste(a: np.ndarray, r0: int, c0: int, patch: np.ndarray, scale: float = 1.0) -> tuple[int, int, int, int]:
    """Adds `scale * patch` with its top-left pixel at (r0, c0), clipped; returns the pixel box written."""
    h, w = patch.shape
    ra, rb, ca, cb = max(0, r0), min(a.shape[0], r0 + h), max(0, c0), min(a.shape[1], c0 + w)
    if rb > ra and cb > ca:
        sub = patch[ra - r0 : rb - r0, ca - c0 : cb - c0]
        a[ra:rb, ca:cb] += sub if scale == 1.0 else np.float32(scale) * sub
    return ra, rb, ca, cb


def shape(a: np.ndarray | None, g: XGeom, polys_m: Sequence[np.ndarray], value: float, *,
          line_m: float = 0.0, closed: bool = True) -> tuple[int, int, np.ndarray] | None:
    """Anti-aliased polygons (N x 2 arrays of metres) added as `value` times pixel coverage.

    With `line_m` > 0 only the outlines are drawn, that thick. Returns (r0, c0, coverage) so
    callers can build masks, or None when nothing lands in the image. `a=None` only measures.
    """
    pix = [np.stack([np.asarray(p)[:, 0] * g.sx - 0.5, g.height - np.asarray(p)[:, 1] * g.sy - 0.5], 1)
           for p in polys_m]
    allp = np.concatenate(pix)
    pad = int(np.ceil(line_m * max(g.sx, g.sy))) + 3
    c0, c1 = max(0, int(np.floor(allp[:, 0].min())) - pad), min(g.width, int(np.ceil(allp[:, 0].max())) + pad)
    r0, r1 = max(0, int(np.floor(allp[:, 1].min())) - pad), min(g.height, int(np.ceil(allp[:, 1].max())) + pad)
    if c1 <= c0 or r1 <= r0:
        return None
    m = np.zeros((r1 - r0, c1 - c0), np.uint8)
    pts = [np.round((p - [c0, r0]) * 8.0).astype(np.int32) for p in pix]  # 3 fractional bits
    if line_m > 0:
        thick = max(1, int(round(line_m * 0.5 * (g.sx + g.sy))))
        cv2.polylines(m, pts, closed, 255, thickness=thick, lineType=cv2.LINE_AA, shift=3)
    else:
        cv2.fillPoly(m, pts, 255, lineType=cv2.LINE_AA, shift=3)
    cov = m.astype(np.float32) * np.float32(1.0 / 255.0)
    if a is not None:
        a[r0:r1, c0:c1] += np.float32(value) * cov
    return r0, c0, cov


def rect_poly(x0: float, x1: float, z0: float, z1: float) -> np.ndarray:
    return np.array([[x0, z0], [x1, z0], [x1, z1], [x0, z1]], np.float64)


def rotated(points: np.ndarray, angle: float, cx: float, cz: float) -> np.ndarray:
    """Object-local metre points rotated by `angle` (radians) and moved to (cx, cz)."""
    c, s = np.cos(angle), np.sin(angle)
    p = np.asarray(points, np.float64)
    return np.stack([cx + c * p[:, 0] - s * p[:, 1], cz + s * p[:, 0] + c * p[:, 1]], 1)


def radial_patch(g: XGeom, r_m: float, fn: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, float, float]:
    """A patch of `fn(rho)` (rho: metres from the centre, pixels may be non-square).

    Returns (patch, centre row, centre column) in patch pixels, for `paste_at`.
    """
    hr, hc = int(np.ceil(r_m * g.sy)) + 2, int(np.ceil(r_m * g.sx)) + 2
    rows = (np.arange(2 * hr + 1, dtype=np.float32) - hr)[:, None] / np.float32(g.sy)
    cols = (np.arange(2 * hc + 1, dtype=np.float32) - hc)[None, :] / np.float32(g.sx)
    rho = np.sqrt(rows * rows + cols * cols)
    return fn(rho).astype(np.float32), float(hr), float(hc)


def paste_at(a: np.ndarray, g: XGeom, x: float, z: float, patch_rc: tuple[np.ndarray, float, float],
             scale: float = 1.0) -> tuple[int, int, int, int]:
    """Pastes a `radial_patch`-style patch so its centre lands on (x, z) metres (nearest pixel)."""
    patch, rc, cc = patch_rc
    r0 = int(round(g.rowf(z) - 0.5 - rc))
    c0 = int(round(g.colf(x) - 0.5 - cc))
    return paste(a, r0, c0, patch, scale)


def annulus(r_in: float, r_out: float, value: float, soft_m: float) -> Callable[[np.ndarray], np.ndarray]:
    """Radial function: `value` between r_in and r_out, with linear edges `soft_m` wide."""
    def fn(rho: np.ndarray) -> np.ndarray:
        inner = np.clip((rho - r_in) / soft_m + 0.5, 0.0, 1.0) if r_in > 0 else 1.0
        outer = np.clip((r_out - rho) / soft_m + 0.5, 0.0, 1.0)
        return value * inner * outer
    return fn


def chord(offset: np.ndarray, r: float) -> np.ndarray:
    """Path length through a circle of radius `r` at `offset` from its centre."""
    return 2.0 * np.sqrt(np.clip(r * r - offset * offset, 0.0, None))


def soft_box(h: int, w: int, px: float, pz: float, power: float = 0.35) -> np.ndarray:
    """A pillow profile on an h x w patch: 1 in the middle, soft rounded edges, 0 at the border.

    `px`, `pz` are superellipse exponents (larger: squarer); `power` < 1 makes the edges steeper.
    """
    x = (np.arange(w, dtype=np.float32) + 0.5) / w * 2.0 - 1.0
    z = (np.arange(h, dtype=np.float32) + 0.5) / h * 2.0 - 1.0
    r = np.abs(x)[None, :] ** px + np.abs(z)[:, None] ** pz
    return np.power(np.clip(1.0 - r, 0.0, None), power).astype(np.float32)
