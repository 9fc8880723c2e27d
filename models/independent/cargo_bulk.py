"""Bulky normal cargo: machinery, steel coils and paper rolls, furniture (see `cargo_goods`).

Each filler draws goods into [x0, x1] (metres along the box) from the floor up to `ztop`,
records one `Unit` per item (its extent, for hosting concealed objects) and returns how far
along the box it got. Also here: the wooden pallet base, and the load securing at the door
end (timber bracing, a stack of empty pallets).

EVALUATION ONLY: never train, tune or select models on these images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .cargo_draw import MU, STEEL, annulus, chord, paste_at, radial_patch, rect_poly, shape, u
from .xray_geom import XGeom, add_profile_x, add_profile_z, add_rect


@dataclass
class Unit:
    """One placed cargo unit (a pallet stack, a machine, a coil...), metres, and its goods cells.

    `cells` are (row, column, patch index, scale) of identical goods patches pasted into the
    map, so a unit's goods can be swapped for others (an irregularity) without redrawing it.
    """

    kind: str
    box: int
    x0: float
    x1: float
    z0: float
    z1: float
    level: float
    cells: list[tuple[int, int, int, float]] = field(default_factory=list)
    patches: list[np.ndarray] = field(default_factory=list, repr=False)


@dataclass
class Ctx:
    """What a filler draws into: the cargo map, the scale, this box's stream and its records."""

    a: np.ndarray
    g: XGeom
    rng: np.random.Generator
    box: int
    iz0: float
    dens: float
    units: list[Unit]
    floor_free: list[tuple[float, float, float]]
    params: dict[str, Any]


def pallet(c: Ctx, x0: float, x1: float, zb: float, wood: float) -> None:
    """A wooden pallet base (0.144 m): deck boards as dark lines, blocks between them."""
    deck = MU * wood * 2.1 * 0.7
    add_rect(c.a, c.g, x0, x1, zb + 0.122, zb + 0.144, deck)
    add_rect(c.a, c.g, x0, x1, zb, zb + 0.022, 0.6 * deck)
    for bx in (x0, 0.5 * (x0 + x1) - 0.0725, x1 - 0.145):
        add_rect(c.a, c.g, bx, bx + 0.145, zb + 0.022, zb + 0.122, MU * wood * 0.87)


def door_end(c: Ctx, back: float, ix0: float, ix1: float, iz1: float, front_left: bool,
             extras: list[str]) -> tuple[float, float]:
    """Load securing behind the last goods (timber bracing) and empty pallets by the doors, sometimes.

    Returns the floor span left free between the goods and the doors.
    """
    rng, a, g = c.rng, c.a, c.g
    sgn = 1.0 if front_left else -1.0
    gap = (ix1 - back) if front_left else (back - ix0)
    free = [back + sgn * 0.1, (ix1 - 0.2) if front_left else (ix0 + 0.2)]
    if gap > 0.6 and rng.random() < 0.35:  # bracing: posts face-on, cross bars crossed along their length
        bx = back + sgn * 0.02
        top = min(iz1, max(q.z1 for q in c.units) + 0.1)
        add_rect(a, g, min(bx, bx + sgn * 0.1), max(bx, bx + sgn * 0.1), c.iz0, top, MU * 0.55 * 0.2)
        for zz in np.linspace(c.iz0 + 0.3, top - 0.15, int(rng.integers(2, 5))):
            add_rect(a, g, min(bx, bx + sgn * 0.1), max(bx, bx + sgn * 0.1), zz, zz + 0.1, MU * 0.55 * 2.3)
        free[0] = back + sgn * 0.16
        extras.append("bracing")
    if gap > 1.8 and rng.random() < 0.25:  # a stack of empty pallets by the doors
        n = int(rng.integers(3, 13))
        px = free[1] - sgn * 1.25
        for k in range(n):
            pallet(c, min(px, free[1]), max(px, free[1]), c.iz0 + k * 0.145, u(rng, 0.45, 0.6))
        free[1] = px - sgn * 0.1
        extras.append(f"empty_pallets_{n}")
    return (free[0], free[1]) if front_left else (free[1], free[0])


