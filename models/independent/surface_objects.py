"""Foreign objects lying on a surface, for `surface_defects`: each has its own outline, shading and texture.

Every painter draws in a local frame (u along the object, v across) placed at a random spot
and angle, and returns the object's coverage, its grey image (shaded with the crop's light
direction, so round things get a highlight and a dark side) and how far its shadow falls.

EVALUATION ONLY: never train, tune or select models on images made with this module.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import surface_draw as d
from .surface_draw import Ctx

OBJECTS: tuple[str, ...] = ("bolt", "leaf", "bottle_cap", "plastic", "paper", "cigarette_butt")

Painted = tuple[np.ndarray, np.ndarray, float]  # coverage, grey image, shadow offset (px)


def _frame(ctx: Ctx, radius: float) -> tuple[float, float, float, float]:
    """Fitted radius, centre and angle of an object reaching `radius` px from its centre."""
    m = 4 * ctx.scale
    r = d.fit_radius(ctx, radius, m)
    cx, cy = d.centre(ctx, r, m)
    return r / radius, cx, cy, float(ctx.rng.uniform(0, 2 * np.pi))


def _lit(ctx: Ctx, albedo: np.ndarray, dif: np.ndarray, ambient: float) -> np.ndarray:
    """Albedo under ambient + diffuse light, scaled so a face turned straight up keeps its albedo
    (the photographed surface around it is lit the same way)."""
    return albedo * (ambient + (1 - ambient) * dif) / (ambient + (1 - ambient) * np.sin(ctx.elev))


def _cylinder(ctx: Ctx, ang: float, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shading of a cylinder lying along u, `n` = v / radius (-1..1)."""
    n = np.clip(n, -1, 1)
    return d.shade(ctx, ang, np.zeros_like(n), n, np.sqrt(1 - n * n))


def _bolt(ctx: Ctx) -> Painted:
    rng, S = ctx.rng, ctx.size
    length, rs = rng.uniform(0.4, 0.62) * S, rng.uniform(0.042, 0.06) * S
    f, cx, cy, ang = _frame(ctx, np.hypot(length / 2, 1.7 * rs))
    length, rs = length * f, rs * f
    rh, lh, u0 = rs * rng.uniform(1.5, 1.8), rs * rng.uniform(1.2, 1.6), -length / 2
    c = 0.25 * rh
    head = np.array([[u0, -rh + c], [u0 + c, -rh], [u0 + lh, -rh], [u0 + lh, rh], [u0 + c, rh], [u0, rh - c]])
    e = 0.4 * rs
    shank = np.array([[u0 + lh, -rs], [-u0 - e, -rs], [-u0, -rs + e], [-u0, rs - e], [-u0 - e, rs], [u0 + lh, rs]])
    alpha = d.fill(ctx.shape, [d.rot(head, ang, cx, cy), d.rot(shank, ang, cx, cy)])
    u, v = d.grid(ctx.shape, cx, cy, ang)
    dif, spec = _cylinder(ctx, ang, v / rs)
    beta = np.where(np.abs(v) < rh / 2, 0.0, np.sign(v) * np.pi / 3)  # three hex faces seen side-on
    hdif, hspec = d.shade(ctx, ang, np.zeros_like(v), np.sin(beta), np.cos(beta))
    in_head = u < u0 + lh
    dif, spec = np.where(in_head, hdif, dif), np.where(in_head, hspec, spec)
    rusty = rng.uniform() < 0.3
    base = rng.uniform(0.25, 0.4) if rusty else rng.uniform(0.5, 0.72)
    thread = (u > u0 + lh + rng.uniform(0.2, 0.5) * (length - lh)) & ~in_head
    pitch = rng.uniform(2.2, 3.2) * ctx.scale
    groove = 1 - thread * 0.35 * (0.5 + 0.5 * np.sin(2 * np.pi * (u + 0.35 * v) / pitch))
    albedo = base * groove * (1 + (0.25 if rusty else 0.05) * d.field(ctx, 3 * ctx.scale))
    img = _lit(ctx, albedo, dif, 0.3) + (0.15 if rusty else 0.5) * spec
    return alpha, img, rng.uniform(1.5, 3.0) * ctx.scale


