"""Drawing helpers for `surface_defects`: crop statistics, anti-aliased shapes, placement, shading.

Shapes are drawn on a 4x supersampled uint8 canvas and area-averaged down, so edges and
sub-pixel-wide lines come out anti-aliased. Sizes in the callers are given for a 128 px crop
and multiplied by `Ctx.scale` (the crop's shorter side / 128).

EVALUATION ONLY: never train, tune or select models on images made with this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .common import smooth_curve, smooth_field

SS = 4  # supersampling factor of the drawing canvas


@dataclass
class Ctx:
    """One defect being drawn: the crop (float 0..1), its statistics and the seed's draws."""

    img: np.ndarray      # float32 in [0, 1]
    local: np.ndarray    # local mean grey (Gaussian, sigma = size / 12)
    mean: float
    std: float           # at least 0.03, so that flat crops still get visible contrast
    size: int            # shorter side of the crop in pixels
    scale: float         # size / 128
    q: float             # contrast draw: 0 subtle (still visible), 1 obvious
    light: float         # azimuth of the light, radians, image frame (x right, y down)
    elev: float          # elevation of the light, radians
    rng: np.random.Generator

    @property
    def shape(self) -> tuple[int, int]:
        return self.img.shape  # type: ignore[return-value]

    @property
    def lvec(self) -> np.ndarray:
        """Unit vector (x, y) pointing towards the light."""
        return np.array([np.cos(self.light), np.sin(self.light)])

    def under(self, alpha: np.ndarray) -> float:
        """Local mean grey under a coverage map (the level the defect has to stand out from)."""
        wsum = float(alpha.sum())
        return float((self.local * alpha).sum() / wsum) if wsum > 0 else self.mean

    def delta(self, k0: float, k1: float, lo: float, hi: float) -> float:
        """A grey-level step of k0..k1 crop standard deviations (by contrast draw), clipped."""
        return float(np.clip((k0 + (k1 - k0) * self.q) * self.std, lo, hi))


def make_ctx(crop: np.ndarray, rng: np.random.Generator) -> Ctx:
    img = crop.astype(np.float32) / 255.0
    size = min(crop.shape)
    local = cv2.GaussianBlur(img, (0, 0), size / 12.0)
    return Ctx(img, local, float(img.mean()), max(float(img.std()), 0.03), size, size / 128.0,
               float(rng.uniform()), float(rng.uniform(0, 2 * np.pi)),
               float(np.radians(rng.uniform(30, 60))), rng)


# ---------------------------------------------------------------- rasterising


def ipts(pts: np.ndarray) -> np.ndarray:
    """Pixel coordinates (N, 2; pixel centres at integers) to supersampled canvas points."""
    return np.round((np.asarray(pts, np.float64) + 0.5) * SS - 0.5).astype(np.int32)