def _machine(c: Ctx, x0: float, ln: float, hm: float) -> None:
    """One machine: skid or bearers, a housing with bores, motors, shafts, flanges and bolts."""
    rng, g, a = c.rng, c.g, c.a
    z = c.iz0
    if rng.random() < 0.5:  # steel skid: two rails along the length
        add_rect(a, g, x0, x0 + ln, z, z + 0.12, STEEL * 0.02)
        for zz in (z, z + 0.105):
            add_rect(a, g, x0, x0 + ln, zz, zz + 0.015, STEEL * 0.3)
        z += 0.12
    else:  # timber bearers across the width
        hb = u(rng, 0.1, 0.18)
        bxs = [x0 + 0.1] + ([x0 + ln / 2 - 0.06] if ln > 1.8 else []) + [x0 + ln - 0.22]
        for bx in bxs:
            add_rect(a, g, bx, bx + 0.12, z, z + hb, MU * 0.6 * 2.2)
        c.floor_free += [(p + 0.14, q - 0.02, hb) for p, q in zip(bxs, bxs[1:]) if q - p > 0.66]
        z += hb
    t_body = u(rng, 0.03, 0.3)
    bw, bh = ln * u(rng, 0.5, 0.95), (hm - (z - c.iz0)) * u(rng, 0.45, 0.9)
    bx = x0 + u(rng, 0.0, ln - bw)
    ch = min(bw, bh) * u(rng, 0.0, 0.3)
    body = np.array([[bx, z], [bx + bw, z], [bx + bw, z + bh - ch], [bx + bw - ch, z + bh], [bx, z + bh]])
    shape(a, g, [body], STEEL * t_body)
    add_rect(a, g, bx - 0.03, bx + bw + 0.03, z, z + 0.03, STEEL * 0.12)  # base flange
    for _ in range(int(rng.integers(0, 4))):  # bores along the beam: much less metal there
        r = min(bw, bh) * u(rng, 0.06, 0.2)
        cx, cz = bx + u(rng, r + 0.02, bw - r - 0.02), z + u(rng, r + 0.03, max(r + 0.04, bh - r - 0.03))
        shape(a, g, [np.stack([cx + r * np.cos(np.linspace(0, 2 * np.pi, 24)),
                               cz + r * np.sin(np.linspace(0, 2 * np.pi, 24))], 1)], -0.8 * STEEL * t_body)
    for _ in range(int(rng.integers(0, 3))):  # motors / pumps: a disc (axis across) or a drum (axis along)
        r = u(rng, 0.1, 0.3)
        mx, mz = bx + u(rng, 0, bw), z + bh + r * u(rng, -0.5, 0.9)
        if rng.random() < 0.5:
            paste_at(a, g, mx, mz, radial_patch(g, r + 0.01, annulus(0.0, r, STEEL * u(rng, 0.05, 0.3), 0.01)))
        else:
            add_profile_z(a, g, mx - 1.5 * r, mx + 1.5 * r, mz - r, mz + r,
                          lambda zz, mz=mz, r=r: STEEL * 0.25 * chord(zz - mz, r))
    if rng.random() < 0.6:  # a shaft along the length
        r = u(rng, 0.025, 0.08)
        sz = z + bh * u(rng, 0.3, 0.8)
        add_profile_z(a, g, x0 + 0.02, x0 + ln - 0.02, sz - r, sz + r, lambda zz: STEEL * chord(zz - sz, r))
    fz = z + bh
    add_rect(a, g, bx, bx + bw, fz - 0.02, fz, STEEL * 0.1)  # top flange and its bolts
    step = u(rng, 0.06, 0.15)
    for xb in np.arange(bx + 0.04, bx + bw - 0.03, step):
        add_rect(a, g, xb, xb + 0.022, fz - 0.03, fz + 0.012, STEEL * 0.12)
    if rng.random() < 0.45:  # crated: plank walls face-on, frame battens edge-on, diagonal braces
        m = 0.06
        add_rect(a, g, x0, x0 + ln, c.iz0, c.iz0 + hm, 0.08)
        for p in ([rect_poly(x0, x0 + ln, c.iz0, c.iz0 + hm)],):
            shape(a, g, p, MU * 0.5 * 2.0 * 0.5, line_m=m)
        shape(a, g, [np.array([[x0, c.iz0], [x0 + ln, c.iz0 + hm]])], 0.25, line_m=0.09, closed=False)


def machinery(c: Ctx, x0: float, x1: float, ztop: float) -> float:
    rng = c.rng
    x, end, n = x0, x0, 0
    while x1 - x > 0.7:
        ln = u(rng, 0.7, min(3.0, x1 - x))
        hm = min(u(rng, 0.5, 2.2), ztop - c.iz0)
        _machine(c, x, ln, hm)
        c.units.append(Unit("machinery", c.box, x, x + ln, c.iz0, c.iz0 + hm, STEEL * 0.1))
        end, x, n = x + ln, x + ln + u(rng, 0.05, 0.6), n + 1
    c.params.update(machines=n)
    return end


