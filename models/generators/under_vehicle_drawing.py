"""Drawing primitives of the under-vehicle (UVSS) scenes: local patches, painting, the vehicle frame.

Geometry: rows are time along the vehicle (the front passes first unless the lane is scanned
the other way), columns run across the lane. Parts are placed in vehicle millimetres
(u across from the centre line, v along from the front bumper) and mapped to pixels with
separate scales across (`kx`, from the lane width the line covers) and along (`ky`, from the
vehicle's length and how many rows it fills, i.e. its speed), so round parts are ellipses.
All drawing is done in small local patches: the images are 8 Mpixel at native size. Painting
occludes the anomaly mask (as `Canvas.paint` does); darkening and shadows leave it alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from models.generators.common import Canvas

Pt = tuple[float, float]

# --------------------------------------------------------------------------- local patches


@dataclass
class Patch:
    """Coverage `m` (float32 0..1) of a shape inside the window whose top-left pixel is (y0, x0)."""

    y0: int
    x0: int
    m: np.ndarray

    @property
    def sl(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y0 + self.m.shape[0]), slice(self.x0, self.x0 + self.m.shape[1])


def _window(h: int, w: int, xs: np.ndarray, ys: np.ndarray, pad: float) -> tuple[int, int, int, int] | None:
    x0, x1 = int(max(np.floor(xs.min() - pad), 0)), int(min(np.ceil(xs.max() + pad) + 1, w))
    y0, y1 = int(max(np.floor(ys.min() - pad), 0)), int(min(np.ceil(ys.max() + pad) + 1, h))
    if x1 <= x0 or y1 <= y0:
        return None
    return y0, y1, x0, x1


def _fixed(pts: np.ndarray, x0: int, y0: int) -> np.ndarray:
    """Pixel points to cv2 fixed point (4 fractional bits) in the window's frame."""
    return np.round((pts - [x0, y0]) * 16).astype(np.int32)


def draw_polys(h: int, w: int, polys: Sequence[np.ndarray], pad: float = 2.0) -> Patch | None:
    """Filled, anti-aliased polygons (pixel coordinates, each [N, 2] of x, y)."""
    allp = np.concatenate([np.asarray(p, np.float64).reshape(-1, 2) for p in polys])
    win = _window(h, w, allp[:, 0], allp[:, 1], pad)
    if win is None:
        return None
    y0, y1, x0, x1 = win
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(m, [_fixed(np.asarray(p, np.float64).reshape(-1, 2), x0, y0) for p in polys], 255, cv2.LINE_AA, 4)
    return Patch(y0, x0, m.astype(np.float32) / 255.0)


def draw_lines(h: int, w: int, lines: Sequence[np.ndarray], thick: float, closed: bool = False) -> Patch | None:
    """Anti-aliased polylines of `thick` pixels (at least 1)."""
    t = max(1, int(round(thick)))
    allp = np.concatenate([np.asarray(p, np.float64).reshape(-1, 2) for p in lines])
    win = _window(h, w, allp[:, 0], allp[:, 1], t + 2)
    if win is None:
        return None
    y0, y1, x0, x1 = win
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.polylines(m, [_fixed(np.asarray(p, np.float64).reshape(-1, 2), x0, y0) for p in lines], closed, 255, t,
                  cv2.LINE_AA, 4)
    return Patch(y0, x0, m.astype(np.float32) / 255.0)


def draw_ellipses(h: int, w: int, items: Sequence[tuple[float, float, float, float]], angle: float = 0.0,
                  thick: int = -1) -> Patch | None:
    """Ellipses (cx, cy, rx, ry) in pixels, filled (thick -1) or outlined."""
    arr = np.array(items, np.float64).reshape(-1, 4)
    r = np.maximum(arr[:, 2], arr[:, 3]).max()
    win = _window(h, w, np.concatenate([arr[:, 0] - r, arr[:, 0] + r]), np.concatenate([arr[:, 1] - r, arr[:, 1] + r]),
                  2 + max(thick, 0))
    if win is None:
        return None
    y0, y1, x0, x1 = win
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for cx, cy, rx, ry in arr:
        cv2.ellipse(m, (int(round((cx - x0) * 16)), int(round((cy - y0) * 16))),
                    (max(int(round(rx * 16)), 8), max(int(round(ry * 16)), 8)), angle, 0, 360, 255, thick,
                    cv2.LINE_AA, 4)
    return Patch(y0, x0, m.astype(np.float32) / 255.0)


