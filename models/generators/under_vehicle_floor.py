"""What every undercarriage kind shares: the floor pan or cab floor, its texture, axles and wheels.

Normal structure of `models.generators.under_vehicle` scenes; used by the per-kind builders
(`under_vehicle_car`, `under_vehicle_ladder`, `under_vehicle_truck`).
"""

from __future__ import annotations

import numpy as np

from models.generators.common import Canvas, Layer
from models.generators.under_vehicle_drawing import Painter, Patch, axis_shade, noise_field, paint, shadow
from models.generators.under_vehicle_running_gear import tyre


def body_layer(pt: Painter, d: dict[str, float], kind: str, rng: np.random.Generator, tunnel: float,
               cab: float) -> Layer:
    """Floor pan (ribs, stampings, tunnel, sills, arch liners, bumpers) or, for a truck, the cab
    floor and the open frame behind it (far away: dark or a lit trailer underside)."""
    v, L, W = pt.v, d["L"], d["W"]
    fa, ra = d["fo"], d["fo"] + d["wb"]
    floor_lvl = float(rng.uniform(0.18, 0.42)) * pt.look.metal
    rib_amp, rib_per = float(rng.uniform(0.0, 0.05)), float(rng.uniform(60, 220))
    far = float(rng.uniform(0.03, 0.3))

    def layer(c: Canvas, r: np.random.Generator) -> None:
        if kind == "truck":
            back = v.rect(-W / 2 + 150, cab, W / 2 - 150, L - 50, r=80)
            if back is not None:
                paint_tex(c, back, far, 0.03, r, rib_amp * 0.3, rib_per)
        end = cab if kind == "truck" else L
        p = v.rect(-W / 2, 0, W / 2, end, r=float(r.uniform(150, 400)) if kind != "truck" else 80)
        if p is None:
            return
        paint_tex(c, p, floor_lvl, 0.05, r, rib_amp, rib_per)
        # bumpers / fascia (plastic)
        for v0, v1 in ((0, d["fo"] * r.uniform(0.25, 0.5)), (L - (L - ra) * r.uniform(0.25, 0.5), L)):
            if kind == "truck" and v0 > 0:
                continue
            paint(c, v.rect(-W / 2 + 30, v0, W / 2 - 30, v1, r=120), float(r.uniform(0.06, 0.28)))
        if kind == "pickup":  # cab / bed boundary
            vb = cab + r.uniform(-80, 80)
            paint(c, v.rect(-W / 2 + 40, vb - 20, W / 2 - 40, vb + 20), floor_lvl * 0.4)
            paint(c, v.rect(-W / 2 + 40, vb + 20, W / 2 - 40, L - 300), floor_lvl * r.uniform(0.8, 1.3), alpha=0.6)
        if tunnel > 0:  # transmission tunnel: a recessed band down the middle
            tp = v.rect(-tunnel / 2, fa + 300, tunnel / 2, ra - 200, r=60)
            if tp is not None:
                shadow(c, tp, 0, 0, pt.look.sblur * 3, 0.25)
                paint(c, tp, axis_shade(tp, floor_lvl * r.uniform(0.7, 1.2), 1, 0.3), alpha=0.8)
        if kind in ("car", "suv"):  # sills with a pinch weld
            for sgn in (-1, 1):
                uo = sgn * (W / 2 - 60)
                sp = v.rect(uo - 70, fa + d["td"] * 0.6, uo + 70, ra - d["td"] * 0.6)
                pt.solid(c, sp, floor_lvl * r.uniform(0.9, 1.4), r, shade="axis", axis=1, shadow_k=0.7)
                paint(c, v.line([(uo + sgn * 60, fa + d["td"] * 0.6), (uo + sgn * 60, ra - d["td"] * 0.6)], 8),
                      floor_lvl * 1.5)
        # wheel arch liners (dark plastic) around each tyre
        for av in axle_positions(d, kind):
            for sgn in (-1, 1):
                uo = sgn * d["track"] / 2
                paint(c, v.rect(uo - d["tw"] * 0.9, av - d["td"] * 0.65, uo + d["tw"] * 0.9, av + d["td"] * 0.65,
                                r=200), float(r.uniform(0.04, 0.14)))

    return layer


def paint_tex(c: Canvas, p: Patch, level: float, noise: float, r: np.random.Generator, rib_amp: float,
              rib_per: float) -> None:
    """Paint a panel at `level` with fine ribs across and smooth noise (stamped floor texture)."""
    hh, ww = p.m.shape
    s = c.shape[1] / 1024.0
    xx = np.arange(ww, dtype=np.float32)[None, :]
    per = max(3.0, rib_per * (c.shape[1] / 4000.0))
    val = level + rib_amp * np.sin(2 * np.pi * xx / per) + noise * noise_field(r, (hh, ww), 60 * s)
    paint(c, p, val.astype(np.float32))


def axle_positions(d: dict[str, float], kind: str) -> list[float]:
    """Rows (v, mm) of the axles, a truck's tandem included."""
    fa, ra = d["fo"], d["fo"] + d["wb"]
    if kind == "truck" and d.get("tandem", 0) > 0:
        return [fa, ra, ra + d["tandem"]]
    return [fa, ra]


def wheels_layer(pt: Painter, d: dict[str, float], kind: str, rng: np.random.Generator, dual: list[bool]) -> Layer:
    """All tyres (dual where asked), and a truck's mud flaps behind its drive wheels."""
    def layer(c: Canvas, r: np.random.Generator) -> None:
        for av, dl in zip(axle_positions(d, kind), dual):
            for sgn in (-1, 1):
                uo = sgn * d["track"] / 2
                if dl:
                    gap = d["tw"] * 0.08 + 20
                    for k in (-1, 1):
                        tyre(c, pt, r, uo + k * (d["tw"] / 2 + gap / 2), av, d["tw"], d["td"])
                else:
                    tyre(c, pt, r, uo, av, d["tw"], d["td"])
            if kind == "truck" and av > d["fo"] and r.random() < 0.6:  # mud flaps behind the drive wheels
                for sgn in (-1, 1):
                    uo = sgn * d["track"] / 2
                    vf = av + d["td"] * 0.6 + 60
                    paint(c, pt.v.rect(uo - d["tw"] * 1.1, vf, uo + d["tw"] * 1.1, vf + 30), float(r.uniform(0.04, 0.12)))

    return layer
