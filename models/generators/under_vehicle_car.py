"""The undercarriage of a unibody car, as layers for `models.generators.under_vehicle`.

Frame stubs and subframes, arms and coil springs or a twist beam, FWD/RWD/AWD drive lines,
plastic tank with straps, heat shields, exhaust and muffler, undertray or bare oil pan.
"""

from __future__ import annotations

import numpy as np

from models.generators.common import Canvas, Layer
from models.generators.under_vehicle_drawing import Painter, paint, shadow, tube_shade, union
from models.generators.under_vehicle_exhaust import exhaust, heat_shield
from models.generators.under_vehicle_floor import body_layer, paint_tex, wheels_layer
from models.generators.under_vehicle_frame_tanks import beam, rail
from models.generators.under_vehicle_running_gear import diff, shaft, spring
from models.generators.under_vehicle_small_parts import grime_layer, lines_layer, small_parts_layer, wavy


def build_car(pt: Painter, d: dict[str, float], kind: str, rng: np.random.Generator) -> list[Layer]:
    """Unibody car: frame stubs, subframes, independent suspension or a twist beam, FWD/RWD/AWD."""
    v, L, W = pt.v, d["L"], d["W"]
    fa, ra, tr = d["fo"], d["fo"] + d["wb"], d["track"]
    drive = str(rng.choice(["fwd", "fwd", "rwd", "awd"]))
    tunnel = float(rng.uniform(180, 340)) if drive != "fwd" or rng.random() < 0.6 else 0.0
    undertray = rng.random() < 0.5
    twist = drive == "fwd" and rng.random() < 0.6
    side = float(rng.choice([-1, 1]))
    layers: list[Layer] = [body_layer(pt, d, kind, rng, tunnel, L)]

    def shields(c: Canvas, r: np.random.Generator) -> None:
        if tunnel > 0 and r.random() < 0.8:
            heat_shield(c, pt, r, -tunnel / 2 + 20, fa + r.uniform(350, 700), tunnel / 2 - 20, ra - r.uniform(700, 1100))
        if r.random() < 0.6:
            heat_shield(c, pt, r, -W / 2 + 350, L - r.uniform(500, 650), W / 2 - 350, L - r.uniform(120, 200))
        if r.random() < 0.4:  # spare wheel well in the rear floor
            rad = d["td"] / 2 * r.uniform(0.95, 1.05)
            vw = L - (L - ra) * 0.5
            well = v.ellipse(r.uniform(-200, 200), vw, rad, min(rad, (L - ra) * 0.45))
            shadow(c, well, 0, 0, pt.look.sblur * 3, 0.3)
            paint(c, v.ellipse(r.uniform(-200, 200), vw, rad * 0.2, rad * 0.2), float(r.uniform(0.1, 0.3)))

    def tank(c: Canvas, r: np.random.Generator) -> None:
        t0, t1 = ra - r.uniform(900, 1200), ra - r.uniform(250, 400)
        ul, ur = -W / 2 + r.uniform(250, 400), W / 2 - r.uniform(250, 400)
        nt = max(tunnel / 2 + 30, 100)
        pts = [(ul, t0 + 60), (-nt, t0), (-nt * 0.8, t0 + 200), (nt * 0.8, t0 + 200), (nt, t0), (ur, t0 + 60),
               (ur - 50, t1), (ul + 50, t1)]
        if r.random() < 0.5:
            pts = [(ul, t0), (ur, t0), (ur, t1), (ul, t1)]
        p = v.poly(pts)
        if p is None:
            return
        lvl = float(r.uniform(0.1, 0.3))
        shadow(c, p, pt.look.sdx * 1.5, pt.look.sdy * 1.5, pt.look.sblur * 2, 0.4)
        xx = np.arange(p.m.shape[1], dtype=np.float32)[None, :]
        val = tube_shade(p, lvl, 0.3) + 0.02 * np.sin(2 * np.pi * xx / max(3.0, 90 * v.kx))
        paint(c, p, val.astype(np.float32))
        for k in range(2):  # straps
            sv = t0 + (t1 - t0) * (0.3 + 0.4 * k)
            pt.solid(c, v.rect(ul - 40, sv - 20, ur + 40, sv + 20), pt.metal(r, 0.4, 0.7), r, shade="axis", axis=0,
                     shadow_k=0.6)
        pt.solid(c, v.ellipse(ur - 120, t0 + 150, 50, 50), float(r.uniform(0.05, 0.2)), r, shadow_k=0.4)  # pump plate

    def frame(c: Canvas, r: np.random.Generator) -> None:
        uo = W / 2 - r.uniform(260, 380)
        for sgn in (-1, 1):  # frame stubs front and rear
            rail(c, pt, r, [(sgn * uo * 0.9, 60), (sgn * uo, fa + r.uniform(300, 700))], r.uniform(60, 110), False)
            rail(c, pt, r, [(sgn * uo, ra - r.uniform(300, 600)), (sgn * uo * 0.95, L - 80)], r.uniform(60, 100), False)
        # front subframe
        su = W / 2 - r.uniform(380, 520)
        sv0, sv1 = fa - r.uniform(250, 400), fa + r.uniform(250, 450)
        sub = [v.band([(-su, sv0), (su, sv0)], 60), v.band([(-su, sv1), (su, sv1)], 70),
               v.band([(-su, sv0), (-su, sv1)], 60), v.band([(su, sv0), (su, sv1)], 60)]
        pt.solid(c, union(*sub), pt.metal(r, 0.35, 0.65), r, gain=0.3, shadow_k=1.3)
        beam(c, pt, r, -uo, uo, ra - r.uniform(450, 650), float(r.uniform(50, 90)))
        if not undertray:
            beam(c, pt, r, -su, su, fa - r.uniform(500, 700), float(r.uniform(40, 70)), gussets=False)
        if r.random() < 0.5:
            beam(c, pt, r, -uo, uo, fa + r.uniform(700, 1100), float(r.uniform(40, 70)))

    def engine(c: Canvas, r: np.random.Generator) -> None:
        if undertray:
            p = v.rect(-W / 2 + 250, 60, W / 2 - 250, fa + r.uniform(200, 450), r=100)
            if p is None:
                return
            lvl = float(r.uniform(0.06, 0.2))
            shadow(c, p, pt.look.sdx, pt.look.sdy, pt.look.sblur * 2, 0.3)
            paint_tex(c, p, lvl, 0.015, r, 0.01, 150)
            n = int(r.integers(3, 9))  # vent slots and fasteners
            uu = r.uniform(-W / 2 + 400, W / 2 - 400)
            vents = [v.rect(uu + k * 40, fa - 300, uu + k * 40 + 15, fa - 150) for k in range(n)]
            paint(c, union(*vents), lvl * 0.4)
            fas = [(r.uniform(-W / 2 + 270, W / 2 - 270), r.uniform(80, fa + 200)) for _ in range(int(r.integers(4, 12)))]
            paint(c, v.dots(fas, 9), pt.metal(r, 0.3, 0.7))
            return
        eu = r.uniform(-150, 150)
        ev0, ev1 = fa - r.uniform(500, 700), fa + r.uniform(-150, 150)
        pt.solid(c, v.rect(eu - 380, ev0 - 60, eu + 380, ev1 + 80, r=40), pt.metal(r, 0.25, 0.45), r, shade="flat",
                 shadow_k=1.0)  # block
        op = v.rect(eu - 200, ev0 + 40, eu + 200, ev1 - 40, r=40)
        pt.solid(c, op, pt.metal(r, 0.35, 0.6), r, gain=0.25, shadow_k=1.2)  # oil pan
        paint(c, v.dots([(eu + r.uniform(-120, 120), ev1 - 100)], 15), pt.metal(r, 0.6, 0.9))
        bolts = [(eu + a, ev0 + 40) for a in np.linspace(-190, 190, 7)] + [(eu + a, ev1 - 40) for a in np.linspace(-190, 190, 7)]
        paint(c, v.dots(bolts, 6), pt.metal(r, 0.5, 0.8))
        if drive == "fwd":  # transverse gearbox beside the engine
            gu = eu + side * r.uniform(380, 520)
            pt.solid(c, v.rect(gu - 180, ev0 + 80, gu + 180, ev1 + 100, r=60), pt.metal(r, 0.45, 0.75), r, shadow_k=1.2)
        else:  # longitudinal gearbox behind it, tapering
            gv1 = ev1 + r.uniform(500, 800)
            pt.solid(c, v.poly([(eu - 170, ev1), (eu + 170, ev1), (eu + 90, gv1), (eu - 90, gv1)]), pt.metal(r, 0.45, 0.75),
                     r, shadow_k=1.2)
        paint(c, v.rect(-W / 2 + 300, 70, W / 2 - 300, 140), float(r.uniform(0.05, 0.2)))  # radiator lower edge

    def exhaust_l(c: Canvas, r: np.random.Generator) -> None:
        u0 = r.uniform(-150, 150)
        ut = side * r.uniform(0, tunnel / 4 + 40)
        tail = side * r.uniform(W / 2 - 500, W / 2 - 250)
        route = [(u0, fa - 300), (ut, fa + 300), (ut, ra - 600), (ut + side * 250, ra - 200),
                 (side * r.uniform(300, W / 2 - 450), L - r.uniform(380, 550)), (tail, L - 60)]
        cans = [(float(r.uniform(0.08, 0.18)), float(r.uniform(250, 400)), float(r.uniform(110, 170)), False)]
        if r.random() < 0.6:
            cans.append((float(r.uniform(0.4, 0.55)), float(r.uniform(300, 450)), float(r.uniform(110, 160)), False))
        exhaust(c, pt, r, route, float(r.uniform(45, 65)), cans, int(r.integers(2, 5)))
        mv = L - r.uniform(300, 450)
        mlen = r.uniform(500, 900)
        mu = side * r.uniform(0, W / 2 - 300 - mlen / 2)
        pt.solid(c, v.rect(mu - mlen / 2, mv - 140, mu + mlen / 2, mv + 140, r=120), pt.metal(r, 0.45, 0.85), r,
                 shade="axis", axis=0, gain=0.5, shadow_k=1.5)
        if r.random() < 0.3:  # dual tailpipes
            exhaust(c, pt, r, [(mu - side * mlen / 2, mv), (-tail, L - 60)], 50.0, [], 0)

    def suspension(c: Canvas, r: np.random.Generator) -> None:
        su = W / 2 - r.uniform(420, 520)
        for sgn in (-1, 1):
            ball = (sgn * (tr / 2 - d["tw"] / 2 - 60), fa + r.uniform(-40, 40))
            arms = [v.band([(sgn * su, fa - r.uniform(150, 250)), ball], 45), v.band([(sgn * su, fa + r.uniform(150, 300)), ball], 55)]
            pt.solid(c, union(*arms), pt.metal(r, 0.35, 0.7), r, gain=0.3, shadow_k=1.2)
            paint(c, v.dots([ball], 25), pt.metal(r, 0.2, 0.5))
            rack = fa - r.uniform(120, 220)
            paint(c, v.line([(sgn * 300, rack), (sgn * (tr / 2 - d["tw"] / 2 - 40), rack + r.uniform(-40, 40))], 20),
                  pt.metal(r, 0.4, 0.8))
        pt.solid(c, v.band([(-320, fa - 170), (320, fa - 170)], 50), pt.metal(r, 0.35, 0.6), r, shadow_k=1.0)  # rack
        arb = fa + r.uniform(180, 320)
        pt.solid(c, v.band([(-(tr / 2 - 250), arb + 150), (-(su - 50), arb), (su - 50, arb), (tr / 2 - 250, arb + 150)], 22),
                 pt.metal(r, 0.2, 0.5), r, shadow_k=1.0)
        # rear
        if twist:
            tv = ra - r.uniform(100, 200)
            beam(c, pt, r, -(tr / 2 - 200), tr / 2 - 200, tv, float(r.uniform(70, 110)), gussets=False, kind="tube")
            for sgn in (-1, 1):
                pt.solid(c, v.band([(sgn * (W / 2 - 350), ra - 550), (sgn * (tr / 2 - 200), ra)], 60), pt.metal(r, 0.4, 0.7),
                         r, shadow_k=1.0)
                spring(c, pt, r, sgn * (tr / 2 - 330), tv + 40, float(r.uniform(60, 85)))
        else:
            rsu = W / 2 - r.uniform(400, 520)
            sub = [v.band([(-rsu, ra - 300), (rsu, ra - 300)], 60), v.band([(-rsu, ra + 250), (rsu, ra + 250)], 60),
                   v.band([(-rsu, ra - 300), (-rsu, ra + 250)], 50), v.band([(rsu, ra - 300), (rsu, ra + 250)], 50)]
            pt.solid(c, union(*sub), pt.metal(r, 0.3, 0.6), r, gain=0.3, shadow_k=1.2)
            for sgn in (-1, 1):
                hub = (sgn * (tr / 2 - d["tw"] / 2 - 60), ra)
                for dv in r.uniform(-280, 280, int(r.integers(2, 4))):
                    paint(c, v.band([(sgn * rsu, ra + dv), hub], 35), pt.metal(r, 0.3, 0.65))
                spring(c, pt, r, sgn * (tr / 2 - 320), ra + r.uniform(-120, 120), float(r.uniform(55, 80)))
                pt.solid(c, v.ellipse(sgn * (tr / 2 - 250), ra + r.uniform(120, 220), 30, 30), pt.metal(r, 0.3, 0.6), r)

    def drivetrain(c: Canvas, r: np.random.Generator) -> None:
        if drive in ("fwd", "awd"):
            gu = side * r.uniform(50, 200)
            for sgn in (-1, 1):
                shaft(c, pt, r, [(gu, fa), (sgn * (tr / 2 - d["tw"] / 2 - 40), fa + r.uniform(-30, 30))],
                      float(r.uniform(28, 40)), boots=True)
        if drive in ("rwd", "awd"):
            pv0 = fa + r.uniform(600, 900)
            mid = (pv0 + ra - 250) / 2
            shaft(c, pt, r, [(0, pv0), (0, mid)], float(r.uniform(60, 85)))
            shaft(c, pt, r, [(0, mid), (0, ra - 200)], float(r.uniform(60, 85)))
            pt.solid(c, v.rect(-90, mid - 35, 90, mid + 35), float(r.uniform(0.1, 0.4)), r, shade="flat")  # centre bearing
            diff(c, pt, r, 0, ra, float(r.uniform(130, 180)), False)
            for sgn in (-1, 1):
                shaft(c, pt, r, [(sgn * 150, ra), (sgn * (tr / 2 - d["tw"] / 2 - 40), ra + r.uniform(-30, 30))],
                      float(r.uniform(28, 38)), boots=True)

    def lines_l(c: Canvas, r: np.random.Generator) -> None:
        lu = side * -1 * r.uniform(tunnel / 2 + 60, W / 2 - 300)
        routes = [wavy(r, lu, fa + 200, lu + r.uniform(-80, 80), ra - 100, 15)]
        if r.random() < 0.7:
            lu2 = side * -1 * r.uniform(W / 2 - 360, W / 2 - 220)
            routes.append(wavy(r, lu2, fa + 400, lu2, ra - 300, 10))
        hoses = []
        for av in (fa, ra):
            for sgn in (-1, 1):
                hoses.append(((sgn * (tr / 2 - 350), av + r.uniform(-200, -80)), (sgn * (tr / 2 - d["tw"] / 2 - 20), av)))
        lines_layer(pt, routes, hoses)(c, r)

    wheels = [(sgn * tr / 2, av) for av in (fa, ra) for sgn in (-1, 1)]
    layers += [shields, tank, frame, engine, exhaust_l, suspension, drivetrain,
               wheels_layer(pt, d, kind, rng, [False, False]), lines_l,
               small_parts_layer(pt, (-W / 2 + 150, 200, W / 2 - 150, L - 200), int(rng.integers(8, 30))),
               grime_layer(pt.v.h, pt.v.w, v, (-W / 2, 0, W / 2, L), wheels)]
    return layers