def union(*patches: Patch | None) -> Patch | None:
    """One patch covering several (max of coverages)."""
    ps = [p for p in patches if p is not None]
    if not ps:
        return None
    y0, x0 = min(p.y0 for p in ps), min(p.x0 for p in ps)
    y1, x1 = max(p.y0 + p.m.shape[0] for p in ps), max(p.x0 + p.m.shape[1] for p in ps)
    m = np.zeros((y1 - y0, x1 - x0), np.float32)
    for p in ps:
        sub = m[p.y0 - y0:p.y0 - y0 + p.m.shape[0], p.x0 - x0:p.x0 - x0 + p.m.shape[1]]
        np.maximum(sub, p.m, out=sub)
    return Patch(y0, x0, m)


# --------------------------------------------------------------------------- painting


def paint(c: Canvas, p: Patch | None, value: np.ndarray | float, alpha: float = 1.0) -> None:
    """Blend `value` (scalar or patch-sized) into the patch; occludes anomalies like Canvas.paint."""
    if p is None:
        return
    sl = p.sl
    wgt = p.m * alpha
    img = c.img[sl]
    img += wgt * (value - img)
    c.mask[sl] *= 1.0 - np.minimum(wgt * 1.5, 1.0)


def darken(c: Canvas, p: Patch | None, amount: np.ndarray | float) -> None:
    """Multiplicative darkening (shadows, grime): leaves the anomaly mask alone."""
    if p is None:
        return
    c.img[p.sl] *= 1.0 - p.m * amount


def shadow(c: Canvas, p: Patch | None, dx: float, dy: float, blur: float, strength: float) -> None:
    """Soft shadow of a patch, offset by (dx, dy) px: darkens what lies behind it."""
    if p is None or strength <= 0:
        return
    h, w = c.shape
    pad = int(3 * blur + abs(dx) + abs(dy)) + 2
    y0, x0 = max(p.y0 - pad, 0), max(p.x0 - pad, 0)
    y1, x1 = min(p.y0 + p.m.shape[0] + pad, h), min(p.x0 + p.m.shape[1] + pad, w)
    local = np.zeros((y1 - y0, x1 - x0), np.float32)
    oy, ox = p.y0 - y0, p.x0 - x0
    local[oy:oy + p.m.shape[0], ox:ox + p.m.shape[1]] = p.m[: y1 - p.y0, : x1 - p.x0]
    local = soft(local, blur)
    local = cv2.warpAffine(local, np.float32([[1, 0, dx], [0, 1, dy]]), (local.shape[1], local.shape[0]))
    c.img[y0:y1, x0:x1] *= 1.0 - strength * local


def soft(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur, done on a shrunk copy when sigma is large (shadows of big parts are cheap)."""
    if sigma <= 0.3:
        return a
    k = int(sigma / 1.5)
    if k < 2 or min(a.shape) < 4 * k:
        return cv2.GaussianBlur(a, (0, 0), sigma)
    small = cv2.resize(a, (max(1, a.shape[1] // k), max(1, a.shape[0] // k)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / k)
    return cv2.resize(small, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_LINEAR)


def noise_field(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Smooth random field in about [-1, 1], features of about `scale` px (bilinear, cheap)."""
    h, w = shape
    gh, gw = max(2, int(h / scale) + 2), max(2, int(w / scale) + 2)
    grid = rng.standard_normal((gh, gw), dtype=np.float32) / 1.5
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_LINEAR)