def _leaf(ctx: Ctx) -> Painted:
    rng, S = ctx.rng, ctx.size
    length = rng.uniform(0.35, 0.58) * S
    width = length * rng.uniform(0.16, 0.28)
    stem = length * rng.uniform(0.08, 0.18)
    f, cx, cy, ang = _frame(ctx, length / 2 + stem)
    length, width, stem = length * f, width * f, stem * f
    curl = rng.uniform(-0.25, 0.25) * length
    t = np.linspace(0, 1, 80)
    uu, mid = -length / 2 + t * length, curl * (t - 0.5) ** 2
    half = width * np.sin(np.pi * t ** rng.uniform(0.6, 0.9)) ** 0.9
    if rng.uniform() < 0.35:  # serrated edge
        half *= 1 - 0.08 * np.abs(np.sin(rng.uniform(25, 40) * np.pi * t))
    poly = np.vstack([np.stack([uu, mid + half], 1), np.stack([uu[::-1], (mid - half)[::-1]], 1)])
    sp = np.array([[-length / 2 - stem, curl * 0.25 + rng.uniform(-0.3, 0.3) * stem], [-length / 2, curl * 0.25]])
    alpha = np.maximum(d.fill(ctx.shape, [d.rot(poly, ang, cx, cy)]),
                       d.stroke(ctx.shape, d.rot(sp, ang, cx, cy), np.array([1.3 * ctx.scale])))
    u, v = d.grid(ctx.shape, cx, cy, ang)
    tt = np.clip((u + length / 2) / length, 0, 1)
    dv = v - curl * (tt - 0.5) ** 2
    tilt = np.radians(rng.uniform(10, 30)) * np.sign(dv)  # folded along the midrib
    dif, _ = d.shade(ctx, ang, np.zeros_like(v), np.sin(tilt), np.cos(tilt))
    level = ctx.under(alpha)
    dry = rng.uniform() < 0.5
    tone = d.away(rng.uniform(0.55, 0.8) if dry else rng.uniform(0.2, 0.42), level, 0.15)
    sp_v = rng.uniform(0.09, 0.14) * length
    ph = (u - np.abs(dv) * rng.uniform(0.8, 1.5)) / sp_v
    vein = np.exp(-((np.abs(ph - np.round(ph)) * sp_v) / (0.55 * ctx.scale)) ** 2) * (np.abs(dv) > ctx.scale)
    rib = np.exp(-(dv / (0.7 * ctx.scale)) ** 2)
    sign = 1.0 if tone < 0.6 else -1.0
    albedo = tone * (1 + sign * (0.18 * rib + 0.08 * vein) + 0.04 * d.grain(ctx)
                     + (0.12 if dry else 0.04) * d.field(ctx, 4 * ctx.scale))
    return alpha, _lit(ctx, albedo, dif, 0.4), rng.uniform(0.6, 1.5) * ctx.scale


def _cap(ctx: Ctx) -> Painted:
    rng = ctx.rng
    rc = rng.uniform(0.1, 0.15) * ctx.size
    f, cx, cy, ang = _frame(ctx, rc)
    rc *= f
    squash = 1.0 if rng.uniform() < 0.7 else rng.uniform(0.72, 0.9)  # bent
    flutes = 21
    th = np.linspace(0, 2 * np.pi, 252, endpoint=False)
    r = rc * (1 - 0.06 * (0.5 + 0.5 * np.cos(flutes * th)))
    alpha = d.fill(ctx.shape, [d.rot(np.stack([r * np.cos(th), squash * r * np.sin(th)], 1), ang, cx, cy)])
    u, v = d.grid(ctx.shape, cx, cy, ang)
    v = v / squash
    rho, phi = np.hypot(u, v) / rc, np.arctan2(v, u)
    upside = rng.uniform() < 0.35
    skirt = d.smoothstep((rho - 0.66) / 0.1)
    az = phi + 0.35 * np.sin(flutes * phi)
    beta = skirt * np.radians(55) + (1 - skirt) * np.radians(12) * rho  # domed top, sloping fluted skirt
    sgn = -1.0 if upside else 1.0
    dif, spec = d.shade(ctx, ang, sgn * np.sin(beta) * np.cos(az), sgn * np.sin(beta) * np.sin(az), np.cos(beta))
    level = ctx.under(alpha)
    metal = d.away(rng.uniform(0.55, 0.82), level, 0.15)
    albedo = np.full(ctx.shape, metal, np.float32)
    if upside:  # the liner shows inside
        albedo = np.where(rho < 0.62, d.away(rng.uniform(0.6, 0.85), level, 0.15), albedo)
    elif rng.uniform() < 0.6:  # printed ring on the top
        ring = np.exp(-((rho - rng.uniform(0.35, 0.5)) / 0.07) ** 2)
        albedo *= 1 - 0.35 * ring
    img = _lit(ctx, albedo, dif, 0.35) + 0.45 * spec + 0.02 * d.grain(ctx)
    return alpha, img, rng.uniform(1.0, 2.2) * ctx.scale


