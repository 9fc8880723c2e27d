"""The road vehicle under a scanned container: trailer or truck chassis, axles and wheels.

Chassis beams and braces, 1-3 axles with tyre / rim / hub / axle end-on, suspension, mudguards,
landing legs, under-ride bumper, a low deck instead, the tractor's rear or a truck's cab back.
All normal; none of it touches the anomaly mask.
"""

from __future__ import annotations

import cv2
import numpy as np

from models.generators.common import Canvas, Layer
from models.generators.empty_container_geometry import Geometry
from models.generators.empty_container_raster import band, radial, rect


def _wheel(img: np.ndarray, r: np.random.Generator, g: Geometry, cx: float, radius: float) -> None:
    """Tyre ring (tread denser), steel rim with hand holes, hub, and the axle end-on (very dense)."""
    cy = g.ground - g.my(radius) * r.uniform(0.96, 0.99)  # loaded tyre sits a little flat
    rx, ry = g.mx(radius), g.my(radius)
    tyre, rim, disc = r.uniform(0.7, 1.5), r.uniform(1.5, 2.8), r.uniform(0.5, 1.0)
    hub, axle = r.uniform(2.0, 3.5), r.uniform(3.5, 5.5)
    rim_r = r.uniform(0.5, 0.58)
    holes = int(r.integers(0, 11))
    ph = r.uniform(0, 2 * np.pi)

    def profile(rho: np.ndarray, th: np.ndarray) -> np.ndarray:
        out = tyre * band(rho, rim_r, 1.0, 0.04) * (0.7 + 0.5 * np.clip((rho - rim_r) / (1 - rim_r), 0, 1) ** 2)
        out = out + rim * band(rho, rim_r - 0.05, rim_r + 0.01, 0.03)
        d = disc * band(rho, 0.2, rim_r - 0.05, 0.04)
        if holes:
            hole = band(rho, 0.32, 0.44, 0.05) * (np.cos(holes * (th - ph)) > 0.55)
            d = d * (1 - 0.8 * hole)
        out = out + d + hub * band(rho, 0.0, 0.22, 0.05) + axle * band(rho, 0.0, 0.1, 0.05)
        return out

    radial(img, cx, cy, rx, ry, profile)