def _down(canvas: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    small = cv2.resize(canvas, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255.0


def fill(shape: tuple[int, int], polys: list[np.ndarray]) -> np.ndarray:
    """Coverage (0..1) of filled polygons."""
    c = np.zeros((shape[0] * SS, shape[1] * SS), np.uint8)
    cv2.fillPoly(c, [ipts(p).reshape(-1, 1, 2) for p in polys], 255, cv2.LINE_8)
    return _down(c, shape)


def stroke(shape: tuple[int, int], pts: np.ndarray, widths: np.ndarray,
           values: np.ndarray | None = None) -> np.ndarray:
    """Coverage of a polyline whose segment i has width widths[i] px and strength values[i]."""
    c = np.zeros((shape[0] * SS, shape[1] * SS), np.uint8)
    p = ipts(pts)
    for i in range(len(p) - 1):
        v = 255 if values is None else int(round(255 * float(np.clip(values[i], 0, 1))))
        if v > 0:
            t = max(1, int(round(float(widths[i]) * SS)))
            cv2.line(c, (int(p[i, 0]), int(p[i, 1])), (int(p[i + 1, 0]), int(p[i + 1, 1])), v, t)
    return _down(c, shape)


def discs(shape: tuple[int, int], centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    c = np.zeros((shape[0] * SS, shape[1] * SS), np.uint8)
    for (x, y), r in zip(ipts(centres), radii):
        cv2.circle(c, (int(x), int(y)), max(1, int(round(float(r) * SS))), 255, -1)
    return _down(c, shape)


def blur(a: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(a, (0, 0), max(float(sigma), 0.3))


def shift(a: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """`a` moved by (dx, dy) pixels; what comes in from outside is 0."""
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(a, m, (a.shape[1], a.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def erode(a: np.ndarray, radius: float) -> np.ndarray:
    k = max(1, int(round(radius)))
    return cv2.erode(a, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))


def field(ctx: Ctx, cell: float) -> np.ndarray:
    """Smooth zero-mean unit-variance noise over about `cell` px."""
    return smooth_field(ctx.rng, ctx.shape, max(cell, 2.0))


def grain(ctx: Ctx, sigma: float = 0.7) -> np.ndarray:
    """Fine noise, blurred by `sigma` px and rescaled to unit variance."""
    g = blur(ctx.rng.standard_normal(ctx.shape).astype(np.float32), sigma)
    return g / max(float(g.std()), 1e-6)


def smooth_curve_knots(rng: np.random.Generator, n: int) -> np.ndarray:
    """A smooth curve of `n` samples in about [-1, 1], one knot per 10 samples (at least 3)."""
    return smooth_curve(rng, n, max(3, n // 10))


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


# ---------------------------------------------------------------- geometry and placement


def rot(pts: np.ndarray, ang: float, cx: float = 0.0, cy: float = 0.0) -> np.ndarray:
    """Local (u, v) points to image (x, y): rotate by `ang`, then move to (cx, cy)."""
    c, s = np.cos(ang), np.sin(ang)
    p = np.asarray(pts, np.float64)
    return np.stack([cx + p[:, 0] * c - p[:, 1] * s, cy + p[:, 0] * s + p[:, 1] * c], 1)


def grid(shape: tuple[int, int], cx: float, cy: float, ang: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel local coordinates (u along `ang`, v across) about (cx, cy)."""
    y, x = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    dx, dy = x - cx, y - cy
    c, s = np.float32(np.cos(ang)), np.float32(np.sin(ang))
    return dx * c + dy * s, -dx * s + dy * c


def fit_radius(ctx: Ctx, radius: float, margin: float) -> float:
    """`radius` shrunk, if need be, so that a disc of it fits inside the crop with `margin`."""
    return float(min(radius, 0.5 * min(ctx.shape) - margin - 1.0))


def centre(ctx: Ctx, radius: float, margin: float) -> tuple[float, float]:
    """A random centre for a disc of `radius` (already fitted) inside the crop."""
    h, w = ctx.shape
    lo = radius + margin
    return (float(ctx.rng.uniform(lo, max(lo, w - 1 - lo))),
            float(ctx.rng.uniform(lo, max(lo, h - 1 - lo))))


def place(ctx: Ctx, parts: list[np.ndarray], margin: float) -> list[np.ndarray]:
    """Move point sets (together) to a random spot inside the crop, shrinking them if too big."""
    h, w = ctx.shape
    allp = np.vstack(parts)
    lo, ext = allp.min(0), np.ptp(allp, 0)
    room = np.array([w - 1.0, h - 1.0]) - 2 * margin
    f = float(min(1.0, *(room / np.maximum(ext, 1e-6))))
    off = margin + ctx.rng.uniform(0, 1, 2) * np.maximum(room - ext * f, 0)
    return [(p - lo) * f + off for p in parts]


def area_radius(ctx: Ctx, lo: float, hi: float) -> float:
    """Radius of a disc covering a log-uniform lo..hi fraction of the crop."""
    frac = np.exp(ctx.rng.uniform(np.log(lo), np.log(hi)))
    return float(np.sqrt(frac * ctx.shape[0] * ctx.shape[1] / np.pi))


def outline(rng: np.random.Generator, th: np.ndarray, rough: float, kmax: int) -> np.ndarray:
    """Radius factors (about 1) of a closed irregular outline: harmonics 2..kmax, falling as 1/k."""
    r = np.ones_like(th)
    for k in range(2, kmax + 1):
        r += rough * rng.normal() / k * np.cos(k * th + rng.uniform(0, 2 * np.pi))
    return np.clip(r, 0.4, None)


def blob(rng: np.random.Generator, radius: float, rough: float, kmax: int,
         aspect: float = 1.0, n: int = 160) -> np.ndarray:
    """An irregular closed outline about the origin (N, 2), stretched by `aspect` and turned."""
    th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = radius * outline(rng, th, rough, kmax)
    pts = np.stack([r * np.cos(th) * np.sqrt(aspect), r * np.sin(th) / np.sqrt(aspect)], 1)
    return rot(pts, rng.uniform(0, np.pi))


def jagged(rng: np.random.Generator, radius: float, nv: int, jag: float) -> np.ndarray:
    """An angular star-shaped polygon (broken-off or torn shapes) with jittered edges."""
    th = np.sort(rng.uniform(0, 2 * np.pi, nv))
    th = th[0] + np.cumsum(np.r_[0, 0.4 * np.diff(th) + 0.6 * 2 * np.pi / nv])[:nv]
    verts = np.stack([np.cos(th), np.sin(th)], 1) * radius * rng.uniform(0.7, 1.25, (nv, 1))
    out = []
    for i in range(nv):
        a, b = verts[i], verts[(i + 1) % nv]
        m = int(rng.integers(3, 7))
        t = np.linspace(0, 1, m, endpoint=False)[:, None]
        seg = a + t * (b - a)
        normal = np.array([-(b - a)[1], (b - a)[0]]) / max(np.hypot(*(b - a)), 1e-6)
        seg[1:] += normal * rng.normal(0, jag * np.hypot(*(b - a)), (m - 1, 1))
        out.append(seg)
    return np.vstack(out)


def away(tone: float, level: float, gap: float) -> float:
    """`tone` (clipped to 0.04..0.97) moved, if need be, at least `gap` from `level`, to the
    other side of it when there is no room on this one."""
    lo, hi = 0.04, 0.97
    tone = float(np.clip(tone, lo, hi))
    if abs(tone - level) >= gap:
        return tone
    up, down = level + gap, level - gap
    first, second = (up, down) if tone >= level else (down, up)
    return float(first if lo <= first <= hi else np.clip(second, lo, hi))


def shade(ctx: Ctx, ang: float, nu: np.ndarray, nv: np.ndarray, nz: np.ndarray,
          shine: float = 40.0) -> tuple[np.ndarray, np.ndarray]:
    """Lambert and Blinn-Phong terms for normals (nu, nv, nz) given in a frame turned by `ang`."""
    ce = np.cos(ctx.elev)
    lu, lv, lz = ce * np.cos(ctx.light - ang), ce * np.sin(ctx.light - ang), np.sin(ctx.elev)
    norm = np.sqrt(nu * nu + nv * nv + nz * nz) + 1e-6
    diffuse = np.clip((nu * lu + nv * lv + nz * lz) / norm, 0, 1)
    hz = lz + 1.0
    hn = np.sqrt(lu * lu + lv * lv + hz * hz)
    spec = np.clip((nu * lu + nv * lv + nz * hz) / (norm * hn), 0, 1) ** shine
    return diffuse.astype(np.float32), spec.astype(np.float32)
