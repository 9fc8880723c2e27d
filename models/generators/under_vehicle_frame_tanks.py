"""Frame and tanks seen from below: C-channel rails, cross members, strapped cylindrical tanks.

Normal structure of an undercarriage, drawn in vehicle millimetres through a `Painter`.
"""

from __future__ import annotations

import numpy as np

from models.generators.common import Canvas
from models.generators.under_vehicle_drawing import Painter, Patch, Pt, paint, union


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