def vehicle(g: Geometry) -> Layer:
    """Trailer or truck chassis under the box, axles and wheels, mudguards, landing legs,
    under-ride bumper, and sometimes the tractor's rear at the front end."""

    def layer(c: Canvas, r: np.random.Generator) -> None:
        img = c.img
        d = g.ahead
        if g.carrier == "low":  # a low flat deck: a thin band under the box, maybe small wheels
            deck = g.my(r.uniform(0.05, 0.15))
            rect(img, g.bottom, g.bottom + deck, g.left - g.mx(0.3), g.right + g.mx(0.3), r.uniform(1.0, 2.5))
            if r.random() < 0.6:  # small wheels in two groups (low-bed bogies, a rail wagon's)
                wr = r.uniform(0.2, 0.45)
                per = int(r.integers(1, 4))
                gap = wr * r.uniform(2.1, 2.6)
                for gx in (r.uniform(0.08, 0.25), r.uniform(0.75, 0.92)):
                    cx0 = g.left + (g.right - g.left) * gx
                    axle_y = g.ground - g.my(wr)
                    block = [cx0 - g.mx(gap) * (per - 1) / 2 - g.mx(wr), cx0 + g.mx(gap) * (per - 1) / 2 + g.mx(wr)]
                    if axle_y > g.bottom + deck:  # bogie frame between the deck and the axles
                        rect(img, g.bottom + deck, axle_y, block[0], block[1], r.uniform(0.3, 0.9))
                    for k in range(per):
                        _wheel(img, r, g, cx0 + g.mx(gap) * (k - (per - 1) / 2), wr)
            return
        # main beams (two I-beams, superposed): deep in the middle, shallow over the gooseneck
        over_f, over_r = g.mx(r.uniform(-0.1, 0.6)), g.mx(r.uniform(-0.05, 0.25))
        x_front = g.front + d * over_f
        x_rear = g.rear - d * over_r
        xa, xb = sorted((x_front, x_rear))
        beam = g.my(r.uniform(0.25, 0.45))
        flange = max(g.my(r.uniform(0.015, 0.03)), 0.7)
        web_mu, flange_mu = r.uniform(0.4, 0.9), r.uniform(1.0, 2.2)
        neck = g.mx(r.uniform(2.5, 3.6)) if g.carrier == "trailer" and g.size != "20" else 0.0
        na, nb = (xb - neck, xb) if g.door_left else (xa, xa + neck)
        ba, bb = (xa, na) if g.door_left else (nb, xb)
        y0 = g.bottom
        if neck > 0:  # gooseneck: the beam runs in the container's tunnel, shallower
            ny = g.tunnel_top if g.tunnel is not None else g.bottom
            nd = g.my(r.uniform(0.12, 0.2))
            rect(img, ny, ny + nd, na, nb, web_mu)
            rect(img, ny + nd - flange, ny + nd, na, nb, flange_mu)
            step = nb if not g.door_left else na
            rect(img, y0, y0 + beam, min(step, step + (-d) * g.mx(0.3)), max(step, step + (-d) * g.mx(0.3)), web_mu * 0.7)
            # king pin and its plate near the front
            kx = (nb - g.mx(r.uniform(0.6, 1.0))) if g.door_left else (na + g.mx(r.uniform(0.6, 1.0)))
            rect(img, ny + nd, ny + nd + g.my(0.07), kx - g.mx(0.04), kx + g.mx(0.04), r.uniform(1.5, 3.0))
        rect(img, y0, y0 + beam, ba, bb, web_mu)
        rect(img, y0, y0 + flange, ba, bb, flange_mu)
        rect(img, y0 + beam - flange, y0 + beam, ba, bb, flange_mu)
        # cross braces / outriggers of the chassis, seen along their length (dense)
        pitch = g.mx(r.uniform(0.6, 1.4))
        x = ba + r.uniform(0, pitch)
        cb = r.uniform(1.0, 2.5)
        while x < bb:
            rect(img, y0 + flange, y0 + beam * r.uniform(0.6, 1.0), x, x + max(g.mx(0.05), 0.8), cb)
            x += pitch * r.uniform(0.9, 1.1)
        # axles at the rear (trailer) or both ends (truck)
        radius = r.uniform(0.47, 0.54)
        spread = r.uniform(1.25, 1.41)
        short = g.size == "20"
        if g.carrier == "trailer":
            n_axles = int(r.choice([1, 2], p=[0.3, 0.7])) if short else int(r.choice([2, 3], p=[0.35, 0.65]))
        else:
            n_axles = int(r.integers(1, 3))
        back = g.rear + d * g.mx(r.uniform(0.5, 1.5) if short or g.carrier != "trailer" else r.uniform(0.8, 2.6))
        centres = [back + d * g.mx(spread) * k for k in range(n_axles)]
        if g.carrier == "truck":  # front steering axle ahead of the box, under the cab
            centres.append(g.front + d * g.mx(r.uniform(0.6, 1.6)))
        ground_gap = g.ground - (y0 + beam)
        for k, cx in enumerate(centres):
            _wheel(img, r, g, cx, radius)
            # suspension: spring hanger / air bag between axle and beam
            top_y, axle_y = y0 + beam, g.ground - g.my(radius)
            if axle_y > top_y:
                rect(img, top_y, axle_y, cx - g.mx(0.09), cx + g.mx(0.09), r.uniform(0.4, 1.2))
                rect(img, axle_y - g.my(0.05), axle_y + g.my(0.03), cx - g.mx(0.6), cx + g.mx(0.6), r.uniform(0.6, 1.6))
            if r.random() < 0.75:  # mudguard: a thin arc over the wheel
                mr = radius + r.uniform(0.04, 0.12)
                cyw = g.ground - g.my(radius)
                thick = r.uniform(0.06, 0.14)
                mu = r.uniform(0.4, 1.1)
                radial(img, cx, cyw, g.mx(mr), g.my(mr),
                       lambda rho, th, m=mu, t=thick: m * band(rho, 1 - t, 1.0, 0.05) * (np.sin(th) < -0.05))
        if g.carrier == "trailer":
            if ground_gap > g.my(0.3):  # landing legs behind the king pin, foot pads near the road
                lx = g.front - d * g.mx(r.uniform(0.8, 1.5) if short else r.uniform(1.8, 3.2))
                lw = g.mx(r.uniform(0.09, 0.15))
                foot = g.ground - g.my(r.uniform(0.03, 0.35))
                leg_mu = r.uniform(1.2, 2.4)
                rect(img, y0 + beam, foot, lx - lw / 2, lx + lw / 2, leg_mu)
                rect(img, foot - g.my(0.04), foot, lx - lw, lx + lw, leg_mu)
                rect(img, y0 + beam, y0 + beam + g.my(0.25), lx - lw, lx + lw, leg_mu * 0.6)  # crank gear box
                if r.random() < 0.6:  # diagonal brace
                    p0 = (lx, y0 + beam + g.my(0.6))
                    p1 = (lx - d * g.mx(0.8), y0 + beam)
                    tmp = np.zeros_like(img)
                    cv2.line(tmp, (int(p0[0]), int(p0[1])), (int(p1[0]), int(p1[1])), float(leg_mu * 0.5),
                             max(1, int(g.mx(0.04))), cv2.LINE_AA)
                    img += tmp
            if r.random() < 0.85:  # under-ride bumper at the rear: posts and a bar seen along the width
                ux = g.rear + d * g.mx(r.uniform(-0.1, 0.3))
                bar_y = g.ground - g.my(r.uniform(0.4, 0.55))
                bh, bw = g.my(r.uniform(0.08, 0.14)), g.mx(r.uniform(0.08, 0.14))
                rect(img, y0 + beam, bar_y, ux - g.mx(0.04), ux + g.mx(0.04), r.uniform(0.8, 1.8))
                rect(img, bar_y, bar_y + bh, ux - bw / 2, ux + bw / 2, r.uniform(2.5, 4.0))
                if r.random() < 0.6:  # light bar / number plate bracket
                    rect(img, y0 + beam, y0 + beam + g.my(0.12), ux - g.mx(0.25), ux + g.mx(0.25), r.uniform(0.2, 0.6))
            if r.random() < 0.45:
                _tractor_rear(img, r, g, centres, radius)
        elif g.carrier == "truck":
            _cab_back(img, r, g)

    return layer