def _plastic(ctx: Ctx) -> Painted:
    rng = ctx.rng
    m = 4 * ctx.scale
    poly = d.jagged(rng, d.area_radius(ctx, 0.03, 0.1), int(rng.integers(4, 8)), 0.03)
    [poly] = d.place(ctx, [poly], m)
    alpha = d.fill(ctx.shape, [poly])
    cx, cy = poly.mean(0)
    ang = float(rng.uniform(0, 2 * np.pi))
    u, v = d.grid(ctx.shape, cx, cy, ang)
    level = ctx.under(alpha)
    tone = d.away(float(rng.choice([rng.uniform(0.08, 0.3), rng.uniform(0.65, 0.92)])), level, 0.2)
    film = rng.uniform() < 0.4
    ramp = u / max(float(np.abs(u[alpha > 0.5]).max()) if (alpha > 0.5).any() else 1.0, 1.0)
    sheen = np.exp(-((v - rng.uniform(-0.4, 0.4) * ctx.size * 0.1) / (rng.uniform(1.5, 4) * ctx.scale)) ** 2)
    img = tone * (1 + 0.12 * ramp) + 0.3 * sheen + 0.01 * d.grain(ctx)
    if film:  # thin film: see-through, crinkled into facets
        for _ in range(int(rng.integers(2, 5))):
            a = rng.uniform(0, np.pi)
            side = (u - rng.uniform(-5, 5) * ctx.scale) * np.cos(a) + v * np.sin(a)
            img = img * (1 + rng.uniform(0.05, 0.12) * np.sign(side)) + 0.15 * np.exp(-(side / ctx.scale) ** 2)
        op = rng.uniform(0.55, 0.8)
        img = op * img + (1 - op) * d.blur(ctx.img, 1.2 * ctx.scale)
    else:  # rigid piece: a lit broken edge
        img = img + 0.15 * np.clip(alpha - d.erode(alpha, 1.2 * ctx.scale), 0, 1)
    return alpha, img, rng.uniform(0.6, 1.2 if film else 2.5) * ctx.scale


def _paper(ctx: Ctx) -> Painted:
    rng = ctx.rng
    r = d.area_radius(ctx, 0.04, 0.13)
    asp = rng.uniform(1.0, 1.7)
    a, b = r * np.sqrt(np.pi / 4 * asp), r * np.sqrt(np.pi / 4 / asp)
    rect = np.array([[-a, -b], [a, -b], [a, b], [-a, b]]) * rng.uniform(0.92, 1.08, (4, 2))
    frac = np.linspace(0, 1, 12, endpoint=False)[:, None]
    sides = [rect[i] + frac * (rect[(i + 1) % 4] - rect[i]) for i in range(4)]
    torn = int(rng.integers(0, 5))  # 4: none torn
    if torn < 4:
        sides[torn][1:] += rng.normal(0, 0.03 * r, (11, 2))
    ang = float(rng.uniform(0, 2 * np.pi))
    [poly] = d.place(ctx, [d.rot(np.vstack(sides), ang)], 4 * ctx.scale)
    alpha = d.fill(ctx.shape, [poly])
    cx, cy = poly.mean(0)
    u, v = d.grid(ctx.shape, cx, cy, ang)
    level = ctx.under(alpha)
    tone = rng.uniform(0.8, 0.95) if level < 0.62 else rng.uniform(0.3, 0.45)  # else cardboard
    albedo = np.full(ctx.shape, d.away(tone, level, 0.2), np.float32)
    for _ in range(int(rng.integers(0, 4))):  # folds: facets facing the light differently
        t = rng.uniform(0, np.pi)
        side = (u - rng.uniform(-0.6, 0.6) * a) * np.cos(t) + (v - rng.uniform(-0.6, 0.6) * b) * np.sin(t)
        albedo *= 1 + rng.uniform(0.04, 0.1) * np.tanh(side / ctx.scale)
    if rng.uniform() < 0.4:  # printed lines of text
        pitch = rng.uniform(2.5, 3.5) * ctx.scale
        lines = (np.abs(v / pitch - np.round(v / pitch)) < 0.2) & (d.field(ctx, 3 * ctx.scale) > -0.3)
        albedo *= 1 - 0.35 * (lines & (np.abs(u) < 0.8 * a) & (np.abs(v) < 0.8 * b))
    return alpha, albedo * (1 + 0.02 * d.grain(ctx)), rng.uniform(0.8, 1.8) * ctx.scale


