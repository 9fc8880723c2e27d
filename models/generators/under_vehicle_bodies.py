"""The vehicle bodies of `models.generators.under_vehicle`: floor and body, wheels, and one builder per kind.

`BUILDERS[kind](painter, dims, kind, rng)` returns the layers of one undercarriage (car: unibody;
SUV, pickup, van: ladder frame or full-length rails; truck tractor), all NORMAL structure that
never enters the mask. The scene's geometry, the lane and the anomalies stay in under_vehicle.py.
"""

from __future__ import annotations

import numpy as np

from models.generators import under_vehicle_parts as up
from models.generators.common import Canvas, Layer
from models.generators.under_vehicle_parts import Painter

def _body(pt: Painter, d: dict[str, float], kind: str, rng: np.random.Generator, tunnel: float,
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
            up.paint(c, v.rect(-W / 2 + 30, v0, W / 2 - 30, v1, r=120), float(r.uniform(0.06, 0.28)))
        if kind == "pickup":  # cab / bed boundary
            vb = cab + r.uniform(-80, 80)
            up.paint(c, v.rect(-W / 2 + 40, vb - 20, W / 2 - 40, vb + 20), floor_lvl * 0.4)
            up.paint(c, v.rect(-W / 2 + 40, vb + 20, W / 2 - 40, L - 300), floor_lvl * r.uniform(0.8, 1.3), alpha=0.6)
        if tunnel > 0:  # transmission tunnel: a recessed band down the middle
            tp = v.rect(-tunnel / 2, fa + 300, tunnel / 2, ra - 200, r=60)
            if tp is not None:
                up.shadow(c, tp, 0, 0, pt.look.sblur * 3, 0.25)
                up.paint(c, tp, up.axis_shade(tp, floor_lvl * r.uniform(0.7, 1.2), 1, 0.3), alpha=0.8)
        if kind in ("car", "suv"):  # sills with a pinch weld
            for sgn in (-1, 1):
                uo = sgn * (W / 2 - 60)
                sp = v.rect(uo - 70, fa + d["td"] * 0.6, uo + 70, ra - d["td"] * 0.6)
                pt.solid(c, sp, floor_lvl * r.uniform(0.9, 1.4), r, shade="axis", axis=1, shadow_k=0.7)
                up.paint(c, v.line([(uo + sgn * 60, fa + d["td"] * 0.6), (uo + sgn * 60, ra - d["td"] * 0.6)], 8),
                         floor_lvl * 1.5)
        # wheel arch liners (dark plastic) around each tyre
        for av in _axles(d, kind):
            for sgn in (-1, 1):
                uo = sgn * d["track"] / 2
                up.paint(c, v.rect(uo - d["tw"] * 0.9, av - d["td"] * 0.65, uo + d["tw"] * 0.9, av + d["td"] * 0.65,
                                   r=200), float(r.uniform(0.04, 0.14)))

    return layer


def paint_tex(c: Canvas, p: up.Patch, level: float, noise: float, r: np.random.Generator, rib_amp: float,
              rib_per: float) -> None:
    hh, ww = p.m.shape
    s = c.shape[1] / 1024.0
    xx = np.arange(ww, dtype=np.float32)[None, :]
    per = max(3.0, rib_per * (c.shape[1] / 4000.0))
    val = level + rib_amp * np.sin(2 * np.pi * xx / per) + noise * up.noise_field(r, (hh, ww), 60 * s)
    up.paint(c, p, val.astype(np.float32))


def _axles(d: dict[str, float], kind: str) -> list[float]:
    fa, ra = d["fo"], d["fo"] + d["wb"]
    if kind == "truck" and d.get("tandem", 0) > 0:
        return [fa, ra, ra + d["tandem"]]
    return [fa, ra]


def _wheels_layer(pt: Painter, d: dict[str, float], kind: str, rng: np.random.Generator, dual: list[bool]) -> Layer:
    def layer(c: Canvas, r: np.random.Generator) -> None:
        for av, dl in zip(_axles(d, kind), dual):
            for sgn in (-1, 1):
                uo = sgn * d["track"] / 2
                if dl:
                    gap = d["tw"] * 0.08 + 20
                    for k in (-1, 1):
                        up.tyre(c, pt, r, uo + k * (d["tw"] / 2 + gap / 2), av, d["tw"], d["td"])
                else:
                    up.tyre(c, pt, r, uo, av, d["tw"], d["td"])
            if kind == "truck" and av > d["fo"] and r.random() < 0.6:  # mud flaps behind the drive wheels
                for sgn in (-1, 1):
                    uo = sgn * d["track"] / 2
                    vf = av + d["td"] * 0.6 + 60
                    up.paint(c, pt.v.rect(uo - d["tw"] * 1.1, vf, uo + d["tw"] * 1.1, vf + 30), float(r.uniform(0.04, 0.12)))

    return layer


def _car(pt: Painter, d: dict[str, float], kind: str, rng: np.random.Generator) -> list[Layer]:
    v, L, W = pt.v, d["L"], d["W"]
    fa, ra, tr = d["fo"], d["fo"] + d["wb"], d["track"]
    drive = str(rng.choice(["fwd", "fwd", "rwd", "awd"]))
    tunnel = float(rng.uniform(180, 340)) if drive != "fwd" or rng.random() < 0.6 else 0.0
    undertray = rng.random() < 0.5
    twist = drive == "fwd" and rng.random() < 0.6
    side = float(rng.choice([-1, 1]))
    layers: list[Layer] = [_body(pt, d, kind, rng, tunnel, L)]

    def shields(c: Canvas, r: np.random.Generator) -> None:
        if tunnel > 0 and r.random() < 0.8:
            up.heat_shield(c, pt, r, -tunnel / 2 + 20, fa + r.uniform(350, 700), tunnel / 2 - 20, ra - r.uniform(700, 1100))
        if r.random() < 0.6:
            up.heat_shield(c, pt, r, -W / 2 + 350, L - r.uniform(500, 650), W / 2 - 350, L - r.uniform(120, 200))
        if r.random() < 0.4:  # spare wheel well in the rear floor
            rad = d["td"] / 2 * r.uniform(0.95, 1.05)
            vw = L - (L - ra) * 0.5
            well = v.ellipse(r.uniform(-200, 200), vw, rad, min(rad, (L - ra) * 0.45))
            up.shadow(c, well, 0, 0, pt.look.sblur * 3, 0.3)
            up.paint(c, v.ellipse(r.uniform(-200, 200), vw, rad * 0.2, rad * 0.2), float(r.uniform(0.1, 0.3)))

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
        up.shadow(c, p, pt.look.sdx * 1.5, pt.look.sdy * 1.5, pt.look.sblur * 2, 0.4)
        xx = np.arange(p.m.shape[1], dtype=np.float32)[None, :]
        val = up.tube_shade(p, lvl, 0.3) + 0.02 * np.sin(2 * np.pi * xx / max(3.0, 90 * v.kx))
        up.paint(c, p, val.astype(np.float32))
        for k in range(2):  # straps
            sv = t0 + (t1 - t0) * (0.3 + 0.4 * k)
            pt.solid(c, v.rect(ul - 40, sv - 20, ur + 40, sv + 20), pt.metal(r, 0.4, 0.7), r, shade="axis", axis=0,
                     shadow_k=0.6)
        pt.solid(c, v.ellipse(ur - 120, t0 + 150, 50, 50), float(r.uniform(0.05, 0.2)), r, shadow_k=0.4)  # pump plate

    def frame(c: Canvas, r: np.random.Generator) -> None:
        uo = W / 2 - r.uniform(260, 380)
        for sgn in (-1, 1):  # frame stubs front and rear
            up.rail(c, pt, r, [(sgn * uo * 0.9, 60), (sgn * uo, fa + r.uniform(300, 700))], r.uniform(60, 110), False)
            up.rail(c, pt, r, [(sgn * uo, ra - r.uniform(300, 600)), (sgn * uo * 0.95, L - 80)], r.uniform(60, 100), False)
        # front subframe
        su = W / 2 - r.uniform(380, 520)
        sv0, sv1 = fa - r.uniform(250, 400), fa + r.uniform(250, 450)
        sub = [v.band([(-su, sv0), (su, sv0)], 60), v.band([(-su, sv1), (su, sv1)], 70),
               v.band([(-su, sv0), (-su, sv1)], 60), v.band([(su, sv0), (su, sv1)], 60)]
        pt.solid(c, up.union(*sub), pt.metal(r, 0.35, 0.65), r, gain=0.3, shadow_k=1.3)
        up.beam(c, pt, r, -uo, uo, ra - r.uniform(450, 650), float(r.uniform(50, 90)))
        if not undertray:
            up.beam(c, pt, r, -su, su, fa - r.uniform(500, 700), float(r.uniform(40, 70)), gussets=False)
        if r.random() < 0.5:
            up.beam(c, pt, r, -uo, uo, fa + r.uniform(700, 1100), float(r.uniform(40, 70)))

    def engine(c: Canvas, r: np.random.Generator) -> None:
        if undertray:
            p = v.rect(-W / 2 + 250, 60, W / 2 - 250, fa + r.uniform(200, 450), r=100)
            if p is None:
                return
            lvl = float(r.uniform(0.06, 0.2))
            up.shadow(c, p, pt.look.sdx, pt.look.sdy, pt.look.sblur * 2, 0.3)
            paint_tex(c, p, lvl, 0.015, r, 0.01, 150)
            n = int(r.integers(3, 9))  # vent slots and fasteners
            uu = r.uniform(-W / 2 + 400, W / 2 - 400)
            vents = [v.rect(uu + k * 40, fa - 300, uu + k * 40 + 15, fa - 150) for k in range(n)]
            up.paint(c, up.union(*vents), lvl * 0.4)
            fas = [(r.uniform(-W / 2 + 270, W / 2 - 270), r.uniform(80, fa + 200)) for _ in range(int(r.integers(4, 12)))]
            up.paint(c, v.dots(fas, 9), pt.metal(r, 0.3, 0.7))
            return
        eu = r.uniform(-150, 150)
        ev0, ev1 = fa - r.uniform(500, 700), fa + r.uniform(-150, 150)
        pt.solid(c, v.rect(eu - 380, ev0 - 60, eu + 380, ev1 + 80, r=40), pt.metal(r, 0.25, 0.45), r, shade="flat",
                 shadow_k=1.0)  # block
        op = v.rect(eu - 200, ev0 + 40, eu + 200, ev1 - 40, r=40)
        pt.solid(c, op, pt.metal(r, 0.35, 0.6), r, gain=0.25, shadow_k=1.2)  # oil pan
        up.paint(c, v.dots([(eu + r.uniform(-120, 120), ev1 - 100)], 15), pt.metal(r, 0.6, 0.9))
        bolts = [(eu + a, ev0 + 40) for a in np.linspace(-190, 190, 7)] + [(eu + a, ev1 - 40) for a in np.linspace(-190, 190, 7)]
        up.paint(c, v.dots(bolts, 6), pt.metal(r, 0.5, 0.8))
        if drive == "fwd":  # transverse gearbox beside the engine
            gu = eu + side * r.uniform(380, 520)
            pt.solid(c, v.rect(gu - 180, ev0 + 80, gu + 180, ev1 + 100, r=60), pt.metal(r, 0.45, 0.75), r, shadow_k=1.2)
        else:  # longitudinal gearbox behind it, tapering
            gv1 = ev1 + r.uniform(500, 800)
            pt.solid(c, v.poly([(eu - 170, ev1), (eu + 170, ev1), (eu + 90, gv1), (eu - 90, gv1)]), pt.metal(r, 0.45, 0.75),
                     r, shadow_k=1.2)
        up.paint(c, v.rect(-W / 2 + 300, 70, W / 2 - 300, 140), float(r.uniform(0.05, 0.2)))  # radiator lower edge

    def exhaust_l(c: Canvas, r: np.random.Generator) -> None:
        u0 = r.uniform(-150, 150)
        ut = side * r.uniform(0, tunnel / 4 + 40)
        tail = side * r.uniform(W / 2 - 500, W / 2 - 250)
        route = [(u0, fa - 300), (ut, fa + 300), (ut, ra - 600), (ut + side * 250, ra - 200),
                 (side * r.uniform(300, W / 2 - 450), L - r.uniform(380, 550)), (tail, L - 60)]
        cans = [(float(r.uniform(0.08, 0.18)), float(r.uniform(250, 400)), float(r.uniform(110, 170)), False)]
        if r.random() < 0.6:
            cans.append((float(r.uniform(0.4, 0.55)), float(r.uniform(300, 450)), float(r.uniform(110, 160)), False))
        up.exhaust(c, pt, r, route, float(r.uniform(45, 65)), cans, int(r.integers(2, 5)))
        mv = L - r.uniform(300, 450)
        mlen = r.uniform(500, 900)
        mu = side * r.uniform(0, W / 2 - 300 - mlen / 2)
        pt.solid(c, v.rect(mu - mlen / 2, mv - 140, mu + mlen / 2, mv + 140, r=120), pt.metal(r, 0.45, 0.85), r,
                 shade="axis", axis=0, gain=0.5, shadow_k=1.5)
        if r.random() < 0.3:  # dual tailpipes
            up.exhaust(c, pt, r, [(mu - side * mlen / 2, mv), (-tail, L - 60)], 50.0, [], 0)

    def suspension(c: Canvas, r: np.random.Generator) -> None:
        su = W / 2 - r.uniform(420, 520)
        for sgn in (-1, 1):
            ball = (sgn * (tr / 2 - d["tw"] / 2 - 60), fa + r.uniform(-40, 40))
            arms = [v.band([(sgn * su, fa - r.uniform(150, 250)), ball], 45), v.band([(sgn * su, fa + r.uniform(150, 300)), ball], 55)]
            pt.solid(c, up.union(*arms), pt.metal(r, 0.35, 0.7), r, gain=0.3, shadow_k=1.2)
            up.paint(c, v.dots([ball], 25), pt.metal(r, 0.2, 0.5))
            rack = fa - r.uniform(120, 220)
            up.paint(c, v.line([(sgn * 300, rack), (sgn * (tr / 2 - d["tw"] / 2 - 40), rack + r.uniform(-40, 40))], 20),
                     pt.metal(r, 0.4, 0.8))
        pt.solid(c, v.band([(-320, fa - 170), (320, fa - 170)], 50), pt.metal(r, 0.35, 0.6), r, shadow_k=1.0)  # rack
        arb = fa + r.uniform(180, 320)
        pt.solid(c, v.band([(-(tr / 2 - 250), arb + 150), (-(su - 50), arb), (su - 50, arb), (tr / 2 - 250, arb + 150)], 22),
                 pt.metal(r, 0.2, 0.5), r, shadow_k=1.0)
        # rear
        if twist:
            tv = ra - r.uniform(100, 200)
            up.beam(c, pt, r, -(tr / 2 - 200), tr / 2 - 200, tv, float(r.uniform(70, 110)), gussets=False, kind="tube")
            for sgn in (-1, 1):
                pt.solid(c, v.band([(sgn * (W / 2 - 350), ra - 550), (sgn * (tr / 2 - 200), ra)], 60), pt.metal(r, 0.4, 0.7),
                         r, shadow_k=1.0)
                up.spring(c, pt, r, sgn * (tr / 2 - 330), tv + 40, float(r.uniform(60, 85)))
        else:
            rsu = W / 2 - r.uniform(400, 520)
            sub = [v.band([(-rsu, ra - 300), (rsu, ra - 300)], 60), v.band([(-rsu, ra + 250), (rsu, ra + 250)], 60),
                   v.band([(-rsu, ra - 300), (-rsu, ra + 250)], 50), v.band([(rsu, ra - 300), (rsu, ra + 250)], 50)]
            pt.solid(c, up.union(*sub), pt.metal(r, 0.3, 0.6), r, gain=0.3, shadow_k=1.2)
            for sgn in (-1, 1):
                hub = (sgn * (tr / 2 - d["tw"] / 2 - 60), ra)
                for dv in r.uniform(-280, 280, int(r.integers(2, 4))):
                    up.paint(c, v.band([(sgn * rsu, ra + dv), hub], 35), pt.metal(r, 0.3, 0.65))
                up.spring(c, pt, r, sgn * (tr / 2 - 320), ra + r.uniform(-120, 120), float(r.uniform(55, 80)))
                pt.solid(c, v.ellipse(sgn * (tr / 2 - 250), ra + r.uniform(120, 220), 30, 30), pt.metal(r, 0.3, 0.6), r)

    def drivetrain(c: Canvas, r: np.random.Generator) -> None:
        if drive in ("fwd", "awd"):
            gu = side * r.uniform(50, 200)
            for sgn in (-1, 1):
                up.shaft(c, pt, r, [(gu, fa), (sgn * (tr / 2 - d["tw"] / 2 - 40), fa + r.uniform(-30, 30))],
                         float(r.uniform(28, 40)), boots=True)
        if drive in ("rwd", "awd"):
            pv0 = fa + r.uniform(600, 900)
            mid = (pv0 + ra - 250) / 2
            up.shaft(c, pt, r, [(0, pv0), (0, mid)], float(r.uniform(60, 85)))
            up.shaft(c, pt, r, [(0, mid), (0, ra - 200)], float(r.uniform(60, 85)))
            pt.solid(c, v.rect(-90, mid - 35, 90, mid + 35), float(r.uniform(0.1, 0.4)), r, shade="flat")  # centre bearing
            up.diff(c, pt, r, 0, ra, float(r.uniform(130, 180)), False)
            for sgn in (-1, 1):
                up.shaft(c, pt, r, [(sgn * 150, ra), (sgn * (tr / 2 - d["tw"] / 2 - 40), ra + r.uniform(-30, 30))],
                         float(r.uniform(28, 38)), boots=True)

    def lines_l(c: Canvas, r: np.random.Generator) -> None:
        lu = side * -1 * r.uniform(tunnel / 2 + 60, W / 2 - 300)
        routes = [up.wavy(r, lu, fa + 200, lu + r.uniform(-80, 80), ra - 100, 15)]
        if r.random() < 0.7:
            lu2 = side * -1 * r.uniform(W / 2 - 360, W / 2 - 220)
            routes.append(up.wavy(r, lu2, fa + 400, lu2, ra - 300, 10))
        hoses = []
        for av in (fa, ra):
            for sgn in (-1, 1):
                hoses.append(((sgn * (tr / 2 - 350), av + r.uniform(-200, -80)), (sgn * (tr / 2 - d["tw"] / 2 - 20), av)))
        up.lines_layer(pt, routes, hoses)(c, r)

    wheels = [(sgn * tr / 2, av) for av in (fa, ra) for sgn in (-1, 1)]
    layers += [shields, tank, frame, engine, exhaust_l, suspension, drivetrain,
               _wheels_layer(pt, d, kind, rng, [False, False]), lines_l,
               up.small_parts_layer(pt, (-W / 2 + 150, 200, W / 2 - 150, L - 200), int(rng.integers(8, 30))),
               up.grime_layer(pt.v.h, pt.v.w, v, (-W / 2, 0, W / 2, L), wheels)]
    return layers


def _ladder(pt: Painter, d: dict[str, float], kind: str, rng: np.random.Generator) -> list[Layer]:
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
    layers: list[Layer] = [_body(pt, d, kind, rng, 0.0, cab)]

    def skid(c: Canvas, r: np.random.Generator) -> None:
        if kind != "van" and r.random() < 0.6:
            up.heat_shield(c, pt, r, -rf + 40, r.uniform(100, 300), rf - 40, fa + r.uniform(100, 400))
        if r.random() < 0.5:
            up.heat_shield(c, pt, r, -rr + 100, fa + r.uniform(900, 1200), -rr + 300, ra - r.uniform(600, 900))

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
            up.paint(c, v.ellipse(su, sv, rad * 0.2, min(rad, (L - ra) * 0.4) * 0.2), float(r.uniform(0.15, 0.35)))

    def frame(c: Canvas, r: np.random.Generator) -> None:
        for sgn in (-1, 1):
            up.rail(c, pt, r, [(sgn * a, b) for a, b in rail_pts], rail_w, rivets=r.random() < 0.2)
        vs = np.sort(r.uniform(fa + 400, L - 300, int(r.integers(3, 7))))
        for k, cv_ in enumerate(vs):
            uu = rr if cv_ > fa + 900 else rf
            up.beam(c, pt, r, -uu, uu, float(cv_), float(r.uniform(50, 110)),
                    kind="x" if (k == 1 and r.random() < 0.3) else None)
        up.beam(c, pt, r, -rf, rf, fa - r.uniform(200, 400), float(r.uniform(60, 100)))

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
        up.exhaust(c, pt, r, route, float(r.uniform(50, 75)), cans, int(r.integers(2, 5)))

    def suspension(c: Canvas, r: np.random.Generator) -> None:
        for sgn in (-1, 1):
            ball = (sgn * (tr / 2 - d["tw"] / 2 - 60), fa)
            if kind != "van" or r.random() < 0.5:
                arms = [v.band([(sgn * (rf - 40), fa - 220), ball], 55), v.band([(sgn * (rf - 40), fa + 220), ball], 55)]
                pt.solid(c, up.union(*arms), pt.metal(r, 0.35, 0.7), r, gain=0.3, shadow_k=1.2)
                up.spring(c, pt, r, sgn * (tr / 2 - 330), fa + r.uniform(-60, 60), float(r.uniform(60, 85)))
            if leaf:
                up.leaf_spring(c, pt, r, sgn * rr, ra + r.uniform(-40, 40), float(r.uniform(1100, 1500)), float(r.uniform(60, 80)))
            else:
                pt.solid(c, v.band([(sgn * rr, ra - r.uniform(550, 700)), (sgn * rr, ra)], 60), pt.metal(r, 0.35, 0.65), r)
                up.spring(c, pt, r, sgn * (rr + r.uniform(-40, 40)), ra + r.uniform(-150, -60), float(r.uniform(70, 95)))
        if not leaf:  # panhard rod
            up.paint(c, v.line([(-rr, ra + 150), (rr, ra + 80)], 40), pt.metal(r, 0.3, 0.6))
        up.paint(c, v.line([(-rr + 40, fa + 380), (rr - 40, fa + 380)], 24), pt.metal(r, 0.2, 0.5))  # anti-roll bar

    def drivetrain(c: Canvas, r: np.random.Generator) -> None:
        up.beam(c, pt, r, -(tr / 2 - d["tw"] / 2 - 30), tr / 2 - d["tw"] / 2 - 30, ra, float(r.uniform(90, 130)),
                gussets=False, kind="tube")  # rigid rear axle tube
        if drive == "fwd":
            for sgn in (-1, 1):
                up.shaft(c, pt, r, [(side * 120, fa), (sgn * (tr / 2 - d["tw"] / 2 - 40), fa)], 36.0, boots=True)
            return
        pv0 = fa + r.uniform(900, 1300)
        if ra - pv0 > 1700:
            mid = (pv0 + ra) / 2
            up.shaft(c, pt, r, [(0, pv0), (0, mid)], float(r.uniform(70, 95)))
            up.shaft(c, pt, r, [(0, mid), (r.uniform(-60, 60), ra - 200)], float(r.uniform(70, 95)))
            pt.solid(c, v.rect(-110, mid - 40, 110, mid + 40), float(r.uniform(0.1, 0.4)), r, shade="flat")
        else:
            up.shaft(c, pt, r, [(0, pv0), (r.uniform(-60, 60), ra - 200)], float(r.uniform(70, 95)))
        du = r.uniform(-120, 120)
        up.diff(c, pt, r, du, ra, float(r.uniform(170, 230)), False)
        if drive == "awd":
            up.shaft(c, pt, r, [(side * 200, pv0 - 100), (side * 120, fa + 150)], 55.0)
            up.diff(c, pt, r, side * 120, fa, float(r.uniform(130, 170)), True)
            for sgn in (-1, 1):
                up.shaft(c, pt, r, [(side * 120 + sgn * 100, fa), (sgn * (tr / 2 - d["tw"] / 2 - 40), fa)], 34.0, boots=True)

    def lines_l(c: Canvas, r: np.random.Generator) -> None:
        lu = -side * (rr - rail_w / 2 - r.uniform(20, 60))
        routes = [up.wavy(r, lu, fa + 300, lu, ra - 200, 10), up.wavy(r, -lu, fa + 600, r.uniform(-200, 200), ra, 25)]
        hoses = [((sgn * rr, av - 150), (sgn * (tr / 2 - d["tw"] / 2 - 20), av)) for av in (fa, ra) for sgn in (-1, 1)]
        up.lines_layer(pt, routes, hoses)(c, r)

    wheels = [(sgn * tr / 2, av) for av in (fa, ra) for sgn in (-1, 1)]
    layers += [skid, tanks, frame, engine, exhaust_l, suspension, drivetrain,
               _wheels_layer(pt, d, kind, rng, [False, dual]), lines_l,
               up.small_parts_layer(pt, (-W / 2 + 150, 200, W / 2 - 150, L - 200), int(rng.integers(8, 30))),
               up.grime_layer(pt.v.h, pt.v.w, v, (-W / 2, 0, W / 2, L), wheels)]
    return layers


def _truck(pt: Painter, d: dict[str, float], kind: str, rng: np.random.Generator) -> list[Layer]:
    """Truck tractor: riveted rails close together, I-beam steer axle, driven axle(s) with dual
    tyres, fuel and air tanks, battery box, muffler, fifth-wheel plate."""
    v, L, W = pt.v, d["L"], d["W"]
    fa, ra, tr = d["fo"], d["fo"] + d["wb"], d["track"]
    axles = _axles(d, kind)
    rh = float(rng.uniform(400, 440))  # half the rail spacing (standard 860 mm outer)
    rail_w = float(rng.uniform(75, 100))
    cab = fa + float(rng.uniform(600, 1100))
    side = float(rng.choice([-1, 1]))
    layers: list[Layer] = [_body(pt, d, kind, rng, 0.0, cab)]

    def fifth(c: Canvas, r: np.random.Generator) -> None:
        fv = (axles[-1] + axles[1]) / 2 + r.uniform(-300, 100) if len(axles) > 2 else ra - r.uniform(100, 400)
        fw = r.uniform(800, 950)
        p = v.rect(-fw / 2, fv - 450, fw / 2, fv + 450, r=200)
        pt.solid(c, p, pt.metal(r, 0.3, 0.6), r, shade="flat", shadow_k=0.5, grain=0.01)
        up.paint(c, v.poly([(-60, fv + 450), (60, fv + 450), (20, fv), (-20, fv)]), far_level(r))  # the V slot
        for sgn in (-1, 1):  # mounting brackets
            pt.solid(c, v.rect(sgn * rh - 80, fv - 200, sgn * rh + 80, fv + 200), pt.metal(r, 0.35, 0.65), r, shade="flat")

    def tanks(c: Canvas, r: np.random.Generator) -> None:
        t0, t1 = fa + d["td"] / 2 + r.uniform(150, 350), ra - d["td"] / 2 - r.uniform(150, 500)
        sides = [side, -side] if r.random() < 0.4 else [side]
        for k, sg in enumerate(sides):
            dia = r.uniform(550, 700)
            length = min(t1 - t0, r.uniform(900, 1800))
            uo = sg * (rh + rail_w / 2 + 60 + dia / 2)
            up.cylinder(c, pt, r, uo, t0 + length / 2, dia, length, True, pt.metal(r, 0.6, 0.95), straps=2)
            up.paint(c, v.ellipse(uo + sg * dia * 0.3, t0 + 120, 50, 50), pt.metal(r, 0.3, 0.6))  # filler cap
        other = -side if len(sides) == 1 else side
        bu = other * (rh + rail_w / 2 + 60 + 300)
        if r.random() < 0.7:  # battery box with a ribbed lid
            bl = r.uniform(500, 700)
            bb = v.rect(bu - 280, t0, bu + 280, t0 + bl, r=30)
            pt.solid(c, bb, float(r.uniform(0.08, 0.5)), r, shade="flat", shadow_k=1.5)
            for k in range(int(r.integers(3, 7))):
                up.paint(c, v.line([(bu - 250, t0 + 60 + k * 80), (bu + 250, t0 + 60 + k * 80)], 12), float(r.uniform(0.05, 0.6)),
                         alpha=0.6)
        for k in range(int(r.integers(1, 4))):  # air tanks: between the rails across, or outboard along
            if r.random() < 0.6:
                av = cab + r.uniform(200, max(400, ra - cab - 800))
                up.cylinder(c, pt, r, r.uniform(-60, 60), av, r.uniform(200, 260), 2 * rh - rail_w - 40, False,
                            pt.metal(r, 0.4, 0.75), straps=2, caps=False)
            else:
                up.cylinder(c, pt, r, other * (rh + rail_w / 2 + 180), t1 - r.uniform(200, 600), r.uniform(200, 260),
                            r.uniform(500, 800), True, pt.metal(r, 0.4, 0.75), straps=2)

    def frame(c: Canvas, r: np.random.Generator) -> None:
        for sgn in (-1, 1):
            up.rail(c, pt, r, [(sgn * rh, 40), (sgn * rh, L - 60)], rail_w, rivets=True)
        n = int(r.integers(5, 9))
        for cv_ in np.linspace(fa + 400, L - 150, n) + r.uniform(-120, 120, n):
            up.beam(c, pt, r, -rh, rh, float(cv_), float(r.uniform(60, 140)))
        pt.solid(c, v.rect(-W / 2 + 60, 10, W / 2 - 60, r.uniform(120, 220), r=40), float(r.uniform(0.08, 0.4)), r,
                 shade="axis", axis=0)  # bumper

    def engine(c: Canvas, r: np.random.Generator) -> None:
        ev0, ev1 = fa - r.uniform(600, 900), fa + r.uniform(400, 800)
        pt.solid(c, v.rect(-rh + rail_w, ev0, rh - rail_w, ev1, r=50), pt.metal(r, 0.25, 0.45), r, shade="flat")
        pt.solid(c, v.rect(-250, ev0 + 80, 250, ev1 - 80, r=50), pt.metal(r, 0.3, 0.55), r, gain=0.25)
        bolts = [(a, ev0 + 80) for a in np.linspace(-230, 230, 9)] + [(a, ev1 - 80) for a in np.linspace(-230, 230, 9)]
        up.paint(c, v.dots(bolts, 8), pt.metal(r, 0.5, 0.8))
        gv1 = ev1 + r.uniform(900, 1300)
        pt.solid(c, v.poly([(-220, ev1), (220, ev1), (140, gv1), (-140, gv1)]), pt.metal(r, 0.4, 0.7), r, shadow_k=1.2)

    def exhaust_l(c: Canvas, r: np.random.Generator) -> None:
        ev = fa + r.uniform(200, 500)
        if r.random() < 0.5:  # side muffler (vertical can: an ellipse seen from below) outboard behind the cab step
            mu = -side * (rh + rail_w + r.uniform(250, 400))
            mv = fa + d["td"] / 2 + r.uniform(300, 600)
            up.exhaust(c, pt, r, [(0, ev), (-side * 200, ev + 300), (mu, mv)], float(r.uniform(100, 130)), [], 2)
            rad = r.uniform(180, 250)
            pt.solid(c, v.ellipse(mu, mv, rad, rad), pt.metal(r, 0.5, 0.85), r, gain=0.5, shadow_k=1.5)
            up.paint(c, v.ellipse(mu, mv, rad * 0.85, rad * 0.85, thick=15), pt.metal(r, 0.3, 0.6))
        else:  # box muffler across under the cab
            mv = cab - r.uniform(0, 300)
            up.exhaust(c, pt, r, [(0, ev), (0, mv - 250)], float(r.uniform(100, 130)), [], 1)
            pt.solid(c, v.rect(-rh - 350, mv - 250, rh + 100, mv + 250, r=100), pt.metal(r, 0.5, 0.85), r, shade="axis",
                     axis=0, shadow_k=1.5)

    def suspension(c: Canvas, r: np.random.Generator) -> None:
        # I-beam steer axle: thick at the spring seats, dropped narrower centre
        ku = tr / 2 - d["tw"] / 2 - 80
        pts = [(-ku, fa - 70), (-rh - 60, fa - 70), (-rh + 120, fa - 40), (rh - 120, fa - 40), (rh + 60, fa - 70),
               (ku, fa - 70), (ku, fa + 70), (rh + 60, fa + 70), (rh - 120, fa + 40), (-rh + 120, fa + 40),
               (-rh - 60, fa + 70), (-ku, fa + 70)]
        pt.solid(c, v.poly(pts), pt.metal(r, 0.35, 0.65), r, shade="axis", axis=0, shadow_k=1.5)
        up.paint(c, v.line([(-ku + 40, fa + 250), (ku - 40, fa + 250)], 30), pt.metal(r, 0.3, 0.6))  # tie rod
        up.paint(c, v.line([(side * (rh + 100), fa - 900), (side * ku, fa - 120)], 35), pt.metal(r, 0.3, 0.6))  # drag link
        for sgn in (-1, 1):
            up.leaf_spring(c, pt, r, sgn * rh, fa, float(r.uniform(1400, 1800)), rail_w * 0.9)
        for av in axles[1:]:
            air = r.random() < 0.6
            for sgn in (-1, 1):
                if air:  # air bags behind the axle, trailing arm along the rail
                    pt.solid(c, v.band([(sgn * rh, av - 700), (sgn * rh, av + 300)], 90), pt.metal(r, 0.3, 0.6), r)
                    pt.solid(c, v.ellipse(sgn * rh, av + 380, 160, 160), float(r.uniform(0.04, 0.14)), r, shadow_k=1.2)
                else:
                    up.leaf_spring(c, pt, r, sgn * rh, av, float(r.uniform(1100, 1500)), rail_w)
                # brake chambers near the wheels
                pt.solid(c, v.ellipse(sgn * (ku - 250), av - 250, 90, 90), pt.metal(r, 0.3, 0.65), r, shadow_k=1.0)

    def drivetrain(c: Canvas, r: np.random.Generator) -> None:
        ku = tr / 2 - d["tw"] / 2 - 80
        gv = fa + r.uniform(1400, 2000)
        prev: tuple[float, float] = (0.0, gv)
        for av in axles[1:]:
            up.beam(c, pt, r, -ku - d["tw"] * 0.6, ku + d["tw"] * 0.6, av, float(r.uniform(150, 200)), gussets=False,
                    kind="tube")
            up.diff(c, pt, r, r.uniform(-60, 60), av, float(r.uniform(250, 320)), False)
            up.shaft(c, pt, r, [prev, (0.0, av - 280)], float(r.uniform(100, 130)))
            prev = (0.0, av + 280)

    def lines_l(c: Canvas, r: np.random.Generator) -> None:
        routes = [up.wavy(r, sg * (rh - rail_w / 2 - 30), fa + 300, sg * (rh - rail_w / 2 - 30), L - 300, 12)
                  for sg in (-1, 1) if r.random() < 0.8]
        routes.append(up.wavy(r, r.uniform(-150, 150), cab, r.uniform(-150, 150), L - 100, 40))  # air lines to the trailer
        hoses = [((sgn * rh, av - 200), (sgn * (tr / 2 - d["tw"] / 2 - 20), av)) for av in axles for sgn in (-1, 1)]
        up.lines_layer(pt, routes, hoses)(c, r)

    dual = [False] + [True] * (len(axles) - 1)
    wheels = [(sgn * tr / 2, av) for av in axles for sgn in (-1, 1)]
    layers += [fifth, frame, tanks, engine, exhaust_l, suspension, drivetrain, _wheels_layer(pt, d, kind, rng, dual),
               lines_l, up.small_parts_layer(pt, (-rh - 300, 200, rh + 300, L - 200), int(rng.integers(8, 30))),
               up.grime_layer(pt.v.h, pt.v.w, v, (-W / 2, 0, W / 2, L), wheels)]
    return layers


def far_level(r: np.random.Generator) -> float:
    return float(r.uniform(0.03, 0.25))


BUILDERS = {"car": _car, "suv": _ladder, "pickup": _ladder, "van": _ladder, "truck": _truck}