def _tractor_rear(img: np.ndarray, r: np.random.Generator, g: Geometry, trailer_axles: list[float],
                  trailer_radius: float) -> None:
    """The tractor's rear beyond the box's front: chassis rails, fifth wheel, drive axles, cab back
    (none where its wheels would overlap the trailer's, as on a short 20 ft chassis)."""
    d = g.ahead
    fx = g.front - d * g.mx(r.uniform(0.7, 1.1))
    drive = [fx + d * g.mx(0.2) - d * g.mx(1.33) * k for k in range(int(r.integers(1, 3)))]
    if any(abs(a - b) < g.mx(2.0 * trailer_radius + 0.15) for a in drive for b in trailer_axles):
        return
    front = g.front
    fifth_y = g.tunnel_top if g.tunnel is not None else g.bottom
    rail_y = fifth_y + g.my(r.uniform(0.15, 0.3))
    rail_h = g.my(r.uniform(0.2, 0.3))
    start = front - d * g.mx(r.uniform(1.5, 3.0))
    end = front + d * g.mx(r.uniform(1.2, 2.5))
    xa, xb = sorted((start, end))
    rect(img, rail_y, rail_y + rail_h, xa, xb, r.uniform(0.6, 1.4))
    rect(img, fifth_y + g.my(0.03), rail_y, fx - g.mx(0.5), fx + g.mx(0.5), r.uniform(1.0, 2.0))  # fifth wheel
    radius = r.uniform(0.48, 0.53)
    for cx in drive:
        _wheel(img, r, g, cx, radius)
    if r.random() < 0.6:  # the back of the cab at the frame's edge (the cab itself is not scanned)
        cx = end
        cw = g.mx(r.uniform(0.05, 0.25))
        top = g.ground - g.my(r.uniform(2.8, 3.6))
        rect(img, top, rail_y, min(cx, cx + d * cw), max(cx, cx + d * cw), r.uniform(0.6, 1.6))
        rect(img, top, rail_y, min(cx + d * cw, cx + d * 3 * cw), max(cx + d * cw, cx + d * 3 * cw), r.uniform(0.2, 0.5))


def _cab_back(img: np.ndarray, r: np.random.Generator, g: Geometry) -> None:
    """A rigid truck's cab back wall ahead of the box (partly in frame)."""
    d = g.ahead
    x0 = g.front + d * g.mx(r.uniform(0.1, 0.4))
    cw = g.mx(r.uniform(0.05, 0.2))
    top = g.ground - g.my(r.uniform(2.6, 3.4))
    rect(img, top, g.bottom + g.my(0.4), min(x0, x0 + d * cw), max(x0, x0 + d * cw), r.uniform(0.6, 1.6))
    rect(img, g.bottom, g.bottom + g.my(0.3), min(x0, g.front), max(x0, g.front), r.uniform(0.6, 1.4))
