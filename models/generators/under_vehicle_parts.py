"""Drawing of the normal parts of an under-vehicle (UVSS) line-scan scene.

Everything here is NORMAL content: vehicles of several kinds (unibody cars, ladder-frame SUVs
and pickups, vans, truck tractors) with their many small parts, the lane with its furniture as
a line-scan camera sees it, and the camera's own effects. None of it touches the anomaly mask
except by occluding (a part drawn over a foreign object hides it, as `Canvas.paint` does).

Geometry: rows are time along the vehicle (the front passes first unless the lane is scanned
the other way), columns run across the lane. Parts are placed in vehicle millimetres
(u across from the centre line, v along from the front bumper) and mapped to pixels with
separate scales across (`kx`, from the lane width the line covers) and along (`ky`, from the
vehicle's length and how many rows it fills, i.e. its speed), so round parts are ellipses.
All drawing is done in small local patches: the images are 8 Mpixel at native size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np

from models.generators.common import Canvas, Layer

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


# --------------------------------------------------------------------------- lane and camera


def lane_layer(h: int, w: int, rng: np.random.Generator, rows: tuple[float, float], cols: tuple[float, float]) -> Layer:
    """The lane as the line-scan camera sees it: one column pattern repeated in every row (road
    aggregate, lane markings, kerbs, the camera slot's frame, drain covers), with a little
    change from row to row, and the ambient light the vehicle blocks while it passes over."""
    s = w / 1024.0
    base = float(rng.uniform(0.04, 0.17))
    prof = np.full(w, base, np.float32)
    fine = rng.standard_normal(w).astype(np.float32) * float(rng.uniform(0.005, 0.03))
    prof += cv2.GaussianBlur(fine[None, :], (0, 0), max(0.6, float(rng.uniform(0.5, 2.0)) * s))[0]
    prof += 0.03 * noise_field(rng, (1, w), float(rng.uniform(20, 120)) * s)[0]
    xs = np.arange(w, dtype=np.float32)
    for _ in range(int(rng.integers(2, 9))):  # streaks: markings, steel edges, slot frame, gaps
        cx, half = float(rng.uniform(0, w)), float(rng.uniform(1, 60)) * s
        edge = max(0.6, float(rng.uniform(0.3, 4)) * s)
        bump = 1.0 / (1.0 + np.exp(np.clip(-(half - np.abs(xs - cx)) / edge, -50, 50)))
        prof += float(rng.choice([-1, 1]) * rng.uniform(0.03, 0.35 if rng.random() < 0.3 else 0.12)) * bump
    if rng.random() < 0.5:  # the camera slot's frame: a pair of bright thin lines near both edges
        for xe in (float(rng.uniform(0.0, 0.08)) * w, float(rng.uniform(0.92, 1.0)) * w):
            prof += float(rng.uniform(0.05, 0.25)) / (1.0 + np.exp(np.clip(-(3 * s - np.abs(xs - xe)) / (0.8 * s), -50, 50)))
    prof = np.clip(prof, 0.01, 0.9)
    # the vehicle above blocks ambient light over the lane while it passes (soft ends)
    yy = np.arange(h, dtype=np.float32)
    soft_px = max(4.0, float(rng.uniform(0.01, 0.06)) * h)
    inside = 1.0 / (1.0 + np.exp(np.clip(-(yy - rows[0]) / soft_px, -50, 50)))
    inside = inside / (1.0 + np.exp(np.clip(-(rows[1] - yy) / soft_px, -50, 50)))
    dim = float(rng.uniform(0.0, 0.5))
    across = np.clip(1.0 - np.maximum(np.maximum(cols[0] - xs, xs - cols[1]), 0) / (0.25 * w), 0, 1)
    row_f = 1.0 + float(rng.uniform(0.0, 0.04)) * noise_field(rng, (h, 1), float(rng.uniform(5, 60)) * s)[:, 0]
    tex_amp = float(rng.uniform(0.0, 0.015))

    row_g = (row_f[:, None] * (1.0 - dim * inside[:, None] * across[None, :])).astype(np.float32)

    def layer(c: Canvas, r: np.random.Generator) -> None:
        np.multiply(prof[None, :], row_g, out=c.img)
        if tex_amp > 0.002:  # spray, dust on the window: faint 2-D texture
            c.img += tex_amp * noise_field(r, (h, w), float(r.uniform(3, 30)) * s)

    return layer


def fill_light(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Illuminator pattern across the lane (brighter centre or one side) and lens vignetting:
    for a line-scan camera both depend on the column only. Before the device nuisances."""
    h, w = img.shape
    x = np.linspace(-1, 1, w, dtype=np.float32)
    kind = rng.random()
    if kind < 0.5:
        c0, wid = float(rng.uniform(-0.3, 0.3)), float(rng.uniform(0.4, 1.2))
        light = 1.0 - float(rng.uniform(0.1, 0.45)) * (1 - np.exp(-0.5 * ((x - c0) / wid) ** 2))
    elif kind < 0.85:
        light = 1.0 + float(rng.uniform(-0.3, 0.3)) * x
    else:  # two lamps
        d = float(rng.uniform(0.3, 0.7))
        light = 0.75 + 0.25 * (np.exp(-0.5 * ((x - d) / 0.35) ** 2) + np.exp(-0.5 * ((x + d) / 0.35) ** 2))
    vig = np.cos(np.clip(x * float(rng.uniform(0.3, 0.75)), -1.5, 1.5)) ** 4
    col = (light * vig / float((light * vig).max())).astype(np.float32)
    img = img * col[None, :] * float(rng.uniform(0.9, 1.25))
    # motion blur along the rows (exposure over the line period)
    k = int(round(float(rng.uniform(0, 10)) * h / 2048.0))
    if k >= 2:
        img = cv2.blur(img, (1, k))
    return img


def sensor_effects(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-row gain banding (lamp flicker, exposure jitter) with rare bright or dark lines,
    per-column gain (pixel response), read and shot noise. After the device nuisances."""
    h, w = img.shape
    yy = np.arange(h, dtype=np.float32)
    row = 1.0 + float(rng.uniform(0, 0.04)) * noise_field(rng, (h, 1), float(rng.uniform(2, 40)) * h / 2048)[:, 0]
    if rng.random() < 0.5:  # mains flicker of the lamps: periodic banding
        row *= 1.0 + float(rng.uniform(0.005, 0.03)) * np.sin(2 * np.pi * yy / float(rng.uniform(6, 80)) * h / 2048
                                                             + float(rng.uniform(0, 6.3)))
    for _ in range(int(rng.poisson(1.5))):  # rare single bright/dark lines
        y, n = int(rng.integers(h)), max(1, int(round(float(rng.uniform(1, 4)) * h / 2048)))
        row[y:y + n] *= float(rng.uniform(0.6, 0.85) if rng.random() < 0.5 else rng.uniform(1.15, 1.5))
    col = 1.0 + float(rng.uniform(0.002, 0.015)) * rng.standard_normal(w, dtype=np.float32)
    img = img * row[:, None].astype(np.float32) * col[None, :]
    # read noise plus shot noise (std growing with the signal; linearised sqrt about mid-grey)
    read, shot = float(rng.uniform(0.002, 0.01)), float(rng.uniform(0.0, 0.02))
    sigma = (read + shot * img).astype(np.float32)
    img += sigma * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(img, 0.0, 1.0, out=img)


# --------------------------------------------------------------------------- small parts


def grime_layer(h: int, w: int, view: View, body: tuple[float, float, float, float], wheels: list[Pt]) -> Layer:
    """Dirt: soft dark smudges over the underbody, mud spatter around the wheels, salt bloom.
    Multiplicative: it dirties foreign objects too but never hides them from the mask."""

    def layer(c: Canvas, r: np.random.Generator) -> None:
        s = w / 1024.0
        u0, v0, u1, v1 = body
        xs, ys = view.px([(u0, v0), (u1, v1)])[:, 0], view.px([(u0, v0), (u1, v1)])[:, 1]
        x0, x1 = int(max(xs.min(), 0)), int(min(xs.max(), w))
        y0, y1 = int(max(ys.min(), 0)), int(min(ys.max(), h))
        if x1 - x0 > 4 and y1 - y0 > 4:
            dirt = r.uniform(0.05, 0.35)
            n = noise_field(r, (y1 - y0, x1 - x0), float(r.uniform(15, 60)) * s)
            amt = dirt * np.clip(n - r.uniform(-0.3, 0.5), 0, 1)
            c.img[y0:y1, x0:x1] *= (1.0 - amt).astype(np.float32)
            if r.random() < 0.3:  # road salt / dust: light bloom
                n2 = noise_field(r, (y1 - y0, x1 - x0), float(r.uniform(20, 80)) * s)
                c.img[y0:y1, x0:x1] += (r.uniform(0.02, 0.08) * np.clip(n2 - 0.4, 0, 1)).astype(np.float32)
        for (u, v) in wheels:  # mud spatter behind and around the wheels
            k = int(r.integers(0, 60))
            if k == 0:
                continue
            pts = [(float(np.clip(u + r.normal(0, 250), u0 * 0.97, u1 * 0.97)), float(np.clip(v + r.normal(250, 350), v0, v1)))
                   for _ in range(k)]
            rad = float(r.uniform(4, 18))
            darken(c, view.dots(pts, rad), float(r.uniform(0.2, 0.6)))

    return layer


def wavy(r: np.random.Generator, u0: float, v0: float, u1: float, v1: float, amp: float, n: int = 12) -> list[Pt]:
    t = np.linspace(0, 1, n)
    ph, per = r.uniform(0, 6.3), r.uniform(1.5, 5)
    wob = amp * np.sin(2 * np.pi * per * t + ph) + amp * 0.4 * r.standard_normal(n)
    wob[0] = wob[-1] = 0
    du, dv = u1 - u0, v1 - v0
    nrm = np.array([-dv, du]) / max(np.hypot(du, dv), 1e-6)
    return [(u0 + du * a + nrm[0] * b, v0 + dv * a + nrm[1] * b) for a, b in zip(t, wob)]


def lines_layer(pt: Painter, routes: list[list[Pt]], hoses: list[tuple[Pt, Pt]]) -> Layer:
    """Brake and fuel lines (thin, slightly wavy, clipped every few hundred mm), the wiring
    harness, brake hoses to the wheels."""
    v = pt.v

    def layer(c: Canvas, r: np.random.Generator) -> None:
        for route in routes:
            n = int(r.integers(1, 4))
            lvl = pt.metal(r, 0.35, 0.8) if r.random() < 0.7 else float(r.uniform(0.06, 0.2))
            wid = float(r.uniform(4, 9))
            for k in range(n):
                off = (k - (n - 1) / 2) * wid * 2.2
                path = [(a + off, b) for a, b in route]
                p = v.line(path, wid)
                pt.solid(c, p, lvl, r, shade="flat", shadow_k=0.5)
            clips = []
            for (a, b), (a2, b2) in zip(route[:-1], route[1:]):
                if r.random() < 0.5:
                    clips.append(((a + a2) / 2, (b + b2) / 2))
            for (a, b) in clips:
                cp = v.rect(a - n * wid * 1.5 - 6, b - 8, a + n * wid * 1.5 + 6, b + 8)
                pt.solid(c, cp, float(r.uniform(0.1, 0.6)), r, shade="flat", shadow_k=0.4)
        for (a, b) in hoses:
            mid = ((a[0] + b[0]) / 2 + r.normal(0, 60), (a[1] + b[1]) / 2 + r.normal(0, 60))
            p = v.line([a, mid, b], float(r.uniform(9, 14)))
            pt.solid(c, p, float(r.uniform(0.05, 0.15)), r, shade="flat", shadow_k=0.6)

    return layer


def small_parts_layer(pt: Painter, area: tuple[float, float, float, float], n: int,
                      avoid: Callable[[float, float], bool] | None = None) -> Layer:
    """Brackets, rubber plugs, bolt heads, clips, jacking points, cable ties, labels."""
    v = pt.v

    def layer(c: Canvas, r: np.random.Generator) -> None:
        u0, v0, u1, v1 = area
        for _ in range(n):
            a, b = float(r.uniform(u0, u1)), float(r.uniform(v0, v1))
            kind = r.random()
            if kind < 0.3:  # rubber plug / drain hole in the floor
                rad = float(r.uniform(10, 30))
                pt.solid(c, v.ellipse(a, b, rad, rad), float(r.uniform(0.05, 0.18)), r, shade="flat", shadow_k=0.2)
            elif kind < 0.55:  # bracket: small plate, sometimes with a hole
                sw, sh = r.uniform(20, 70), r.uniform(20, 70)
                pt.solid(c, v.rect(a - sw / 2, b - sh / 2, a + sw / 2, b + sh / 2, r=5), pt.metal(r, 0.35, 0.7), r,
                         shade="flat", shadow_k=0.5)
                if r.random() < 0.6:
                    paint(c, v.ellipse(a, b, sw / 6, sh / 6), float(r.uniform(0.05, 0.2)))
            elif kind < 0.8:  # bolt heads in a row
                k = int(r.integers(2, 6))
                ang = r.uniform(0, np.pi)
                pts = [(a + i * 40 * np.cos(ang), b + i * 40 * np.sin(ang)) for i in range(k)]
                pt.solid(c, v.dots(pts, float(r.uniform(6, 12))), pt.metal(r, 0.5, 0.85), r, shade="flat", shadow_k=0.3)
            elif kind < 0.9:  # plastic clip / cable tie
                pt.solid(c, v.rect(a - 8, b - 15, a + 8, b + 15), float(r.uniform(0.05, 0.3)), r, shade="flat",
                         shadow_k=0.3)
            else:  # stamped rib / dimple in the panel
                p = v.ellipse(a, b, float(r.uniform(30, 120)), float(r.uniform(15, 60)))
                shadow(c, p, pt.look.sdx, pt.look.sdy, pt.look.sblur, 0.15)
                paint(c, p, float(r.uniform(0.25, 0.5)), alpha=0.25)

    return layer


def tyre(c: Canvas, pt: Painter, r: np.random.Generator, u: float, v: float, width: float, dia: float) -> None:
    """A tyre seen from below: dark rubber, tread grooves along the roll (columns) and sipes
    across it (rows), the ends curving away (darker)."""
    vv = pt.v
    p = vv.rect(u - width / 2, v - dia / 2, u + width / 2, v + dia / 2, r=width * 0.2)
    if p is None:
        return
    shadow(c, p, pt.look.sdx, pt.look.sdy, pt.look.sblur * 1.5, 0.45)
    hh, ww = p.m.shape
    level = float(r.uniform(0.05, 0.14))
    ty = np.linspace(-1, 1, hh, dtype=np.float32)[:, None]
    tx = np.linspace(-1, 1, ww, dtype=np.float32)[None, :]
    val = level * (0.55 + 0.6 * np.sqrt(np.clip(1 - ty ** 2, 0, 1))) * (0.8 + 0.2 * np.sqrt(np.clip(1 - tx ** 2, 0, 1)))
    ng = int(r.integers(2, 5))
    grooves = np.zeros(ww, np.float32)
    for g in range(ng):
        gx = (g + 1) / (ng + 1) * 2 - 1
        grooves += np.exp(-0.5 * ((tx[0] - gx) / 0.04) ** 2)
    per = max(2.0, float(r.uniform(15, 40)) * vv.ky)
    rows = np.arange(hh, dtype=np.float32)[:, None]
    sipes = (np.sin(2 * np.pi * rows / per + tx * float(r.uniform(-3, 3))) > 0.3).astype(np.float32)
    val = val * (1 - 0.45 * grooves[None, :]) * (1 - 0.25 * sipes) + 0.04 * (1 - ty ** 2) * float(r.uniform(0, 1))
    paint(c, p, val.astype(np.float32))


def spring(c: Canvas, pt: Painter, r: np.random.Generator, u: float, v: float, rad: float) -> None:
    """A coil spring seen along its axis: a ring broken into coil segments, a damper inside."""
    vv = pt.v
    ring = vv.ellipse(u, v, rad, rad, thick=rad * 0.35)
    if ring is None:
        return
    shadow(c, ring, pt.look.sdx, pt.look.sdy, pt.look.sblur, 0.4)
    hh, ww = ring.m.shape
    yy, xx = np.mgrid[0:hh, 0:ww].astype(np.float32)
    cy_, cx_ = float(vv.y(v)) - ring.y0, float(vv.x(u)) - ring.x0
    ang = np.arctan2((yy - cy_) / max(vv.ky, 1e-6), (xx - cx_) / max(vv.kx, 1e-6))
    coils = float(r.integers(4, 8))
    lvl = pt.metal(r, 0.3, 0.7)
    val = lvl * (0.6 + 0.4 * np.abs(np.sin(coils * ang / 2)))
    paint(c, ring, val.astype(np.float32))
    pt.solid(c, vv.ellipse(u, v, rad * 0.35, rad * 0.35), pt.metal(r, 0.3, 0.7), r, shadow_k=0.5)


def cylinder(c: Canvas, pt: Painter, r: np.random.Generator, u: float, v: float, dia: float, length: float,
             along: bool, level: float, straps: int = 2, caps: bool = True) -> Patch | None:
    """A cylindrical tank (fuel, air) with straps; axis along the vehicle (along=True) or across."""
    vv = pt.v
    if along:
        p = vv.rect(u - dia / 2, v - length / 2, u + dia / 2, v + length / 2, r=dia * 0.2)
    else:
        p = vv.rect(u - length / 2, v - dia / 2, u + length / 2, v + dia / 2, r=dia * 0.2)
    if p is None:
        return None
    pt.solid(c, p, level, r, shade="axis", axis=1 if along else 0, gain=0.5, shadow_k=1.5)
    for k in range(straps):
        t = (k + 1) / (straps + 1) - 0.5
        sw = float(r.uniform(25, 50))
        if along:
            sp = vv.rect(u - dia / 2 - 10, v + t * length - sw / 2, u + dia / 2 + 10, v + t * length + sw / 2)
        else:
            sp = vv.rect(u + t * length - sw / 2, v - dia / 2 - 10, u + t * length + sw / 2, v + dia / 2 + 10)
        pt.solid(c, sp, pt.metal(r, 0.2, 0.6), r, shade="axis", axis=1 if along else 0, shadow_k=0.3)
    if caps and r.random() < 0.5:  # end seams
        for sgn in (-1, 1):
            e = (vv.line([(u - dia / 2, v + sgn * (length / 2 - 40)), (u + dia / 2, v + sgn * (length / 2 - 40))], 8)
                 if along else vv.line([(u + sgn * (length / 2 - 40), v - dia / 2), (u + sgn * (length / 2 - 40), v + dia / 2)], 8))
            paint(c, e, level * 0.6, alpha=0.6)
    return p


def diff(c: Canvas, pt: Painter, r: np.random.Generator, u: float, v: float, rad: float, front: bool) -> None:
    """Differential housing with its bolted cover (a ring of bolt heads) and a drain plug."""
    vv = pt.v
    pt.solid(c, vv.ellipse(u, v, rad, rad * float(r.uniform(0.8, 1.1))), pt.metal(r, 0.35, 0.65), r, gain=0.5,
             shadow_k=1.5)
    cov = rad * float(r.uniform(0.55, 0.75))
    cv_ = v + (-1 if front else 1) * rad * 0.25
    pt.solid(c, vv.ellipse(u, cv_, cov, cov), pt.metal(r, 0.4, 0.75), r, gain=0.3, shadow_k=0.5)
    nb = int(r.integers(8, 13))
    a = np.linspace(0, 2 * np.pi, nb, endpoint=False) + r.uniform(0, 1)
    bolts = [(u + cov * 0.85 * np.cos(t), cv_ + cov * 0.85 * np.sin(t)) for t in a]
    paint(c, vv.dots(bolts, cov * 0.08), pt.metal(r, 0.6, 0.9))
    paint(c, vv.dots([(u, cv_ + cov * 0.4)], cov * 0.12), float(r.uniform(0.1, 0.3)))


def shaft(c: Canvas, pt: Painter, r: np.random.Generator, pts: list[Pt], dia: float, joints: bool = True,
          boots: bool = False) -> None:
    """A drive shaft (tube) with U-joints (small crosses) or CV boots (ribbed rubber) at its ends."""
    vv = pt.v
    pt.solid(c, vv.band(pts, dia), pt.metal(r, 0.45, 0.8), r, gain=0.5, shadow_k=1.0)
    for (a, b) in (pts[0], pts[-1]):
        if boots:
            for k in range(4):
                paint(c, vv.ellipse(a, b, dia * (1.4 - 0.15 * k), dia * (1.4 - 0.15 * k)), 0.05 + 0.04 * (k % 2))
        elif joints:
            j = dia * 0.9
            pt.solid(c, vv.rect(a - j, b - j * 0.4, a + j, b + j * 0.4), pt.metal(r, 0.3, 0.6), r, shade="flat",
                     shadow_k=0.5)
            pt.solid(c, vv.rect(a - j * 0.4, b - j, a + j * 0.4, b + j), pt.metal(r, 0.3, 0.6), r, shade="flat",
                     shadow_k=0.5)


def leaf_spring(c: Canvas, pt: Painter, r: np.random.Generator, u: float, v: float, length: float,
                width: float) -> None:
    """Leaf spring along the vehicle: stacked leaves (edges as lines), eyes, U-bolts at the axle."""
    vv = pt.v
    p = vv.rect(u - width / 2, v - length / 2, u + width / 2, v + length / 2, r=width * 0.3)
    pt.solid(c, p, pt.metal(r, 0.3, 0.6), r, shade="axis", axis=1, gain=0.3, shadow_k=1.2)
    leaves = int(r.integers(2, 6))
    for k in range(1, leaves):
        lk = length * (1 - k / (leaves + 1))
        paint(c, vv.line([(u - width / 2, v - lk / 2), (u + width / 2, v - lk / 2)], 5), 0.08, alpha=0.7)
        paint(c, vv.line([(u - width / 2, v + lk / 2), (u + width / 2, v + lk / 2)], 5), 0.08, alpha=0.7)
    for sgn in (-1, 1):
        pt.solid(c, vv.ellipse(u, v + sgn * length / 2, width * 0.6, width * 0.6), pt.metal(r, 0.3, 0.6), r,
                 shadow_k=0.5)
    for du in (-width * 0.7, width * 0.7):  # U-bolts
        pt.solid(c, vv.rect(u + du - 8, v - 60, u + du + 8, v + 60), pt.metal(r, 0.5, 0.8), r, shade="flat",
                 shadow_k=0.5)


def rail(c: Canvas, pt: Painter, r: np.random.Generator, pts: list[Pt], width: float, rivets: bool) -> None:
    """A C-channel frame rail seen from below: the bottom flange (shaded), the web's edge as a
    darker line, holes, rivet rows."""
    vv = pt.v
    p = vv.band(pts, width)
    level = pt.metal(r, 0.4, 0.72)
    pt.solid(c, p, level, r, shade="tube", gain=0.3, shadow_k=1.5)
    web = [(a + width * 0.35 * float(r.choice([-1, 1])), b) for a, b in pts]
    paint(c, vv.line(web, max(4.0, width * 0.08)), level * 0.55, alpha=0.8)
    length = sum(float(np.hypot(q[0] - p_[0], q[1] - p_[1])) for p_, q in zip(pts[:-1], pts[1:]))
    a = np.asarray(pts, np.float64)
    seg = np.concatenate([[0], np.cumsum(np.hypot(*np.diff(a, axis=0).T))])
    if rivets:
        step = float(r.uniform(40, 80))
        t = np.arange(step, length - step, step)
        for off in (-width * 0.3, width * 0.3):
            us, vs = np.interp(t, seg, a[:, 0]) + off, np.interp(t, seg, a[:, 1])
            paint(c, vv.dots(list(zip(us, vs)), float(r.uniform(5, 9))), level * float(r.uniform(1.1, 1.35)))
    holes = int(r.integers(0, 8))
    if holes:
        t = r.uniform(0, length, holes)
        us, vs = np.interp(t, seg, a[:, 0]), np.interp(t, seg, a[:, 1])
        rad = float(r.uniform(8, width * 0.25))
        paint(c, vv.dots(list(zip(us, vs)), rad), level * 0.3)


def beam(c: Canvas, pt: Painter, r: np.random.Generator, u0: float, u1: float, v: float, depth: float,
         gussets: bool = True, kind: str | None = None) -> None:
    """A cross member between u0 and u1 at v: straight tube, C-channel (flange lines) or an
    X / K member; triangular gussets at the ends."""
    vv = pt.v
    kind = kind or str(r.choice(["tube", "channel", "channel", "x"]))
    lvl = pt.metal(r, 0.4, 0.7)
    if kind == "x":
        dv = depth * float(r.uniform(3, 6))
        p = union(vv.band([(u0, v - dv), (u1, v + dv)], depth * 0.7), vv.band([(u0, v + dv), (u1, v - dv)], depth * 0.7))
        pt.solid(c, p, lvl, r, gain=0.3, shadow_k=1.2)
        return
    p = vv.rect(u0, v - depth / 2, u1, v + depth / 2)
    pt.solid(c, p, lvl, r, shade="axis", axis=0, gain=0.4 if kind == "tube" else 0.2, shadow_k=1.2)
    if kind == "channel":
        off = depth * 0.3 * float(r.choice([-1, 1]))
        paint(c, vv.line([(u0, v + off), (u1, v + off)], 4), lvl * 0.55, alpha=0.8)
    if gussets:
        g = depth * float(r.uniform(1.0, 2.0))
        for ue, sgn in ((u0, 1), (u1, -1)):
            tri = vv.poly([(ue, v - depth / 2 - g), (ue + sgn * g, v - depth / 2), (ue + sgn * g, v + depth / 2),
                           (ue, v + depth / 2 + g)])
            pt.solid(c, tri, lvl * 0.9, r, shade="flat", shadow_k=0.6)


def exhaust(c: Canvas, pt: Painter, r: np.random.Generator, route: list[Pt], dia: float,
            cans: list[tuple[float, float, float, bool]], hangers: int) -> None:
    """Exhaust pipe along `route` (mm) with cans on it: (fraction along, length, width, across):
    catalyst, middle silencer, rear muffler (across the vehicle when `across`). Rubber hangers."""
    vv = pt.v
    lvl = pt.metal(r, 0.5, 0.85)
    pt.solid(c, vv.band(route, dia), lvl, r, gain=0.55, shadow_k=1.2)
    a = np.asarray(route, np.float64)
    seg = np.concatenate([[0], np.cumsum(np.hypot(*np.diff(a, axis=0).T))])
    if r.random() < 0.6:  # flex joint: braided, darker
        t = seg[-1] * float(r.uniform(0.05, 0.2))
        fu, fv = float(np.interp(t, seg, a[:, 0])), float(np.interp(t, seg, a[:, 1]))
        p = vv.ellipse(fu, fv, dia * 0.65, dia * 2.0)
        if p is not None:
            paint(c, p, (lvl * 0.6 * (0.8 + 0.2 * np.sin(np.arange(p.m.shape[0])[:, None] * 1.7))).astype(np.float32)
                  * np.ones_like(p.m))
    for frac, length, width, across in cans:
        t = seg[-1] * frac
        cu, cv_ = float(np.interp(t, seg, a[:, 0])), float(np.interp(t, seg, a[:, 1]))
        if across:
            p = vv.rect(cu - length / 2, cv_ - width / 2, cu + length / 2, cv_ + width / 2, r=width * 0.45)
        else:
            p = vv.rect(cu - width / 2, cv_ - length / 2, cu + width / 2, cv_ + length / 2, r=width * 0.45)
        pt.solid(c, p, pt.metal(r, 0.5, 0.85), r, shade="axis", axis=0 if across else 1, gain=0.5, shadow_k=1.5)
        if r.random() < 0.5 and p is not None:  # seam line
            paint(c, vv.line([(cu - (length / 2 if across else width / 2), cv_), (cu + (length / 2 if across else width / 2), cv_)]
                             if across else [(cu, cv_ - length / 2), (cu, cv_ + length / 2)], 5), lvl * 0.5, alpha=0.6)
    for _ in range(hangers):
        t = float(r.uniform(0.1, 0.95)) * seg[-1]
        hu, hv = float(np.interp(t, seg, a[:, 0])), float(np.interp(t, seg, a[:, 1]))
        side = float(r.choice([-1, 1]))
        pt.solid(c, vv.rect(hu + side * dia * 0.4, hv - 15, hu + side * (dia * 0.4 + 60), hv + 15, r=10),
                 float(r.uniform(0.04, 0.14)), r, shade="flat", shadow_k=0.4)


def heat_shield(c: Canvas, pt: Painter, r: np.random.Generator, u0: float, v0: float, u1: float, v1: float) -> None:
    """Embossed bright aluminium heat shield (dimples / ribs)."""
    vv = pt.v
    p = vv.rect(u0, v0, u1, v1, r=30)
    if p is None:
        return
    hh, ww = p.m.shape
    yy, xx = np.mgrid[0:hh, 0:ww].astype(np.float32)
    per = max(2.0, float(r.uniform(12, 30)) * vv.kx)
    emb = 0.5 + 0.5 * np.sin(2 * np.pi * xx / per) * np.sin(2 * np.pi * yy / max(2.0, per * vv.ky / vv.kx))
    lvl = pt.metal(r, 0.55, 0.9)
    shadow(c, p, pt.look.sdx * 0.5, pt.look.sdy * 0.5, pt.look.sblur, 0.2)
    paint(c, p, (lvl * (0.85 + 0.15 * emb)).astype(np.float32))
