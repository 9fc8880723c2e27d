"""The undercarriage of a truck tractor, as layers for `models.generators.under_vehicle`.

Riveted rails close together, I-beam steer axle, driven axle(s) with dual tyres, fuel and
air tanks, battery box, muffler, fifth-wheel plate.
"""

from __future__ import annotations

import numpy as np

from models.generators.common import Canvas, Layer
from models.generators.under_vehicle_drawing import Painter, paint
from models.generators.under_vehicle_exhaust import exhaust
from models.generators.under_vehicle_floor import axle_positions, body_layer, wheels_layer
from models.generators.under_vehicle_frame_tanks import beam, cylinder, rail
from models.generators.under_vehicle_running_gear import diff, leaf_spring, shaft
from models.generators.under_vehicle_small_parts import grime_layer, lines_layer, small_parts_layer, wavy


def build_truck(pt: Painter, d: dict[str, float], kind: str, rng: np.random.Generator) -> list[Layer]:
    """Truck tractor: riveted rails close together, I-beam steer axle, driven axle(s) with dual
    tyres, fuel and air tanks, battery box, muffler, fifth-wheel plate."""
    v, L, W = pt.v, d["L"], d["W"]
    fa, ra, tr = d["fo"], d["fo"] + d["wb"], d["track"]
    axles = axle_positions(d, kind)
    rh = float(rng.uniform(400, 440))  # half the rail spacing (standard 860 mm outer)
    rail_w = float(rng.uniform(75, 100))
    cab = fa + float(rng.uniform(600, 1100))
    side = float(rng.choice([-1, 1]))
    layers: list[Layer] = [body_layer(pt, d, kind, rng, 0.0, cab)]

    def fifth(c: Canvas, r: np.random.Generator) -> None:
        fv = (axles[-1] + axles[1]) / 2 + r.uniform(-300, 100) if len(axles) > 2 else ra - r.uniform(100, 400)
        fw = r.uniform(800, 950)
        p = v.rect(-fw / 2, fv - 450, fw / 2, fv + 450, r=200)
        pt.solid(c, p, pt.metal(r, 0.3, 0.6), r, shade="flat", shadow_k=0.5, grain=0.01)
        paint(c, v.poly([(-60, fv + 450), (60, fv + 450), (20, fv), (-20, fv)]), far_level(r))  # the V slot
        for sgn in (-1, 1):  # mounting brackets
            pt.solid(c, v.rect(sgn * rh - 80, fv - 200, sgn * rh + 80, fv + 200), pt.metal(r, 0.35, 0.65), r, shade="flat")

    def tanks(c: Canvas, r: np.random.Generator) -> None:
        t0, t1 = fa + d["td"] / 2 + r.uniform(150, 350), ra - d["td"] / 2 - r.uniform(150, 500)
        sides = [side, -side] if r.random() < 0.4 else [side]
        for k, sg in enumerate(sides):
            dia = r.uniform(550, 700)
            length = min(t1 - t0, r.uniform(900, 1800))
            uo = sg * (rh + rail_w / 2 + 60 + dia / 2)
            cylinder(c, pt, r, uo, t0 + length / 2, dia, length, True, pt.metal(r, 0.6, 0.95), straps=2)
            paint(c, v.ellipse(uo + sg * dia * 0.3, t0 + 120, 50, 50), pt.metal(r, 0.3, 0.6))  # filler cap
        other = -side if len(sides) == 1 else side
        bu = other * (rh + rail_w / 2 + 60 + 300)
        if r.random() < 0.7:  # battery box with a ribbed lid
            bl = r.uniform(500, 700)
            bb = v.rect(bu - 280, t0, bu + 280, t0 + bl, r=30)
            pt.solid(c, bb, float(r.uniform(0.08, 0.5)), r, shade="flat", shadow_k=1.5)
            for k in range(int(r.integers(3, 7))):
                paint(c, v.line([(bu - 250, t0 + 60 + k * 80), (bu + 250, t0 + 60 + k * 80)], 12), float(r.uniform(0.05, 0.6)),
                      alpha=0.6)
        for k in range(int(r.integers(1, 4))):  # air tanks: between the rails across, or outboard along
            if r.random() < 0.6:
                av = cab + r.uniform(200, max(400, ra - cab - 800))
                cylinder(c, pt, r, r.uniform(-60, 60), av, r.uniform(200, 260), 2 * rh - rail_w - 40, False,
                         pt.metal(r, 0.4, 0.75), straps=2, caps=False)
            else:
                cylinder(c, pt, r, other * (rh + rail_w / 2 + 180), t1 - r.uniform(200, 600), r.uniform(200, 260),
                         r.uniform(500, 800), True, pt.metal(r, 0.4, 0.75), straps=2)

    def frame(c: Canvas, r: np.random.Generator) -> None:
        for sgn in (-1, 1):
            rail(c, pt, r, [(sgn * rh, 40), (sgn * rh, L - 60)], rail_w, rivets=True)
        n = int(r.integers(5, 9))
        for cv_ in np.linspace(fa + 400, L - 150, n) + r.uniform(-120, 120, n):
            beam(c, pt, r, -rh, rh, float(cv_), float(r.uniform(60, 140)))
        pt.solid(c, v.rect(-W / 2 + 60, 10, W / 2 - 60, r.uniform(120, 220), r=40), float(r.uniform(0.08, 0.4)), r,
                 shade="axis", axis=0)  # bumper

    def engine(c: Canvas, r: np.random.Generator) -> None:
        ev0, ev1 = fa - r.uniform(600, 900), fa + r.uniform(400, 800)
        pt.solid(c, v.rect(-rh + rail_w, ev0, rh - rail_w, ev1, r=50), pt.metal(r, 0.25, 0.45), r, shade="flat")
        pt.solid(c, v.rect(-250, ev0 + 80, 250, ev1 - 80, r=50), pt.metal(r, 0.3, 0.55), r, gain=0.25)
        bolts = [(a, ev0 + 80) for a in np.linspace(-230, 230, 9)] + [(a, ev1 - 80) for a in np.linspace(-230, 230, 9)]
        paint(c, v.dots(bolts, 8), pt.metal(r, 0.5, 0.8))
        gv1 = ev1 + r.uniform(900, 1300)
        pt.solid(c, v.poly([(-220, ev1), (220, ev1), (140, gv1), (-140, gv1)]), pt.metal(r, 0.4, 0.7), r, shadow_k=1.2)

    def exhaust_l(c: Canvas, r: np.random.Generator) -> None:
        ev = fa + r.uniform(200, 500)
        if r.random() < 0.5:  # side muffler (vertical can: an ellipse seen from below) outboard behind the cab step
            mu = -side * (rh + rail_w + r.uniform(250, 400))
            mv = fa + d["td"] / 2 + r.uniform(300, 600)
            exhaust(c, pt, r, [(0, ev), (-side * 200, ev + 300), (mu, mv)], float(r.uniform(100, 130)), [], 2)
            rad = r.uniform(180, 250)
            pt.solid(c, v.ellipse(mu, mv, rad, rad), pt.metal(r, 0.5, 0.85), r, gain=0.5, shadow_k=1.5)
            paint(c, v.ellipse(mu, mv, rad * 0.85, rad * 0.85, thick=15), pt.metal(r, 0.3, 0.6))
        else:  # box muffler across under the cab
            mv = cab - r.uniform(0, 300)
            exhaust(c, pt, r, [(0, ev), (0, mv - 250)], float(r.uniform(100, 130)), [], 1)
            pt.solid(c, v.rect(-rh - 350, mv - 250, rh + 100, mv + 250, r=100), pt.metal(r, 0.5, 0.85), r, shade="axis",
                     axis=0, shadow_k=1.5)

    def suspension(c: Canvas, r: np.random.Generator) -> None:
        # I-beam steer axle: thick at the spring seats, dropped narrower centre
        ku = tr / 2 - d["tw"] / 2 - 80
        pts = [(-ku, fa - 70), (-rh - 60, fa - 70), (-rh + 120, fa - 40), (rh - 120, fa - 40), (rh + 60, fa - 70),
               (ku, fa - 70), (ku, fa + 70), (rh + 60, fa + 70), (rh - 120, fa + 40), (-rh + 120, fa + 40),
               (-rh - 60, fa + 70), (-ku, fa + 70)]
        pt.solid(c, v.poly(pts), pt.metal(r, 0.35, 0.65), r, shade="axis", axis=0, shadow_k=1.5)
        paint(c, v.line([(-ku + 40, fa + 250), (ku - 40, fa + 250)], 30), pt.metal(r, 0.3, 0.6))  # tie rod
        paint(c, v.line([(side * (rh + 100), fa - 900), (side * ku, fa - 120)], 35), pt.metal(r, 0.3, 0.6))  # drag link
        for sgn in (-1, 1):
            leaf_spring(c, pt, r, sgn * rh, fa, float(r.uniform(1400, 1800)), rail_w * 0.9)
        for av in axles[1:]:
            air = r.random() < 0.6
            for sgn in (-1, 1):
                if air:  # air bags behind the axle, trailing arm along the rail
                    pt.solid(c, v.band([(sgn * rh, av - 700), (sgn * rh, av + 300)], 90), pt.metal(r, 0.3, 0.6), r)
                    pt.solid(c, v.ellipse(sgn * rh, av + 380, 160, 160), float(r.uniform(0.04, 0.14)), r, shadow_k=1.2)
                else:
                    leaf_spring(c, pt, r, sgn * rh, av, float(r.uniform(1100, 1500)), rail_w)
                # brake chambers near the wheels
                pt.solid(c, v.ellipse(sgn * (ku - 250), av - 250, 90, 90), pt.metal(r, 0.3, 0.65), r, shadow_k=1.0)

    def drivetrain(c: Canvas, r: np.random.Generator) -> None:
        ku = tr / 2 - d["tw"] / 2 - 80
        gv = fa + r.uniform(1400, 2000)
        prev: tuple[float, float] = (0.0, gv)
        for av in axles[1:]:
            beam(c, pt, r, -ku - d["tw"] * 0.6, ku + d["tw"] * 0.6, av, float(r.uniform(150, 200)), gussets=False,
                 kind="tube")
            diff(c, pt, r, r.uniform(-60, 60), av, float(r.uniform(250, 320)), False)
            shaft(c, pt, r, [prev, (0.0, av - 280)], float(r.uniform(100, 130)))
            prev = (0.0, av + 280)

    def lines_l(c: Canvas, r: np.random.Generator) -> None:
        routes = [wavy(r, sg * (rh - rail_w / 2 - 30), fa + 300, sg * (rh - rail_w / 2 - 30), L - 300, 12)
                  for sg in (-1, 1) if r.random() < 0.8]
        routes.append(wavy(r, r.uniform(-150, 150), cab, r.uniform(-150, 150), L - 100, 40))  # air lines to the trailer
        hoses = [((sgn * rh, av - 200), (sgn * (tr / 2 - d["tw"] / 2 - 20), av)) for av in axles for sgn in (-1, 1)]
        lines_layer(pt, routes, hoses)(c, r)

    dual = [False] + [True] * (len(axles) - 1)
    wheels = [(sgn * tr / 2, av) for av in axles for sgn in (-1, 1)]
    layers += [fifth, frame, tanks, engine, exhaust_l, suspension, drivetrain, wheels_layer(pt, d, kind, rng, dual),
               lines_l, small_parts_layer(pt, (-rh - 300, 200, rh + 300, L - 200), int(rng.integers(8, 30))),
               grime_layer(pt.v.h, pt.v.w, v, (-W / 2, 0, W / 2, L), wheels)]
    return layers


def far_level(r: np.random.Generator) -> float:
    """Level of something far above the lane (seen through the frame): dark to dim."""
    return float(r.uniform(0.03, 0.25))
