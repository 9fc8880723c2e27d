"""The undercarriage of ladder-frame SUVs and pickups and of vans, as layers for
`models.generators.under_vehicle`.

Bent or full-length rails, X and straight cross members, rigid rear axle on leaf or coil
springs, transfer case, skid plates, tank, spare wheel hung under the rear.
"""

from __future__ import annotations

import numpy as np

from models.generators.common import Canvas, Layer
from models.generators.under_vehicle_drawing import Painter, paint, union
from models.generators.under_vehicle_exhaust import exhaust, heat_shield
from models.generators.under_vehicle_floor import body_layer, wheels_layer
from models.generators.under_vehicle_frame_tanks import beam, rail
from models.generators.under_vehicle_running_gear import diff, leaf_spring, shaft, spring
from models.generators.under_vehicle_small_parts import grime_layer, lines_layer, small_parts_layer, wavy


def build_ladder(pt: Painter, d: dict[str, float], kind: str, rng: np.random.Generator) -> list[Layer]:
    """SUVs and pickups (ladder frame), vans (full-length rails)."""
    v, L, W = pt.v, d["L"], d["W"]
    fa, ra, tr = d["fo"], d["fo"] + d["wb"], d["track"]
    rr = float(rng.uniform(420, 560)) if kind != "van" else float(rng.uniform(480, 640))
    rf = rr * float(rng.uniform(0.75, 1.0))
    rail_w = float(rng.uniform(60, 110))
    drive = str(rng.choice(["rwd", "awd"])) if kind != "van" else str(rng.choice(["fwd", "rwd", "rwd"]))
    leaf = kind in ("pickup", "van") or rng.random() < 0.3
    dual = kind == "van" and drive == "rwd" and rng.random() < 0.35
    side = float(rng.choice([-1, 1]))
    cab = d["fo"] + d["wb"] * float(rng.uniform(0.45, 0.6))
    rail_pts = [(rf, 80), (rf, fa + 300), (rr, fa + 900), (rr, L - 80)]
    layers: list[Layer] = [body_layer(pt, d, kind, rng, 0.0, cab)]

    def skid(c: Canvas, r: np.random.Generator) -> None:
        if kind != "van" and r.random() < 0.6:
            heat_shield(c, pt, r, -rf + 40, r.uniform(100, 300), rf - 40, fa + r.uniform(100, 400))
        if r.random() < 0.5:
            heat_shield(c, pt, r, -rr + 100, fa + r.uniform(900, 1200), -rr + 300, ra - r.uniform(600, 900))

    def tanks(c: Canvas, r: np.random.Generator) -> None:
        ts = -side
        tl = r.uniform(600, 1000)
        tv = ra - r.uniform(500, 700) - tl / 2
        if r.random() < 0.5:  # outboard of a rail, or between the rails
            tw_ = min(r.uniform(380, 520), W / 2 - rr - rail_w / 2 - 120)
            tu = ts * (rr + rail_w / 2 + 40 + tw_ / 2)
        else:
            tu, tw_ = r.uniform(-80, 80), 2 * rr - rail_w - r.uniform(80, 200)
        p = v.rect(tu - tw_ / 2, tv - tl / 2, tu + tw_ / 2, tv + tl / 2, r=60)
        plastic = r.random() < 0.5
        pt.solid(c, p, float(r.uniform(0.1, 0.3)) if plastic else pt.metal(r, 0.45, 0.75), r, gain=0.3, shadow_k=1.5)
        for k in (-1, 1):
            pt.solid(c, v.rect(tu - tw_ / 2 - 30, tv + k * tl / 4 - 20, tu + tw_ / 2 + 30, tv + k * tl / 4 + 20),
                     pt.metal(r, 0.35, 0.7), r, shade="axis", axis=0, shadow_k=0.5)
        if r.random() < 0.6:  # spare wheel hung under the rear
            sv = L - r.uniform(350, 500)
            rad = d["td"] / 2
            su = r.uniform(-150, 150)
            pt.solid(c, v.ellipse(su, sv, rad, min(rad, (L - ra) * 0.4)), float(r.uniform(0.05, 0.12)), r, shade="flat",
                     shadow_k=1.5)
            pt.solid(c, v.ellipse(su, sv, rad * 0.62, min(rad, (L - ra) * 0.4) * 0.62), pt.metal(r, 0.4, 0.7), r, gain=0.5)
            paint(c, v.ellipse(su, sv, rad * 0.2, min(rad, (L - ra) * 0.4) * 0.2), float(r.uniform(0.15, 0.35)))

    def frame(c: Canvas, r: np.random.Generator) -> None:
        for sgn in (-1, 1):
            rail(c, pt, r, [(sgn * a, b) for a, b in rail_pts], rail_w, rivets=r.random() < 0.2)
        vs = np.sort(r.uniform(fa + 400, L - 300, int(r.integers(3, 7))))
        for k, cv_ in enumerate(vs):
            uu = rr if cv_ > fa + 900 else rf
            beam(c, pt, r, -uu, uu, float(cv_), float(r.uniform(50, 110)),
                 kind="x" if (k == 1 and r.random() < 0.3) else None)
        beam(c, pt, r, -rf, rf, fa - r.uniform(200, 400), float(r.uniform(60, 100)))

    def engine(c: Canvas, r: np.random.Generator) -> None:
        eu = r.uniform(-80, 80)
        ev0, ev1 = fa - r.uniform(450, 650), fa + r.uniform(50, 250)
        pt.solid(c, v.rect(eu - 300, ev0, eu + 300, ev1, r=40), pt.metal(r, 0.25, 0.45), r, shade="flat", shadow_k=1.0)
        pt.solid(c, v.rect(eu - 190, ev0 + 60, eu + 190, ev1 - 60, r=40), pt.metal(r, 0.35, 0.6), r, gain=0.25)
        if drive != "fwd":
            gv1 = ev1 + r.uniform(600, 900)
            pt.solid(c, v.poly([(eu - 170, ev1), (eu + 170, ev1), (eu + 100, gv1), (eu - 100, gv1)]), pt.metal(r, 0.45, 0.75),
                     r, shadow_k=1.2)
            if drive == "awd":  # transfer case
                pt.solid(c, v.rect(eu - 40, gv1 - 50, eu + side * 260, gv1 + 250, r=60), pt.metal(r, 0.45, 0.75), r,
                         shadow_k=1.2)

    def exhaust_l(c: Canvas, r: np.random.Generator) -> None:
        eu = side * (rr - r.uniform(120, 200))
        route = [(r.uniform(-100, 100), fa - 200), (eu, fa + 500), (eu, ra - 700), (side * (rr + rail_w), ra - 300),
                 (side * (rr + rail_w), L - r.uniform(300, 500)), (side * r.uniform(rr, W / 2 - 200), L - 40)]
        cans = [(float(r.uniform(0.1, 0.2)), float(r.uniform(250, 400)), float(r.uniform(120, 170)), False),
                (float(r.uniform(0.35, 0.55)), float(r.uniform(500, 800)), float(r.uniform(180, 260)), False)]
        exhaust(c, pt, r, route, float(r.uniform(50, 75)), cans, int(r.integers(2, 5)))

    def suspension(c: Canvas, r: np.random.Generator) -> None:
        for sgn in (-1, 1):
            ball = (sgn * (tr / 2 - d["tw"] / 2 - 60), fa)
            if kind != "van" or r.random() < 0.5:
                arms = [v.band([(sgn * (rf - 40), fa - 220), ball], 55), v.band([(sgn * (rf - 40), fa + 220), ball], 55)]
                pt.solid(c, union(*arms), pt.metal(r, 0.35, 0.7), r, gain=0.3, shadow_k=1.2)
                spring(c, pt, r, sgn * (tr / 2 - 330), fa + r.uniform(-60, 60), float(r.uniform(60, 85)))
            if leaf:
                leaf_spring(c, pt, r, sgn * rr, ra + r.uniform(-40, 40), float(r.uniform(1100, 1500)), float(r.uniform(60, 80)))
            else:
                pt.solid(c, v.band([(sgn * rr, ra - r.uniform(550, 700)), (sgn * rr, ra)], 60), pt.metal(r, 0.35, 0.65), r)
                spring(c, pt, r, sgn * (rr + r.uniform(-40, 40)), ra + r.uniform(-150, -60), float(r.uniform(70, 95)))
        if not leaf:  # panhard rod
            paint(c, v.line([(-rr, ra + 150), (rr, ra + 80)], 40), pt.metal(r, 0.3, 0.6))
        paint(c, v.line([(-rr + 40, fa + 380), (rr - 40, fa + 380)], 24), pt.metal(r, 0.2, 0.5))  # anti-roll bar

    def drivetrain(c: Canvas, r: np.random.Generator) -> None:
        beam(c, pt, r, -(tr / 2 - d["tw"] / 2 - 30), tr / 2 - d["tw"] / 2 - 30, ra, float(r.uniform(90, 130)),
             gussets=False, kind="tube")  # rigid rear axle tube
        if drive == "fwd":
            for sgn in (-1, 1):
                shaft(c, pt, r, [(side * 120, fa), (sgn * (tr / 2 - d["tw"] / 2 - 40), fa)], 36.0, boots=True)
            return
        pv0 = fa + r.uniform(900, 1300)
        if ra - pv0 > 1700:
            mid = (pv0 + ra) / 2
            shaft(c, pt, r, [(0, pv0), (0, mid)], float(r.uniform(70, 95)))
            shaft(c, pt, r, [(0, mid), (r.uniform(-60, 60), ra - 200)], float(r.uniform(70, 95)))
            pt.solid(c, v.rect(-110, mid - 40, 110, mid + 40), float(r.uniform(0.1, 0.4)), r, shade="flat")
        else:
            shaft(c, pt, r, [(0, pv0), (r.uniform(-60, 60), ra - 200)], float(r.uniform(70, 95)))
        du = r.uniform(-120, 120)
        diff(c, pt, r, du, ra, float(r.uniform(170, 230)), False)
        if drive == "awd":
            shaft(c, pt, r, [(side * 200, pv0 - 100), (side * 120, fa + 150)], 55.0)
            diff(c, pt, r, side * 120, fa, float(r.uniform(130, 170)), True)
            for sgn in (-1, 1):
                shaft(c, pt, r, [(side * 120 + sgn * 100, fa), (sgn * (tr / 2 - d["tw"] / 2 - 40), fa)], 34.0, boots=True)

    def lines_l(c: Canvas, r: np.random.Generator) -> None:
        lu = -side * (rr - rail_w / 2 - r.uniform(20, 60))
        routes = [wavy(r, lu, fa + 300, lu, ra - 200, 10), wavy(r, -lu, fa + 600, r.uniform(-200, 200), ra, 25)]
        hoses = [((sgn * rr, av - 150), (sgn * (tr / 2 - d["tw"] / 2 - 20), av)) for av in (fa, ra) for sgn in (-1, 1)]
        lines_layer(pt, routes, hoses)(c, r)

    wheels = [(sgn * tr / 2, av) for av in (fa, ra) for sgn in (-1, 1)]
    layers += [skid, tanks, frame, engine, exhaust_l, suspension, drivetrain,
               wheels_layer(pt, d, kind, rng, [False, dual]), lines_l,
               small_parts_layer(pt, (-W / 2 + 150, 200, W / 2 - 150, L - 200), int(rng.integers(8, 30))),
               grime_layer(pt.v.h, pt.v.w, v, (-W / 2, 0, W / 2, L), wheels)]
    return layers
