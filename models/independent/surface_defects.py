"""Defects painted onto photographed-surface crops (brick, grass, gravel, ...), for evaluation.

`add_defect(crop, kind, seed)` returns the damaged crop and a mask of the defect's pixels.
Levels come from the crop itself (its local mean grey and its standard deviation), so a stain
darkens what is there and a paint splash stands off the surface's own grey; a contrast draw
per seed runs from subtle-but-visible to obvious. Shapes, sizes, positions, orientations and
the light direction (for rims, walls and shadows) vary with the seed; everything stays inside
the crop. Changes reach at most `keep_radius` px past the mask (soft edges, shadows).

EVALUATION ONLY: never train, tune, calibrate or select models on these images.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import cv2
import numpy as np

from . import surface_draw as d
from .surface_draw import Ctx
from .surface_objects import OBJECTS, foreign_object

KINDS: tuple[str, ...] = ("crack", "hole", "stain", "foreign_object", "paint", "scratch", "burn",
                          "missing_piece")
__all__ = ["KINDS", "OBJECTS", "add_defect", "keep_radius"]

Drawn = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # new image, coverage, extra mask or None


def keep_radius(shape: tuple[int, int]) -> int:
    """How far (px) past the mask pixels may change: 4 px on a 128 crop, scaled, at least 3."""
    return max(3, int(np.ceil(4 * min(shape) / 128.0)))


def _walk(rng: np.random.Generator, length: float, step: float, heading: float, bend: float,
          zig: float) -> tuple[np.ndarray, np.ndarray]:
    """A path from the origin: slow turns of up to `bend` rad plus `zig` rad of step-to-step jitter."""
    n = max(4, int(length / step))
    turn = bend * d.smooth_curve_knots(rng, n) + zig * rng.standard_normal(n)
    ang = heading + turn
    steps = np.stack([np.cos(ang), np.sin(ang)], 1) * step
    return np.vstack([np.zeros((1, 2)), np.cumsum(steps, 0)]), ang


def _crack(ctx: Ctx) -> Drawn:
    """Ragged dark fissure with 1-3 branches, tapering, a faint dirt halo and a lit lip."""
    rng, s = ctx.rng, ctx.scale
    length = rng.uniform(0.4, 0.9) * ctx.size
    main, ang = _walk(rng, length, 1.5 * s, rng.uniform(0, 2 * np.pi), 0.5, rng.uniform(0.25, 0.45))
    t = np.linspace(0, 1, len(main))
    w0 = rng.uniform(0.8, 2.2) * s * (1 + 3 * max(0.0, ctx.std - 0.08))  # wider on busy texture
    widths = w0 * (0.3 + 0.7 * np.sin(np.pi * t) ** 0.5) * (1 + 0.3 * d.smooth_curve_knots(rng, len(t))
                                                          + 0.15 * rng.standard_normal(len(t)))
    parts, wlist = [main], [widths]
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(int(0.15 * len(main)), int(0.85 * len(main))))
        side = rng.choice([-1.0, 1.0]) * rng.uniform(0.35, 1.0)
        br, _ = _walk(rng, rng.uniform(0.15, 0.45) * length, 1.5 * s, ang[min(i, len(ang) - 1)] + side,
                      0.4, rng.uniform(0.25, 0.45))
        parts.append(br + main[i])
        wlist.append(widths[i] * rng.uniform(0.5, 0.8) * np.linspace(1, 0.35, len(br)))
    parts = d.place(ctx, parts, 3 * s)
    alpha = np.zeros(ctx.shape, np.float32)
    for p, w in zip(parts, wlist):
        alpha = np.maximum(alpha, d.stroke(ctx.shape, p, np.maximum(w, max(0.6 * s, 0.8))))
    level = ctx.under(alpha)
    floor = min(0.75, 2.0 * ctx.std / max(level, 0.1))  # at least two crop sigmas deep
    dark = float(np.clip(0.3 + 0.55 * ctx.q + rng.uniform(0, 0.1), floor, 0.95))
    halo = d.blur(alpha, 1.2 * s)
    lip = np.clip(d.shift(alpha, ctx.lvec[0] * s, ctx.lvec[1] * s) - alpha, 0, 1)
    out = ctx.img * (1 - dark * alpha) * (1 - 0.15 * halo)
    return out + 0.12 * lip * (1 - out), alpha, None


def _scratch(ctx: Ctx) -> Drawn:
    """Thin bright (fresh material) or dark (groove) line, gently curved, 1-4 parallel strokes."""
    rng, s = ctx.rng, ctx.scale
    length = rng.uniform(0.4, 0.9) * ctx.size
    heading = rng.uniform(0, 2 * np.pi)
    n = max(8, int(length / (1.5 * s)))
    ang = heading + rng.uniform(-0.4, 0.4) * np.linspace(-0.5, 0.5, n) + 0.02 * rng.standard_normal(n)
    base = np.vstack([np.zeros((1, 2)), np.cumsum(np.stack([np.cos(ang), np.sin(ang)], 1) * 1.5 * s, 0)])
    normal = np.array([-np.sin(heading), np.cos(heading)])
    count = 1 if rng.uniform() < 0.65 else int(rng.integers(2, 5))
    parts, strokes = [], []
    for k in range(count):
        t = np.linspace(0, 1, len(base))
        keep = (t >= rng.uniform(0, 0.25) * (k > 0)) & (t <= 1 - rng.uniform(0, 0.25) * (k > 0))
        parts.append(base[keep] + normal * k * rng.uniform(1.5, 4.0) * s)
        tk = np.linspace(0, 1, int(keep.sum()))
        press = (np.clip(0.8 + 0.3 * d.smooth_curve_knots(rng, len(tk)), 0.5, 1)
                 * np.clip(4 * np.sin(np.pi * tk), 0, 1) ** 0.5)
        if rng.uniform() < 0.3:  # the tool skipped
            g0 = rng.uniform(0.2, 0.8)
            press[(tk > g0) & (tk < g0 + rng.uniform(0.05, 0.15))] = 0
        width = (rng.uniform(0.9, 1.7) * s * (1 + 3 * max(0.0, ctx.std - 0.08))
                 * np.clip(1 + 0.3 * d.smooth_curve_knots(rng, len(tk)), 0.8, None))
        strokes.append((width, press))
    parts = d.place(ctx, parts, 3 * s)
    alpha = np.zeros(ctx.shape, np.float32)
    for p, (w, pr) in zip(parts, strokes):
        alpha = np.maximum(alpha, d.stroke(ctx.shape, p, np.maximum(w, 0.8), pr))
    level = ctx.under(alpha)
    step = ctx.delta(2.0, 4.0, 0.2, 0.55)
    bright = rng.uniform() < (0.65 if level < 0.6 else 0.3)
    if level + step > 0.97 or level < 0.12:  # no room above, or too dark to darken
        bright = level < 0.12
    if bright:  # fresh material, brighter than what is there even on light texture
        target = np.clip(np.maximum(ctx.local + step, ctx.img + 0.5 * step), 0, 1)
    else:
        k = min(0.75, step / max(level, 0.1) + 0.2)
        target = np.minimum(ctx.local * (1 - k), ctx.img * (1 - 0.5 * k))
    return ctx.img + alpha * (target - ctx.img), alpha, alpha > 0.15  # faint stretches still count


def _stain(ctx: Ctx) -> Drawn:
    """Irregular soft-edged patch that darkens multiplicatively (texture stays), maybe a tide line."""
    rng, s = ctx.rng, ctx.scale
    r = d.area_radius(ctx, 0.03, 0.15)
    [pts] = d.place(ctx, [d.blob(rng, r, rng.uniform(0.15, 0.4), 7, rng.uniform(1.0, 1.7))], 4 * s)
    hard = d.fill(ctx.shape, [pts])
    sig = rng.uniform(0.8, 1.6) * s
    soft = d.blur(hard, sig)
    alpha = soft * np.clip(0.82 + 0.18 * d.field(ctx, r / 2), 0.55, 1)
    tide = soft * (1 - d.blur(d.erode(hard, 2.5 * s), sig)) * (rng.uniform() < 0.5)
    dark = float(np.clip(ctx.delta(1.2, 3.0, 0.08, 0.45) / max(ctx.under(hard), 0.1), 0.18, 0.7))
    alpha = np.clip(alpha + 0.6 * tide, 0, 1)
    return ctx.img * (1 - dark * alpha), alpha, None


def _paint(ctx: Ctx) -> Drawn:
    """Flat-ish splash of another grey: lobed outline, satellite droplets, sometimes drips."""
    rng, s = ctx.rng, ctx.scale
    r = d.area_radius(ctx, 0.03, 0.11)
    th = np.linspace(0, 2 * np.pi, 240, endpoint=False)
    rr = d.outline(rng, th, rng.uniform(0.2, 0.45), 12)
    lobes = rng.uniform(0, 2 * np.pi, int(rng.integers(3, 9)))
    for a in lobes:
        off = np.angle(np.exp(1j * (th - a)))
        rr += rng.uniform(0.15, 0.6) * np.exp(-(off / rng.uniform(0.08, 0.2)) ** 2)
    blob = np.stack([r * rr * np.cos(th), r * rr * np.sin(th)], 1)
    drops = [np.zeros((0, 2))]
    if rng.uniform() < 0.65:
        k = int(rng.integers(3, 11))
        da = rng.choice(lobes, k) + rng.normal(0, 0.25, k)
        dist = r * rng.uniform(1.2, 1.9, k)
        drops = [np.stack([dist * np.cos(da), dist * np.sin(da)], 1)]
    drips = []
    for _ in range(int(rng.integers(1, 4)) if rng.uniform() < 0.3 else 0):  # runs down the wall
        x0 = rng.uniform(-0.6, 0.6) * r
        drips.append(np.array([[x0, 0.5 * r], [x0 + rng.normal(0, 0.5 * s), r * rng.uniform(1.3, 2.0)]]))
    placed = d.place(ctx, [blob, *drops, *drips], 4 * s)
    hard = d.fill(ctx.shape, [placed[0]])
    if len(placed[1]):
        radii = np.maximum(rng.uniform(0.9, 2.4, len(placed[1])) * s, 0.8)
        hard = np.maximum(hard, d.discs(ctx.shape, placed[1], radii))
    for p in placed[2:]:
        w = rng.uniform(1.5, 3.0) * s
        hard = np.maximum(hard, d.stroke(ctx.shape, p, np.array([w])))
        hard = np.maximum(hard, d.discs(ctx.shape, p[1:], np.array([0.8 * w])))
    alpha = d.blur(hard, rng.uniform(0.5, 1.2) * s)
    level = ctx.under(hard)
    tone = d.away(level + rng.choice([-1, 1]) * ctx.delta(1.3, 3.0, 0.15, 0.45), level, 0.15)
    relief = rng.uniform(0.1, 0.3) * (ctx.img - ctx.local)  # the coat follows the surface relief
    coat = tone * (1 + 0.03 * d.field(ctx, r / 2)) + relief
    return ctx.img + alpha * rng.uniform(0.8, 0.97) * (coat - ctx.img), alpha, hard > 0.5


def _burn(ctx: Ctx) -> Drawn:
    """Dark smudge with a gradient: scorched fringe, charred matt core where the texture is lost."""
    rng, s = ctx.rng, ctx.scale
    r = d.area_radius(ctx, 0.04, 0.14) / 0.93  # the mask (alpha > 0.05) ends near rho = 0.93
    aspect, ang = rng.uniform(1.0, 1.8), rng.uniform(0, np.pi)
    a, b = r * np.sqrt(aspect), r / np.sqrt(aspect)
    f = d.fit_radius(ctx, 1.25 * a, 2 * s) / (1.25 * a)
    a, b = a * f, b * f
    cx, cy = d.centre(ctx, 1.25 * a, 2 * s)
    u, v = d.grid(ctx.shape, cx, cy, ang)
    rho = np.sqrt((u / a) ** 2 + (v / b) ** 2) * np.clip(1 + 0.22 * d.field(ctx, r / 1.5), 0.8, 1.25)
    trail = np.clip(1 + rng.uniform(-0.6, 0.6) * u / a, 0.5, 1.5)  # soot carried to one side
    alpha = np.clip(np.clip(1 - rho ** 2, 0, 1) ** 1.5 * trail, 0, 1)
    out = ctx.img * (1 - (rng.uniform(0.55, 0.7) + 0.25 * ctx.q) * alpha)
    core = d.smoothstep((alpha - 0.45) / 0.5) * rng.uniform(0.5, 0.85)
    char = ctx.under(alpha) * rng.uniform(0.08, 0.2) * (1 + 0.35 * d.grain(ctx, 0.8))
    return out + core * (char - out), alpha, alpha > 0.05


def _hole(ctx: Ctx) -> Drawn:
    """A pit: sloping walls shaded by the light (far wall lit, near wall dark), a dark occluded
    floor, and a broken rim of lighter material, brightest where it faces the light."""
    rng, s = ctx.rng, ctx.scale
    r = d.area_radius(ctx, 0.02, 0.085)
    th = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    rr = d.outline(rng, th, rng.uniform(0.08, 0.2), 8) * (1 + 0.015 * rng.standard_normal(len(th)))
    aspect = rng.uniform(1.0, 1.4)
    inner = d.rot(np.stack([rr * np.cos(th) * np.sqrt(aspect), rr * np.sin(th) / np.sqrt(aspect)], 1) * r,
                  rng.uniform(0, np.pi))
    rim = inner * (1 + rng.uniform(0.12, 0.25) * (1 + 0.4 * d.smooth_curve_knots(rng, len(th))[:, None]))
    inner, rim = d.place(ctx, [inner, rim], 3 * s)
    hard = d.fill(ctx.shape, [inner])
    hole = d.blur(hard, 0.5 * s)
    ring = np.clip(d.blur(d.fill(ctx.shape, [rim]), 0.7 * s) - hole, 0, 1)
    dist = d.blur(cv2.distanceTransform((hard > 0.5).astype(np.uint8), cv2.DIST_L2, 5), 1.0 * s)
    gy, gx = np.gradient(dist)
    gn = np.hypot(gx, gy) + 1e-6
    t = np.clip(dist / (rng.uniform(0.45, 0.75) * max(float(dist.max()), 1.0)), 0, 1)  # 0 rim, 1 floor
    beta = np.radians(rng.uniform(45, 70)) * (1 - d.smoothstep((t - 0.6) / 0.4))
    dif, _ = d.shade(ctx, 0.0, gx / gn * np.sin(beta), gy / gn * np.sin(beta), np.cos(beta))
    level = ctx.under(hole)
    floor = rng.uniform(0.2, 0.45) + 0.25 * (1 - ctx.q)  # how much light reaches the bottom
    occl = 1 - (1 - floor) * t ** 0.8
    albedo = level * rng.uniform(0.85, 1.15) * (1 + 0.06 * d.grain(ctx, 0.8))
    pit = albedo * (0.1 + 0.9 * dif) * occl + 0.08 * (ctx.img - ctx.local)
    cx, cy = inner.mean(0)
    y, x = np.mgrid[0:ctx.shape[0], 0:ctx.shape[1]].astype(np.float32)
    near = ((x - cx) * ctx.lvec[0] + (y - cy) * ctx.lvec[1]) / r  # > 0 on the side towards the light
    chips = np.clip(0.75 + 0.25 * d.field(ctx, 4 * s), 0.3, 1)
    gain = rng.uniform(0.3, 0.55) * (0.55 + 0.45 * np.clip(near, -1, 1)) * chips
    out = ctx.img + ring * np.clip(gain, 0, 1) * (1 - ctx.img)
    return out + hole * (pit - out), np.maximum(hole, ring), None


def _missing(ctx: Ctx) -> Drawn:
    """A chipped-off piece: angular outline, flat other material below, step shadow and lit wall."""
    rng, s = ctx.rng, ctx.scale
    r = d.area_radius(ctx, 0.045, 0.17)
    [poly] = d.place(ctx, [d.jagged(rng, r, int(rng.integers(5, 10)), 0.05)], 3 * s)
    hole = d.fill(ctx.shape, [poly])
    level = ctx.under(hole)
    sign = 1 if rng.uniform() < 0.6 else -1
    tone = d.away(level + sign * ctx.delta(1.0, 2.5, 0.12, 0.35), level, 0.12)
    ramp = d.field(ctx, 2 * r)
    floor = tone * (1 + 0.04 * ramp + rng.uniform(0.015, 0.035) * d.grain(ctx, 0.6))
    depth = rng.uniform(1.5, 3.5) * s
    lx, ly = ctx.lvec
    shadow = d.blur(hole * (1 - d.shift(hole, -depth * lx, -depth * ly)), 0.6 * s)
    wall = hole * (1 - d.shift(hole, 1.2 * s * lx, 1.2 * s * ly))
    floor = floor * (1 - rng.uniform(0.35, 0.6) * shadow) + 0.5 * wall * (np.clip(level * 1.35, 0, 1) - floor)
    return ctx.img + hole * (floor - ctx.img), hole, None


def _foreign(ctx: Ctx) -> Drawn:
    out, alpha, shadow = foreign_object(ctx)
    return out, alpha, shadow > 0.5


_DRAW: dict[str, Callable[[Ctx], Drawn]] = {
    "crack": _crack, "hole": _hole, "stain": _stain, "foreign_object": _foreign, "paint": _paint,
    "scratch": _scratch, "burn": _burn, "missing_piece": _missing}


def add_defect(crop: np.ndarray, kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`crop` (2-D uint8, sides 64..512 px intended) with one defect of `kind`; (image, bool mask).

    The same (crop, kind, seed) gives the same pixels. The mask is where the defect covers or
    visibly changes the surface (coverage > 0.3, plus paint droplets, faint stretches of a
    scratch, the darkened fringe of a burn and an object's core shadow); pixels change only
    within `keep_radius` px of it.
    """
    if kind not in _DRAW:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    crop = np.asarray(crop)
    if crop.dtype != np.uint8 or crop.ndim != 2 or min(crop.shape) < 32:
        raise ValueError(f"crop must be a 2-D uint8 image with sides >= 32, got {crop.dtype} {crop.shape}")
    seed = int(seed)
    seq = np.random.SeedSequence([seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, zlib.crc32(kind.encode())])
    ctx = d.make_ctx(crop, np.random.default_rng(seq))
    out, alpha, extra = _DRAW[kind](ctx)
    mask = alpha > 0.3
    if extra is not None:
        mask |= extra
    if not mask.any():  # never expected; keeps the contract if a draw comes out very faint
        mask = alpha >= 0.5 * float(alpha.max())
    k = keep_radius(crop.shape)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    keep = cv2.dilate(mask.astype(np.uint8), disc)
    img = cv2.multiply(np.clip(out, 0, 1).astype(np.float32), 255.0, dtype=cv2.CV_8U)
    return np.where(keep > 0, img, crop), mask