def coils(c: Ctx, x0: float, x1: float, ztop: float) -> float:
    rng, g, a, z = c.rng, c.g, c.a, c.iz0
    variant = ("steel_eye_side", "steel_eye_door", "paper_standing", "paper_lying")[
        int(rng.choice(4, p=[0.35, 0.2, 0.25, 0.2]))]
    x, end, n = x0, x0, 0
    if variant.startswith("steel"):
        od, idm, wd = u(rng, 1.0, 1.8), u(rng, 0.45, 0.62), u(rng, 0.8, 1.6)
        along = od if variant == "steel_eye_side" else wd
        while x + along + 0.4 <= x1 and n < 6:
            cx = x + 0.2 + along / 2
            for sgn in (-1.0, 1.0):  # cradle wedges / chocks, crossed along their length
                wx = cx + sgn * (along / 2 if variant == "steel_eye_door" else od * 0.32)
                tri = np.array([[wx - 0.14, z], [wx + 0.14, z], [wx, z + 0.18]])
                shape(a, g, [tri], MU * 0.6 * 2.0)
            if variant == "steel_eye_side":
                zc = z + 0.05 + od / 2
                paste_at(a, g, cx, zc, radial_patch(g, od / 2 + 0.01, annulus(idm / 2, od / 2, STEEL * wd, 0.008)))
                for sgn in (-1.0, 1.0):  # lashing through the eye to the floor
                    strap = np.array([[cx, zc + idm / 2], [cx + sgn * od * 0.6, z]])
                    shape(a, g, [strap], 0.4, line_m=0.03, closed=False)
            else:
                zc = z + 0.05 + od / 2
                add_profile_z(a, g, cx - wd / 2, cx + wd / 2, zc - od / 2, zc + od / 2,
                              lambda zz, zc=zc: STEEL * (chord(zz - zc, od / 2) - chord(zz - zc, idm / 2)))
            if variant == "steel_eye_side":  # something could only hide in the eye
                c.units.append(Unit("coils", c.box, cx - idm / 2, cx + idm / 2, zc - idm / 2, zc + idm / 2, 0.5))
            else:
                c.units.append(Unit("coils", c.box, cx - along / 2, cx + along / 2, z, z + 0.05 + od, 30.0))
            end, x, n = cx + along / 2 + 0.2, cx + along / 2 + 0.2 + u(rng, 0.3, 1.5), n + 1
        c.params.update(variant=variant, od_m=round(od, 3), width_m=round(wd, 3), count=n)
        return end
    od, wd, rho = u(rng, 0.8, 1.3), u(rng, 0.9, 1.6), u(rng, 0.6, 0.85)
    across = 2 if od < 1.15 else 1
    if variant == "paper_standing":
        tiers = 2 if 2 * wd < ztop - z else 1
        while x + od <= x1:
            for t in range(tiers):
                add_profile_x(a, g, x, x + od, z + t * wd, z + (t + 1) * wd - 0.01,
                              lambda xx, cx=x + od / 2: MU * rho * across
                              * (chord(xx - cx, od / 2) - chord(xx - cx, 0.05)))
            c.units.append(Unit("coils", c.box, x, x + od, z, z + tiers * wd, MU * rho * across * od * 0.8))
            end, x, n = x + od, x + od + 0.01, n + 1
    else:
        wound = annulus(0.05, od / 2, MU * rho * min(2.3, across * wd), 0.008)
        disc = radial_patch(g, od / 2 + 0.01, lambda r: wound(r) * (1 + 0.04 * np.cos(r * 400.0)))
        while x + od <= x1:
            paste_at(a, g, x + od / 2, z + od / 2, disc)
            if x + 1.5 * od <= x1 and z + 1.87 * od < ztop:  # nested on top, in the valley
                paste_at(a, g, x + od, z + od / 2 + 0.866 * od, disc)
            c.units.append(Unit("coils", c.box, x, x + od, z, z + od, MU * rho * wd))
            end, x, n = x + od, x + od + 0.005, n + 1
    c.params.update(variant=variant, od_m=round(od, 3), width_m=round(wd, 3), count=n)
    return end


def _poly_lines(c: Ctx, segs: list[np.ndarray], value: float, thick: float) -> None:
    for s in segs:
        shape(c.a, c.g, [s], value, line_m=thick, closed=False)