def _cigarette(ctx: Ctx) -> Painted:
    rng = ctx.rng
    length = rng.uniform(0.28, 0.42) * ctx.size
    r = length / rng.uniform(7, 9)
    f, cx, cy, ang = _frame(ctx, np.hypot(length / 2, r))
    length, r = length * f, r * f
    curl = rng.uniform(-0.12, 0.12) * length
    t = np.linspace(0, 1, 40)
    uu, mid = -length / 2 + t * length, curl * (t - 0.5) ** 2
    end = rng.uniform(-0.35, 0.35, 7) * r  # ragged burnt end
    tip = np.stack([length / 2 + end, np.linspace(r, -r, 7) + curl * 0.25], 1)
    poly = np.vstack([np.stack([uu, mid - r], 1), tip, np.stack([uu[::-1], (mid + r)[::-1]], 1)])
    alpha = d.fill(ctx.shape, [d.rot(poly, ang, cx, cy)])
    u, v = d.grid(ctx.shape, cx, cy, ang)
    tt = (u + length / 2) / length
    dif, spec = _cylinder(ctx, ang, (v - curl * (tt - 0.5) ** 2) / r)
    filt, ash = rng.uniform(0.45, 0.65), 1 - rng.uniform(0.06, 0.14)
    cork = rng.uniform(0.5, 0.7) * (1 + 0.12 * d.grain(ctx, 0.6))
    paper = rng.uniform(0.86, 0.95) * (1 + 0.02 * d.grain(ctx))
    char = rng.uniform(0.2, 0.35) * (1 + 0.3 * d.grain(ctx, 0.6))
    albedo = np.where(tt < filt, cork, np.where(tt < ash, paper, char))
    albedo *= 1 - 0.3 * np.exp(-((tt - filt) * length / (0.8 * ctx.scale)) ** 2)  # tipping band
    albedo *= 1 - 0.5 * np.exp(-((tt - ash) * length / (1.0 * ctx.scale)) ** 2)   # scorched ring
    return alpha, _lit(ctx, albedo, dif, 0.4) + 0.12 * spec, rng.uniform(0.8, 1.8) * ctx.scale


_PAINTERS: dict[str, Callable[[Ctx], Painted]] = {
    "bolt": _bolt, "leaf": _leaf, "bottle_cap": _cap, "plastic": _plastic,
    "paper": _paper, "cigarette_butt": _cigarette}


def foreign_object(ctx: Ctx, which: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One object dropped on the crop: (new float image, object coverage, shadow map)."""
    which = which or str(ctx.rng.choice(OBJECTS))
    alpha, img, off = _PAINTERS[which](ctx)
    sh = d.blur(d.shift(alpha, -off * ctx.lvec[0], -off * ctx.lvec[1]), ctx.rng.uniform(0.6, 1.2) * ctx.scale)
    out = ctx.img * (1 - ctx.rng.uniform(0.25, 0.45) * sh)
    out = out + alpha * (np.clip(img, 0, 1) - out)
    return out, alpha, sh * (1 - alpha)
