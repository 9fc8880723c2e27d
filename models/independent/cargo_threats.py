"""What customs looks for in a loaded container, drawn as extra attenuation inside the cargo.

Kinds (one to three per image, each inside a placed cargo unit or a box's free space):
`dense_block` (a compact dense package inside homogeneous goods), `organic_mass` (a smooth,
structureless organic mass among metal goods or machinery), `weapon` (rifle, sub-machine gun
or pistol silhouettes, any orientation, one or a few stacked), `swapped_goods` (some or all
cartons, bags, drums or tyres of one unit carry denser, lighter or different goods), and
`hidden_compartment` (a false wall in front of the cargo, or a double floor, mostly with
packages in the cavity). Values add to the clean scene's attenuation (transmissions
multiply); a swap adds the difference between the new goods and the old. The footprint
(coverage in [0, 1]) is where the object is; the mask is the footprint >= 0.5.

EVALUATION ONLY: never train, tune or select models on these images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .cargo_bulk import Unit
from .cargo_draw import MU, STEEL, box_px, paste, rect_poly, rotated, shape, soft_box, u
from .cargo_goods import PATTERNS, BoxLoad, carton_patch
from .cargo_vehicle import Vehicle
from .common import smooth_field
from .xray_geom import XGeom, add_rect

THREAT_KINDS = ("dense_block", "organic_mass", "weapon", "swapped_goods", "hidden_compartment")
_P = (0.22, 0.2, 0.2, 0.2, 0.18)
_OPAQUE = 6.5  # goods attenuating more than this (transmission < 0.15 %) host objects only as a last resort
_HOSTS = {"dense_block": ("cartons", "bags", "timber", "furniture", "tyres"),
          "organic_mass": ("machinery", "coils", "drums", "tyres", "furniture"),
          "weapon": ("cartons", "machinery", "furniture", "bags", "timber", "tyres")}


@dataclass
class Threat:
    """One concealed object as drawn (metres; the box index into `Vehicle.boxes`)."""

    kind: str
    variant: str
    host: str
    box: int
    x0_m: float
    x1_m: float
    z0_m: float
    z1_m: float
    peak_attenuation: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)


class _Layer:
    """The anomaly attenuation and its footprint, with the boxes already taken."""

    def __init__(self, g: XGeom) -> None:
        self.g = g
        self.d = np.zeros((g.height, g.width), np.float32)
        self.foot = np.zeros((g.height, g.width), np.float32)
        self.taken: list[tuple[int, float, float, float, float]] = []

    def free(self, box: int, x0: float, x1: float, z0: float, z1: float) -> bool:
        return not any(b == box and x0 < t1 + 0.05 and t0 < x1 + 0.05 and z0 < s1 + 0.05 and s0 < z1 + 0.05
                       for b, t0, t1, s0, s1 in self.taken)

    def cover(self, r0: int, c0: int, cov: np.ndarray) -> None:
        h, w = cov.shape
        view = self.foot[r0 : r0 + h, c0 : c0 + w]
        np.maximum(view, cov[: view.shape[0], : view.shape[1]], out=view)

    def rect(self, x0: float, x1: float, z0: float, z1: float, value: float) -> None:
        """A rectangle of material, in the footprint even when thinner than a pixel."""
        add_rect(self.d, self.g, x0, x1, z0, z1, value)
        r0, r1, c0, c1 = box_px(self.g, x0, x1, z0, z1)
        self.foot[r0:r1, c0:c1] = 1.0

    def poly(self, polys: list[np.ndarray], value: float, line_m: float = 0.0) -> None:
        out = shape(self.d, self.g, polys, value, line_m=line_m, closed=line_m == 0.0)
        if out is not None:
            self.cover(*out)

    def pillow(self, x0: float, x1: float, z0: float, z1: float, value: float, rng: np.random.Generator,
               lumpy: float = 0.0) -> None:
        """A soft-edged package: smooth, no internal structure."""
        g = self.g
        h, w = max(3, int((z1 - z0) * g.sy)), max(3, int((x1 - x0) * g.sx))
        p = soft_box(h, w, u(rng, 2.5, 5.0), u(rng, 2.5, 5.0), u(rng, 0.2, 0.4))
        if lumpy:
            p *= np.clip(1.0 + lumpy * smooth_field(rng, (h, w), max(4.0, min(h, w) / 2.0)), 0.5, None)
        r0, c0 = int(round(g.rowf(z1))), int(round(g.colf(x0)))
        paste(self.d, r0, c0, p, value)
        self.cover(r0, c0, np.clip((p - 0.08) * 4.0, 0.0, 1.0).astype(np.float32))


def _spot(rng: np.random.Generator, host: Unit, w: float, h: float, layer: _Layer) -> tuple[float, float] | None:
    if host.x1 - host.x0 < w + 0.1 or host.z1 - host.z0 < h + 0.06:
        return None
    for _ in range(6):
        x, z = u(rng, host.x0 + 0.05, host.x1 - 0.05 - w), u(rng, host.z0 + 0.03, host.z1 - 0.03 - h)
        if layer.free(host.box, x, x + w, z, z + h):
            return x, z
    return None


def _dense_block(rng: np.random.Generator, host: Unit, layer: _Layer) -> Threat | None:
    w, h = u(rng, 0.15, 0.5), u(rng, 0.1, 0.4)
    spot = _spot(rng, host, w, h, layer)
    if spot is None:
        return None
    x, z = spot
    peak = float(np.exp(rng.uniform(np.log(0.25), np.log(9.0))))
    material, mu = [("steel", STEEL), ("lead", 11.3 * MU * 1.25), ("brass", 8.5 * MU)][int(rng.integers(3))]
    n = int(rng.integers(1, 4))
    angle = u(rng, -0.15, 0.15)
    for k in range(n):  # 1-3 wrapped bricks stacked
        bz0, bz1 = z + k * h / n, z + (k + 1) * h / n - 0.008
        local = rect_poly(-w / 2, w / 2, bz0 - z - h / 2, bz1 - z - h / 2)
        layer.poly([rotated(local, angle, x + w / 2, z + h / 2)], peak)
    return Threat("dense_block", material, host.kind, host.box, x, x + w, z, z + h, peak,
                  {"thickness_m": round(peak / mu, 4), "bricks": n})


def _organic(rng: np.random.Generator, host: Unit, layer: _Layer) -> Threat | None:
    w, h = u(rng, 0.3, 1.0), u(rng, 0.2, 0.7)
    w, h = min(w, host.x1 - host.x0 - 0.12), min(h, host.z1 - host.z0 - 0.08)
    if w < 0.2 or h < 0.12:
        return None
    spot = _spot(rng, host, w, h, layer)
    if spot is None:
        return None
    x, z = spot
    rho, depth = u(rng, 0.5, 1.2), float(np.exp(rng.uniform(np.log(0.1), np.log(1.6))))
    peak = MU * rho * depth
    variant = "mass" if rng.random() < 0.55 else "bricks"
    if variant == "mass":
        layer.pillow(x, x + w, z, z + h, peak, rng, lumpy=0.08)
    else:
        nx, nz = max(1, int(w / 0.3)), max(1, int(h / 0.12))
        for i in range(nx):
            for j in range(nz):
                layer.pillow(x + i * w / nx, x + (i + 1) * w / nx, z + j * h / nz, z + (j + 1) * h / nz, peak, rng)
    return Threat("organic_mass", variant, host.kind, host.box, x, x + w, z, z + h, round(peak, 4),
                  {"density": round(rho, 3), "depth_m": round(depth, 3)})


def _weapon_parts(kind: str, length: float) -> list[tuple[np.ndarray, float]]:
    """Silhouette parts (local metres, muzzle along +x) with their attenuation, one weapon deep."""
    if kind == "pistol":
        s = length / 0.2
        parts = [(rect_poly(0.0, 0.2, 0.085, 0.12), STEEL * 0.024),                       # slide
                 (rect_poly(0.02, 0.17, 0.068, 0.088), STEEL * 0.015),                    # frame
                 (np.array([[0.01, 0.072], [0.055, 0.072], [0.037, -0.04], [-0.012, -0.03]]),
                  MU * 1.2 * 0.03 + STEEL * 0.01),                                        # grip, magazine
                 (np.array([[0.06, 0.068], [0.063, 0.04], [0.1, 0.04], [0.108, 0.068]]), STEEL * 0.008)]
    else:
        s = length / 1.0
        stock = (np.array([[0.0, -0.07], [0.25, -0.02], [0.25, 0.035], [0.0, 0.05]]), MU * 0.9 * 0.045)
        if kind == "smg":
            stock = (np.array([[0.05, -0.03], [0.25, -0.01], [0.25, 0.01], [0.05, 0.0]]), STEEL * 0.01)
        parts = [stock, (rect_poly(0.25, 0.52, -0.02, 0.04), STEEL * 0.028),
                 (rect_poly(0.52, 1.0, 0.0, 0.022), STEEL * 0.014),                        # barrel
                 (rect_poly(0.52, 0.76, -0.016, 0.036), MU * 1.0 * 0.05),                 # handguard
                 (np.array([[0.36, -0.02], [0.44, -0.02], [0.48, -0.22], [0.4, -0.235]]), STEEL * 0.02),
                 (np.array([[0.27, -0.02], [0.32, -0.02], [0.3, -0.13], [0.25, -0.12]]), MU * 1.0 * 0.04),
                 (rect_poly(0.93, 0.96, 0.022, 0.05), STEEL * 0.01)]
    return [(p * s, v) for p, v in parts]


def _weapon(rng: np.random.Generator, host: Unit, layer: _Layer) -> Threat | None:
    kind = ("rifle", "smg", "pistol")[int(rng.choice(3, p=[0.45, 0.2, 0.35]))]
    length = {"rifle": u(rng, 0.85, 1.1), "smg": u(rng, 0.5, 0.65), "pistol": u(rng, 0.17, 0.23)}[kind]
    deep, count = int(rng.integers(1, 4)), (int(rng.integers(1, 4)) if kind != "pistol" else int(rng.integers(1, 3)))
    parts = _weapon_parts(kind, length)
    pts = np.concatenate([p for p, _ in parts])
    centre = (pts.min(0) + pts.max(0)) / 2
    for _ in range(6):
        angle = u(rng, 0, 2 * np.pi)
        rot = rotated(pts - centre, angle, 0.0, 0.0)
        w, h = float(np.ptp(rot[:, 0])) + 0.06 * (count - 1), float(np.ptp(rot[:, 1])) + 0.06 * (count - 1)
        spot = _spot(rng, host, w, h, layer)
        if spot is None:
            continue
        x, z = spot
        for k in range(count):  # a bundle: copies side by side (across the view) and `deep` along the beam
            off = 0.06 * k - 0.03 * (count - 1)
            for p, v in parts:
                layer.poly([rotated(p - centre, angle, x + w / 2 + off, z + h / 2 + off)], v * deep)
        peak = STEEL * 0.028 * deep * (1 + (count > 1))
        return Threat("weapon", kind, host.kind, host.box, x, x + w, z, z + h, round(peak, 4),
                      {"length_m": round(length, 3), "angle_deg": round(float(np.degrees(angle)), 1),
                       "deep": deep, "count": count})
    return None


def _swap(rng: np.random.Generator, host: Unit, layer: _Layer) -> Threat | None:
    g = layer.g
    ph, pw = host.patches[0].shape
    rows, cols = sorted({c[0] for c in host.cells}), sorted({c[1] for c in host.cells})
    if rng.random() < 0.45:
        chosen = list(host.cells)
    else:
        r_c, c_c = rows[int(rng.integers(len(rows)))], cols[int(rng.integers(len(cols)))]
        kr, kc = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        chosen = [c for c in host.cells if 0 <= (c[0] - r_c) / ph < kr and 0 <= (c[1] - c_c) / pw < kc]
    if not chosen:
        return None
    r0, r1 = min(c[0] for c in chosen), max(c[0] for c in chosen) + ph
    c0, c1 = min(c[1] for c in chosen), max(c[1] for c in chosen) + pw
    x0, x1, z1, z0 = c0 / g.sx, c1 / g.sx, (g.height - r0) / g.sy, (g.height - r1) / g.sy
    if not layer.free(host.box, x0, x1, z0, z1):
        return None
    mode = ("denser", "lighter", "pattern")[int(rng.choice(3, p=[0.6, 0.15, 0.25]))]
    if mode == "pattern" and host.kind != "cartons":
        mode = "denser"
    factor = u(rng, 1.25, 3.0) if mode == "denser" else u(rng, 0.35, 0.7) if mode == "lighter" else u(rng, 0.9, 2.0)
    if mode == "pattern":
        pattern = PATTERNS[int(rng.integers(len(PATTERNS)))]
        new = carton_patch(rng, g, pw / g.sx, ph / g.sy, pattern, host.level * factor)[:ph, :pw]
    for rr, cc, k, s in chosen:
        old = host.patches[k]
        repl = new if mode == "pattern" else old * np.float32(factor)
        if repl.shape != old.shape:
            repl = np.pad(repl, ((0, ph - repl.shape[0]), (0, pw - repl.shape[1])), mode="edge")
        paste(layer.d, rr, cc, (repl - old) * np.float32(s))
        ra, rb, ca, cb = max(0, rr), min(g.height, rr + ph), max(0, cc), min(g.width, cc + pw)
        layer.foot[ra:rb, ca:cb] = 1.0
    peak = float(np.abs(layer.d[max(0, r0) : r1, max(0, c0) : c1]).max())
    return Threat("swapped_goods", mode, host.kind, host.box, round(x0, 4), round(x1, 4), round(z0, 4), round(z1, 4),
                  round(peak, 4), {"cells": len(chosen), "of": len(host.cells), "factor": round(factor, 3),
                                   **({"pattern": pattern} if mode == "pattern" else {})})


def _cavity_goods(rng: np.random.Generator, layer: _Layer, x0: float, x1: float, z0: float, z1: float) -> float:
    """Packages hidden in a compartment: organic or dense, stacked from its floor."""
    organic = rng.random() < 0.7
    value = MU * u(rng, 0.5, 1.1) * u(rng, 0.4, 2.2) if organic else STEEL * u(rng, 0.01, 0.1)
    bw, bh = min(x1 - x0, u(rng, 0.2, 0.45)), min(z1 - z0, u(rng, 0.06, 0.3))
    for i in range(max(1, int((x1 - x0) / bw))):
        for j in range(max(1, int((z1 - z0) / bh))):
            layer.pillow(x0 + i * bw, x0 + (i + 1) * bw - 0.01, z0 + j * bh, z0 + (j + 1) * bh - 0.01, value, rng)
    return value


def _compartment(rng: np.random.Generator, v: Vehicle, loads: list[BoxLoad], layer: _Layer) -> Threat | None:
    options: list[tuple[str, int, tuple[float, ...]]] = [("false_wall", ld.box, ld.front_cavity) for ld in loads
                                                         if ld.front_cavity is not None]
    options += [("double_floor", ld.box, f) for ld in loads for f in ld.floor_free
                if f[2] >= 0.06 and f[1] - f[0] >= 0.5]
    if not options:
        return None
    kind, b, reg = options[int(rng.integers(len(options)))]
    box = v.boxes[b]
    _, _, iz0, iz1 = box.interior()
    steel = rng.random() < 0.6
    t = u(rng, 0.002, 0.006) if steel else u(rng, 0.012, 0.025)
    sheet = (STEEL if steel else MU * 0.6) * 2.35
    if kind == "false_wall":
        front_left = box.door_end == "right"
        face = reg[1] if front_left else reg[0]
        wx = face - 0.02 - t - u(rng, 0.0, 0.08) if front_left else face + 0.02 + u(rng, 0.0, 0.08)
        inner = (reg[0] + 0.03, wx - 0.02) if front_left else (wx + t + 0.02, reg[1] - 0.03)
        if not layer.free(b, min(inner[0], wx), max(inner[1], wx + t), iz0, iz1):
            return None
        layer.rect(wx, wx + t, iz0, iz1, sheet)
        for zz in (iz0, iz1 - 0.04):  # frame angles along the width
            fx = wx - 0.04 if front_left else wx + t
            layer.rect(fx, fx + 0.04, zz, zz + 0.04, sheet * 0.25)
        x0, x1, z0, z1 = min(inner[0], wx), max(inner[1], wx + t), iz0, iz1
        goods = 0.0
        if rng.random() < 0.8 and inner[1] - inner[0] > 0.1:
            goods = _cavity_goods(rng, layer, inner[0], inner[1], iz0, iz0 + (iz1 - iz0) * u(rng, 0.2, 0.9))
        params = {"depth_m": round(abs(inner[1] - inner[0]), 3), "sheet_m": round(t, 4)}
    else:
        ln = min(reg[1] - reg[0], u(rng, 0.5, 3.0))
        x0 = u(rng, reg[0], max(reg[0], reg[1] - ln))
        x1 = x0 + ln
        h = min(reg[2] - 0.015, u(rng, 0.05, 0.18))
        z0, z1 = iz0, iz0 + h + t
        if h < 0.04 or not layer.free(b, x0, x1, z0, z1):
            return None
        layer.rect(x0, x1, iz0 + h, iz0 + h + t, sheet)
        for xe in (x0, x1 - t):
            layer.rect(xe, xe + t, iz0, iz0 + h, sheet)
        goods = 0.0
        if rng.random() < 0.8:
            goods = _cavity_goods(rng, layer, x0 + t + 0.01, x0 + t + 0.01 + (ln - 2 * t - 0.02) * u(rng, 0.3, 1.0),
                                  iz0, iz0 + h - 0.005)
        params = {"height_m": round(h, 3), "sheet_m": round(t, 4)}
    params.update(material="steel" if steel else "plywood", goods_attenuation=round(goods, 3))
    return Threat("hidden_compartment", kind, "box", b, round(x0, 4), round(x1, 4), round(z0, 4), round(z1, 4),
                  params=params)


def draw_threats(v: Vehicle, g: XGeom, units: list[Unit], loads: list[BoxLoad], rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray, list[Threat]]:
    """1-3 concealed objects: (added attenuation, footprint coverage, what was drawn)."""
    layer = _Layer(g)
    want = int(rng.choice([1, 1, 1, 2, 2, 3]))
    threats: list[Threat] = []
    for _ in range(12 * want):
        if len(threats) >= want:
            break
        kind = THREAT_KINDS[int(rng.choice(len(THREAT_KINDS), p=_P))]
        if kind == "hidden_compartment":
            t = _compartment(rng, v, loads, layer)
        elif kind == "swapped_goods":
            hosts = [q for q in units if len(q.cells) >= 2 and q.level < _OPAQUE]
            t = _swap(rng, hosts[int(rng.integers(len(hosts)))], layer) if hosts else None
        else:
            seen = [q for q in units if q.level < _OPAQUE] or units  # mostly where the beam still gets through
            hosts = [q for q in seen if q.kind in _HOSTS[kind]] or seen
            host = hosts[int(rng.integers(len(hosts)))]
            t = {"dense_block": _dense_block, "organic_mass": _organic, "weapon": _weapon}[kind](rng, host, layer)
        if t is not None:
            r0, r1, c0, c1 = box_px(g, t.x0_m, t.x1_m, t.z0_m, t.z1_m)
            t.peak_attenuation = round(float(np.abs(layer.d[r0:r1, c0:c1]).max()) if r1 > r0 and c1 > c0 else 0.0, 4)
            threats.append(t)
            layer.taken.append((t.box, t.x0_m, t.x1_m, t.z0_m, t.z1_m))
    return layer.d, layer.foot, threats