def _item(c: Ctx, item: str, x: float, z: float, room: float, ztop: float) -> tuple[float, float]:
    """One piece of furniture standing at (x, z); returns (length, top)."""
    rng = c.rng
    k = float(rng.integers(1, 4))  # pieces side by side across the width
    if item == "chairs":
        w, n, top = u(rng, 0.42, 0.55), int(rng.integers(3, 11)), z
        for i in range(n):
            dz = i * u(rng, 0.06, 0.1)
            if z + dz + 0.95 > ztop:
                break
            legs = [np.array([[x, z + dz], [x + 0.02, z + dz + 0.45]]),
                    np.array([[x + w, z + dz], [x + w - 0.02, z + dz + 0.45]])]
            back = np.array([[x + w - 0.03, z + dz + 0.45], [x + w + 0.03, z + dz + 0.95]])
            _poly_lines(c, legs + [back], 0.25 * k, 0.025)
            _poly_lines(c, [np.array([[x, z + dz + 0.45], [x + w, z + dz + 0.45]])], MU * 0.6 * 0.45 * 0.5 * k, 0.03)
            top = z + dz + 0.95
        return w + 0.05, top
    if item == "table":
        ln, th = min(room, u(rng, 0.8, 2.0)), u(rng, 0.72, 0.78)
        _poly_lines(c, [np.array([[x, z + th], [x + ln, z + th]])], MU * 0.65 * u(rng, 0.7, 1.0) * k, 0.035)
        _poly_lines(c, [np.array([[xx, z], [xx, z + th]]) for xx in (x + 0.04, x + ln - 0.04)], 0.3 * k, 0.05)
        return ln, z + th
    if item == "sofa":
        ln, hi = min(room, u(rng, 1.4, 2.3)), z + u(rng, 0.75, 0.95)
        shape(c.a, c.g, [rect_poly(x, x + ln, z + 0.12, hi)], 0.25 * k)                # foam, fabric
        shape(c.a, c.g, [rect_poly(x, x + ln, z + 0.1, hi)], MU * 0.55 * 0.8, line_m=0.04)  # frame
        zz = z + 0.35 + 0.02 * np.sin(np.linspace(0, 40, 60))
        _poly_lines(c, [np.stack([np.linspace(x + 0.05, x + ln - 0.05, 60), zz], 1)], 0.5 * k, 0.006)  # springs
        return ln, hi
    if item == "cabinet":
        ln, hi = min(room, u(rng, 0.5, 1.2)), min(ztop, z + u(rng, 0.8, 2.0))
        shape(c.a, c.g, [rect_poly(x, x + ln, z, hi)], 0.1 * k)
        for zz in np.linspace(z + 0.05, hi - 0.02, int(rng.integers(2, 6))):  # shelves, top, bottom
            _poly_lines(c, [np.array([[x, zz], [x + ln, zz]])], MU * 0.7 * 0.5 * k, 0.018)
        _poly_lines(c, [np.array([[xx, z], [xx, hi]]) for xx in (x + 0.01, x + ln - 0.01)], MU * 0.7 * 0.5 * k, 0.018)
        for zz in (z + 0.3, hi - 0.3):  # hinges
            add_rect(c.a, c.g, x + ln - 0.03, x + ln - 0.01, zz, zz + 0.06, STEEL * 0.05)
        return ln, hi
    ln, hi = min(room, u(rng, 0.8, 2.0)), min(ztop, z + u(rng, 0.3, 1.2))  # flat-pack carton
    shape(c.a, c.g, [rect_poly(x, x + ln, z, hi)], 0.5, line_m=0.01)
    for zz in np.arange(z + 0.02, hi - 0.02, u(rng, 0.02, 0.05)):
        add_rect(c.a, c.g, x + 0.02, x + ln - 0.02, zz, zz + 0.016, MU * 0.7 * 0.5 * k * 0.6)
    add_rect(c.a, c.g, x + ln * 0.4, x + ln * 0.4 + 0.12, z + 0.02, z + 0.08, STEEL * 0.02)  # fittings bag
    return ln, hi


def furniture(c: Ctx, x0: float, x1: float, ztop: float) -> float:
    """Sparse frames: stacked chairs, tables, sofas, cabinets, flat-pack cartons, piled up to `ztop`."""
    rng = c.rng
    x, end, made = x0, x0, []
    while x1 - x > 0.6:
        z, slot = c.iz0, 0.0
        while ztop - z > 0.5 and len(made) < 60:
            item = ("chairs", "table", "sofa", "cabinet", "flatpack")[int(rng.integers(5))]
            ln, top = _item(c, item, x, z, (slot or x1 - x), ztop)
            c.units.append(Unit("furniture", c.box, x, x + ln, z, top, 0.5))
            made.append(item)
            slot, z = max(slot, ln), top + u(rng, 0.01, 0.05)
            if rng.random() < 0.3:
                break
        end, x = x + slot, x + slot + u(rng, 0.03, 0.2)
    c.params.update(items=made)
    return end
