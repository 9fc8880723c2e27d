"""Exhaust system seen from below: pipe with catalyst, silencers and hangers; embossed heat shields.

Normal parts of an undercarriage, drawn in vehicle millimetres through a `Painter`.
"""

from __future__ import annotations

import numpy as np

from models.generators.common import Canvas
from models.generators.under_vehicle_drawing import Painter, Pt, paint, shadow


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