def tube_shade(p: Patch, level: float, gain: float = 0.4, power: float = 0.5) -> np.ndarray:
    """Values of a rounded body: darker at its edges, a highlight along its middle."""
    d = cv2.distanceTransform((p.m > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    top = float(d.max())
    if top <= 0:
        return np.full(p.m.shape, level, np.float32)
    return (level * (1.0 - gain + gain * (d / top) ** power)).astype(np.float32)


def axis_shade(p: Patch, level: float, axis: int, gain: float = 0.35, offset: float = 0.0) -> np.ndarray:
    """Cylinder shading across `axis` of the window (1: across columns, 0: across rows)."""
    n = p.m.shape[axis]
    t = np.linspace(0, 1, n, dtype=np.float32)
    prof = level * (1.0 - gain + gain * 1.3 * np.clip(np.sin(np.pi * np.clip(t + offset, 0, 1)), 0, 1) ** 0.7)
    prof = np.minimum(prof, 1.0)
    return np.broadcast_to(prof[None, :] if axis == 1 else prof[:, None], p.m.shape).astype(np.float32)


# --------------------------------------------------------------------------- vehicle frame


class View:
    """Vehicle millimetres (u across from the centre line, v along from the front) to pixels."""

    def __init__(self, h: int, w: int, cx: float, row0: float, kx: float, ky: float, length: float,
                 reverse: bool) -> None:
        self.h, self.w, self.cx, self.row0, self.kx, self.ky = h, w, cx, row0, kx, ky
        self.length, self.reverse = length, reverse

    def x(self, u: float | np.ndarray) -> float | np.ndarray:
        return self.cx + np.asarray(u) * self.kx

    def y(self, v: float | np.ndarray) -> float | np.ndarray:
        v = np.asarray(v)
        return self.row0 + ((self.length - v) if self.reverse else v) * self.ky

    def px(self, uv: Sequence[Pt] | np.ndarray) -> np.ndarray:
        a = np.asarray(uv, np.float64).reshape(-1, 2)
        return np.stack([self.x(a[:, 0]), self.y(a[:, 1])], 1)

    def t(self, mm: float) -> float:
        """A thickness in pixels (mean of both scales)."""
        return mm * (self.kx + self.ky) / 2

    def poly(self, uv: Sequence[Pt] | np.ndarray) -> Patch | None:
        return draw_polys(self.h, self.w, [self.px(uv)])

    def polys(self, many: Sequence[Sequence[Pt]]) -> Patch | None:
        return draw_polys(self.h, self.w, [self.px(p) for p in many])

    def rect(self, u0: float, v0: float, u1: float, v1: float, r: float = 0.0) -> Patch | None:
        """Axis-aligned rectangle, corners rounded by r mm."""
        if r <= 0:
            return self.poly([(u0, v0), (u1, v0), (u1, v1), (u0, v1)])
        r = min(r, abs(u1 - u0) / 2, abs(v1 - v0) / 2)
        a = np.linspace(0, np.pi / 2, 5)
        ul, ur, vt, vb = min(u0, u1), max(u0, u1), min(v0, v1), max(v0, v1)
        pts: list[Pt] = []
        for (cu, cv_, a0) in ((ur - r, vt + r, -np.pi / 2), (ur - r, vb - r, 0.0), (ul + r, vb - r, np.pi / 2),
                              (ul + r, vt + r, np.pi)):
            pts += [(cu + r * np.cos(a0 + t), cv_ + r * np.sin(a0 + t)) for t in a]
        return self.poly(pts)

    def band(self, uv: Sequence[Pt], width: float) -> Patch | None:
        """A polyline `width` mm wide (mm-true in both directions), round joints."""
        a = np.asarray(uv, np.float64).reshape(-1, 2)
        quads = []
        for p, q in zip(a[:-1], a[1:]):
            d = q - p
            n = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1e-6) * width / 2
            quads.append(self.px([p + n, q + n, q - n, p - n]))
        joints = [(float(self.x(u)), float(self.y(v)), width / 2 * self.kx, width / 2 * self.ky) for u, v in a[1:-1]]
        return union(draw_polys(self.h, self.w, quads), draw_ellipses(self.h, self.w, joints) if joints else None)

    def line(self, uv: Sequence[Pt], width: float, closed: bool = False) -> Patch | None:
        return draw_lines(self.h, self.w, [self.px(uv)], self.t(width), closed)

    def ellipse(self, u: float, v: float, ru: float, rv: float, thick: float = -1) -> Patch | None:
        t = -1 if thick < 0 else max(1, int(round(self.t(thick))))
        return draw_ellipses(self.h, self.w, [(float(self.x(u)), float(self.y(v)), ru * self.kx, rv * self.ky)],
                             thick=t)

    def dots(self, uv: Sequence[Pt], r: float) -> Patch | None:
        if len(uv) == 0:
            return None
        rx, ry = max(r * self.kx, 0.6), max(r * self.ky, 0.6)
        return draw_ellipses(self.h, self.w, [(float(self.x(u)), float(self.y(v)), rx, ry) for u, v in uv])


@dataclass
class Look:
    """Per-image appearance: light direction for shadows, overall dirt and metal brightness."""

    sdx: float
    sdy: float
    sblur: float
    metal: float  # multiplier of metal levels (dirty, rusty = lower)
    contrast: float


class Painter:
    """Paints parts in a View with the image's Look."""

    def __init__(self, view: View, look: Look) -> None:
        self.v, self.look = view, look

    def solid(self, c: Canvas, p: Patch | None, level: float, r: np.random.Generator, shade: str = "tube",
              shadow_k: float = 1.0, gain: float = 0.4, grain: float = 0.0, axis: int = 1) -> None:
        if p is None:
            return
        lk = self.look
        if shadow_k > 0:
            shadow(c, p, lk.sdx * shadow_k, lk.sdy * shadow_k, lk.sblur * shadow_k, 0.35)
        level = float(np.clip(level, 0.02, 0.98))
        if shade == "tube":
            val: np.ndarray | float = tube_shade(p, level, gain)
        elif shade == "axis":
            val = axis_shade(p, level, axis, gain, float(r.uniform(-0.15, 0.15)))
        else:
            val = level
        if grain > 0:
            val = val + grain * r.standard_normal(p.m.shape).astype(np.float32)
        paint(c, p, val)

    def metal(self, r: np.random.Generator, lo: float = 0.45, hi: float = 0.75) -> float:
        return float(r.uniform(lo, hi) * self.look.metal)
