"""Running gear seen from below: tyres, coil and leaf springs, differentials, drive shafts.

Normal parts of an undercarriage, drawn in vehicle millimetres through a `Painter`.
"""

from __future__ import annotations

import numpy as np

from models.generators.common import Canvas
from models.generators.under_vehicle_drawing import Painter, Pt, paint, shadow


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
