"""Drawing primitives for the underside canvas: metres to pixels, shaded boxes, tubes, discs.

The canvas is two float32 planes: albedo (how bright a surface looks under even light, 0..1)
and alpha (1 where the vehicle or something fixed to it is, 0 where the camera sees past it).
Tubes get a cylindrical shading profile so pipes, shafts and tanks look round.

EVALUATION ONLY: never train, tune or select models on these images.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Canvas:
    """Albedo and alpha planes plus the metres-to-pixels mapping of one drawing."""

    albedo: np.ndarray
    alpha: np.ndarray
    sx: float
    sy: float
    centre_col: float | None = None
    row0: float = 0.0

    @property
    def shape(self) -> tuple[int, int]:
        return self.albedo.shape  # type: ignore[return-value]

    def col(self, x_m: float) -> float:
        centre = self.albedo.shape[1] / 2.0 if self.centre_col is None else self.centre_col
        return centre + x_m * self.sx

    def row(self, y_m: float) -> float:
        return y_m * self.sy - self.row0

    def window(self, r0: int, r1: int, c0: int, c1: int) -> Canvas:
        """A view of part of this canvas that keeps the same metre coordinates."""
        return Canvas(self.albedo[r0:r1, c0:c1], self.alpha[r0:r1, c0:c1], self.sx, self.sy,
                      self.col(0.0) - c0, self.row0 + r0)

    def span(self, x_m: float, y_m: float, w_m: float, l_m: float) -> tuple[int, int, int, int] | None:
        """Clipped pixel bounds (r0, r1, c0, c1) of a centred box; None when nothing is left."""
        h, w = self.shape
        c0 = int(round(self.col(x_m - w_m / 2)))
        c1 = int(round(self.col(x_m + w_m / 2)))
        r0 = int(round(self.row(y_m - l_m / 2)))
        r1 = int(round(self.row(y_m + l_m / 2)))
        c0, c1 = max(0, c0), min(w, max(c1, c0 + 1))
        r0, r1 = max(0, r0), min(h, max(r1, r0 + 1))
        if c0 >= c1 or r0 >= r1:
            return None
        return r0, r1, c0, c1

    def points(self, xy_m: np.ndarray) -> np.ndarray:
        """Metre coordinates (N, 2) to integer pixel points for cv2 polygons."""
        pts = np.empty_like(xy_m, dtype=np.float64)
        pts[:, 0] = self.col(0.0) + xy_m[:, 0] * self.sx
        pts[:, 1] = xy_m[:, 1] * self.sy - self.row0
        return np.round(pts).astype(np.int32)


def new_canvas(width_m: float, length_m: float, sx: float, sy: float) -> Canvas:
    w = int(np.ceil(width_m * sx)) + 8
    h = int(np.ceil(length_m * sy)) + 2
    return Canvas(np.zeros((h, w), np.float32), np.zeros((h, w), np.float32), sx, sy)


def tube_profile(n: int, specular: float = 0.25) -> np.ndarray:
    """Brightness across a lit cylinder: dark limbs, bright middle, a small highlight off-centre."""
    t = np.linspace(-0.98, 0.98, max(n, 1))
    shade = 0.35 + 0.65 * np.sqrt(1.0 - t * t) + specular * np.exp(-(((t - 0.3) / 0.18) ** 2))
    return shade.astype(np.float32)


def box(cv: Canvas, x: float, y: float, w: float, l: float, tone: float, edge: float = 0.0) -> None:
    """A flat part; `edge` > 0 brightens its rim (a pressed flange catching the light)."""
    s = cv.span(x, y, w, l)
    if s is None:
        return
    r0, r1, c0, c1 = s
    cv.albedo[r0:r1, c0:c1] = tone
    cv.alpha[r0:r1, c0:c1] = 1.0
    if edge > 0.0:
        ew = max(1, int(round(0.012 * cv.sx)))
        eh = max(1, int(round(0.012 * cv.sy)))
        bright = min(1.0, tone * (1.0 + edge))
        cv.albedo[r0:r1, c0 : c0 + ew] = bright
        cv.albedo[r0:r1, max(c0, c1 - ew) : c1] = bright
        cv.albedo[r0 : r0 + eh, c0:c1] = bright
        cv.albedo[max(r0, r1 - eh) : r1, c0:c1] = bright


def tube_along(cv: Canvas, x: float, y: float, d: float, l: float, tone: float) -> None:
    """A cylinder whose axis runs along the vehicle (rows); shading varies across columns."""
    s = cv.span(x, y, d, l)
    if s is None:
        return
    r0, r1, c0, c1 = s
    full = int(round(d * cv.sx))
    start = int(round(cv.col(x - d / 2)))
    prof = tube_profile(max(full, 1))[c0 - start : c0 - start + (c1 - c0)]
    if prof.size != c1 - c0:
        prof = tube_profile(c1 - c0)
    cv.albedo[r0:r1, c0:c1] = tone * prof[None, :]
    cv.alpha[r0:r1, c0:c1] = 1.0


def tube_across(cv: Canvas, x: float, y: float, w: float, d: float, tone: float) -> None:
    """A cylinder whose axis runs across the vehicle (columns); shading varies along rows."""
    s = cv.span(x, y, w, d)
    if s is None:
        return
    r0, r1, c0, c1 = s
    cv.albedo[r0:r1, c0:c1] = tone * tube_profile(r1 - r0)[:, None]
    cv.alpha[r0:r1, c0:c1] = 1.0


def disc(cv: Canvas, x: float, y: float, r_m: float, tone: float) -> None:
    """A filled ellipse (a disc in metres, so an ellipse in pixels when sx != sy)."""
    centre = (int(round(cv.col(x))), int(round(cv.row(y))))
    axes = (max(1, int(round(r_m * cv.sx))), max(1, int(round(r_m * cv.sy))))
    cv2.ellipse(cv.albedo, centre, axes, 0, 0, 360, float(tone), -1)
    cv2.ellipse(cv.alpha, centre, axes, 0, 0, 360, 1.0, -1)


def ring(cv: Canvas, x: float, y: float, r_m: float, tone: float, thick_m: float) -> None:
    centre = (int(round(cv.col(x))), int(round(cv.row(y))))
    axes = (max(1, int(round(r_m * cv.sx))), max(1, int(round(r_m * cv.sy))))
    t = max(1, int(round(thick_m * cv.sx)))
    cv2.ellipse(cv.albedo, centre, axes, 0, 0, 360, float(tone), t)


def pipe(cv: Canvas, xy_m: np.ndarray, d_m: float, tone: float) -> None:
    """A bent pipe through the points `xy_m`, drawn as nested strokes so it reads as round."""
    pts = cv.points(xy_m).reshape(-1, 1, 2)
    base = max(1, int(round(d_m * cv.sx)))
    cv2.polylines(cv.alpha, [pts], False, 1.0, base)
    for frac, gain in ((1.0, 0.45), (0.7, 0.8), (0.35, 1.1)):
        thick = max(1, int(round(base * frac)))
        cv2.polylines(cv.albedo, [pts], False, float(min(1.0, tone * gain)), thick)


def polygon(cv: Canvas, xy_m: np.ndarray, tone: float) -> None:
    pts = cv.points(xy_m).reshape(-1, 1, 2)
    cv2.fillPoly(cv.albedo, [pts], float(tone))
    cv2.fillPoly(cv.alpha, [pts], 1.0)


def line(cv: Canvas, xy_m: np.ndarray, tone: float, thick_m: float) -> None:
    pts = cv.points(xy_m).reshape(-1, 1, 2)
    t = max(1, int(round(thick_m * cv.sx)))
    cv2.polylines(cv.albedo, [pts], False, float(tone), t)


def dots(cv: Canvas, xs: np.ndarray, ys: np.ndarray, r_m: float, tone: float) -> None:
    """Bolts and rivets: tiny bright discs."""
    r = max(1, int(round(r_m * cv.sx)))
    for x, y in zip(np.ravel(xs), np.ravel(ys)):
        cv2.circle(cv.albedo, (int(round(cv.col(float(x)))), int(round(cv.row(float(y))))), r, float(tone), -1)


def rounded_rect(w_m: float, l_m: float, r_m: float, x: float = 0.0, y: float = 0.0, n: int = 6) -> np.ndarray:
    """Outline (N, 2) in metres of a rectangle with rounded corners, centred at (x, y)."""
    r = min(r_m, w_m / 2, l_m / 2)
    corners = ((w_m / 2 - r, l_m / 2 - r, 0.0), (-w_m / 2 + r, l_m / 2 - r, 90.0),
               (-w_m / 2 + r, -l_m / 2 + r, 180.0), (w_m / 2 - r, -l_m / 2 + r, 270.0))
    out = []
    for cx, cy, a0 in corners:
        a = np.deg2rad(np.linspace(a0, a0 + 90.0, n))
        out.append(np.stack([x + cx + r * np.cos(a), y + cy + r * np.sin(a)], axis=1))
    return np.concatenate(out)
