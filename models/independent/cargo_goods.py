"""Normal cargo in a loaded container, as attenuation: what the model must learn is ordinary.

Kinds: palletised or floor-stacked `cartons` of one kind of goods, `bags` (sacks in brick
layers or jumbo bags), `drums` (steel or plastic drums, IBC totes), `tyres` (standing rows
seen as rings, or flat stacks), `timber` (sawn bundles, panel packs, logs), plus bulky goods in
`cargo_bulk`: `machinery`, `coils` (steel coils, paper rolls) and `furniture`. The beam crosses
the box's 2.35 m width, so each value is the sum over all goods along that path.
`load_cargo` plans each box (one kind or 2-4 kinds in segments; full or part loaded, front
gap, top gap, density) and returns every placed unit, which the anomaly code uses as hosts.

EVALUATION ONLY: never train, tune or select models on these images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from .cargo_bulk import Ctx, Unit, coils, door_end, furniture, machinery, pallet
from .cargo_draw import MU, STEEL, annulus, chord, paste, radial_patch, soft_box, u
from .common import smooth_field
from .cargo_vehicle import Vehicle
from .xray_geom import XGeom, add_profile_z, add_rect

__all__ = ["CARGO_KINDS", "PATTERNS", "BoxLoad", "Unit", "carton_patch", "load_cargo"]

CARGO_KINDS = ("cartons", "bags", "machinery", "coils", "drums", "tyres", "timber", "furniture")
_KIND_P = (0.25, 0.13, 0.12, 0.1, 0.11, 0.09, 0.1, 0.1)
PATTERNS = ("uniform", "bottles", "cans", "appliance", "textiles", "layers")


@dataclass
class BoxLoad:
    """How one box was loaded (metres), and where a hidden compartment could physically go."""

    box: int
    dens: float
    front_gap_m: float
    segments: list[dict[str, Any]]
    front_cavity: tuple[float, float] | None = None
    floor_free: list[tuple[float, float, float]] = field(default_factory=list)  # (x0, x1, clearance)
    extras: list[str] = field(default_factory=list)


def carton_patch(rng: np.random.Generator, g: XGeom, w_m: float, h_m: float, pattern: str,
                 level: float) -> np.ndarray:
    """One carton of goods (rows x columns), mean attenuation about `level`, walls included."""
    w, h = max(4, int(round(w_m * g.sx))), max(4, int(round(h_m * g.sy)))
    xs = (np.arange(w, dtype=np.float32) + 0.5) / g.sx
    zs = (h - np.arange(h, dtype=np.float32) - 0.5) / g.sy  # metres up from the carton's bottom
    p = np.zeros((h, w), np.float32)
    if pattern == "bottles":
        n = max(2, int(w_m / 0.085))
        r = 0.42 * w_m / n
        for i in range(n):
            cx = (i + 0.5) * w_m / n
            body, neck = chord(xs - cx, r)[None, :], chord(xs - cx, 0.35 * r)[None, :]
            top = 0.92 * h_m
            p += np.where(zs[:, None] < 0.68 * h_m, body * (1.2 if rng.random() < 0.5 else 1.0),
                          np.where(zs[:, None] < top, neck, 0.0))
    elif pattern == "cans":
        n, layers = max(2, int(w_m / 0.068)), max(1, int(h_m / 0.125))
        ch = h_m / layers
        rows = ((zs % ch) > 0.01 * ch + 0.006) & ((zs % ch) < ch - 0.006)
        prof = sum(chord(xs - (i + 0.5) * w_m / n, 0.46 * w_m / n) for i in range(n))
        p += rows[:, None] * prof[None, :]
    elif pattern == "appliance":
        p += 0.25
        cw, chh = u(rng, 0.25, 0.45) * w, u(rng, 0.2, 0.4) * h
        c0, r0 = int(u(rng, 0.15, 0.85 - cw / w) * w), int(u(rng, 0.5, 0.95 - chh / h) * h)
        p[r0 : r0 + int(chh), c0 : c0 + int(cw)] += 5.0
        b = max(2, w // 10)
        p[b:-b, b : b + 2] += 1.0
        p[b:-b, -b - 2 : -b] += 1.0
        p[b : b + 2, b:-b] += 1.0
    elif pattern == "textiles":
        p += np.clip(1.0 + 0.15 * smooth_field(rng, (h, w), max(4.0, h / 2.0)), 0.4, None)
    elif pattern == "layers":
        period = max(3, int(round(u(rng, 0.012, 0.035) * g.sy)))
        p += np.where((np.arange(h) % period) < max(1, period // 3), 0.4, 1.2)[:, None].astype(np.float32)
    else:
        p += 1.0
        if rng.random() < 0.4:  # settled goods: headspace at the top
            p[: int(h * u(rng, 0.05, 0.2))] *= 0.25
    p *= np.float32(level / max(float(p.mean()), 1e-6))
    wall = u(rng, 0.2, 0.55)
    p[:2] += wall
    p[-2:] += wall
    p[:, :2] += wall
    p[:, -2:] += wall
    return p


def _grid(c: Ctx, kind: str, patches: list[np.ndarray], x0: float, zb: float, ncol: int, nlev: int,
          pitch_px: tuple[int, int], level: float, x1: float, missing: float = 0.0, brick: bool = False,
          jitter_px: tuple[int, int] = (0, 0), block_m: float = 0.0) -> None:
    """Pastes a grid of identical goods cells from (x0, zb) upwards; one Unit per `block_m` along."""
    rng, g = c.rng, c.g
    pr, pc = pitch_px
    c_start, r_base = int(round(g.colf(x0))), int(round(g.rowf(zb)))
    block = max(1, int(round(block_m * g.sx / pc))) if block_m > 0 else ncol
    cells: dict[int, list[tuple[int, int, int, float]]] = {}
    ph = patches[0].shape[0]
    for j in range(nlev):
        shift = pc // 2 if (brick and j % 2 and ncol > 1) else 0
        for i in range(ncol - (1 if shift else 0)):
            if j == nlev - 1 and rng.random() < missing:
                continue
            r0 = r_base - j * pr - ph + int(rng.integers(-jitter_px[0], jitter_px[0] + 1))
            c0 = c_start + shift + i * pc + int(rng.integers(-jitter_px[1], jitter_px[1] + 1))
            k, s = int(rng.integers(len(patches))), u(rng, 0.93, 1.07)
            paste(c.a, r0, c0, patches[k], s)
            cells.setdefault(i // block, []).append((r0, c0, k, s))
    for b, cl in sorted(cells.items()):
        bx0 = x0 + b * block * pc / g.sx
        bx1 = min(x1, x0 + ((b + 1) * block + 0.5) * pc / g.sx)
        top = zb + (max(r_base - r for r, _, _, _ in cl)) / g.sy
        c.units.append(Unit(kind, c.box, bx0, bx1, zb, top, level, cells=cl, patches=patches))


def cartons(c: Ctx, x0: float, x1: float, ztop: float, palletised: bool | None = None) -> float:
    rng, g = c.rng, c.g
    pattern = PATTERNS[int(rng.choice(len(PATTERNS), p=[0.3, 0.14, 0.12, 0.14, 0.15, 0.15]))]
    cw, ch = u(rng, 0.25, 0.6), u(rng, 0.18, 0.5)
    level = MU * u(rng, 0.05, 0.35) * c.dens * u(rng, 1.8, 2.3)
    patches = [carton_patch(rng, g, cw, ch, pattern, level) for _ in range(2)]
    pitch = (patches[0].shape[0], patches[0].shape[1])
    c.params.update(pattern=pattern, carton_m=[round(cw, 3), round(ch, 3)], level=round(level, 3))
    if palletised if palletised is not None else rng.random() < 0.65:
        pl = float(rng.choice([1.2, 1.0, 1.14, 0.8]))
        gap, ph = u(rng, 0.02, 0.15), min(u(rng, 1.0, 1.8), ztop - c.iz0)
        tiers = 2 if (2 * ph + 0.02 <= ztop - c.iz0 and rng.random() < 0.6) else 1
        wood = u(rng, 0.3, 0.65)
        ncol, nlev = max(1, int(pl / cw)), max(1, int((ph - 0.144) / ch))
        x, end = x0, x0
        while x + pl <= x1 + 1e-6:
            for t in range(tiers):
                zb = c.iz0 + t * (0.144 + nlev * ch + 0.01)
                pallet(c, x, x + pl, zb, wood)
                _grid(c, "cartons", patches, x + (pl - ncol * cw) / 2, zb + 0.144, ncol, nlev, pitch, level, x + pl,
                      missing=0.3 if rng.random() < 0.3 else 0.0)
            end, x = x + pl, x + pl + gap
        c.params.update(pallet_m=pl, tiers=tiers)
        return end
    ncol, nlev = max(1, int((x1 - x0) / cw)), max(1, int((ztop - c.iz0) / ch))
    _grid(c, "cartons", patches, x0, c.iz0, ncol, nlev, pitch, level, x0 + ncol * cw, missing=0.25,
          jitter_px=(1, 1), block_m=1.2)
    return x0 + ncol * cw


def bags(c: Ctx, x0: float, x1: float, ztop: float) -> float:
    rng, g = c.rng, c.g
    jumbo = rng.random() < 0.22
    rho = u(rng, 0.55, 1.3) * min(1.15, max(0.7, c.dens))
    level = min(11.0, MU * rho * u(rng, 1.4, 2.1))
    if jumbo:
        bw, bh = u(rng, 0.9, 1.1), u(rng, 0.85, 1.2)
        base = soft_box(max(3, int(bh * g.sy)), max(3, int(bw * g.sx)), u(rng, 3, 5), u(rng, 2.5, 4), 0.25)
        patches = [base * np.float32(level)]
        tiers = 2 if (2 * bh < ztop - c.iz0 and rho < 0.95) else 1
        x, end = x0, x0
        while x + bw <= x1:
            _grid(c, "bags", patches, x, c.iz0, 1, tiers, (int(bh * g.sy * 0.97), patches[0].shape[1]), level, x + bw)
            end, x = x + bw, x + bw + u(rng, 0.02, 0.12)
        c.params.update(variant="jumbo", bag_m=[round(bw, 3), round(bh, 3)], level=round(level, 3))
        return end
    bw, bh = u(rng, 0.45, 0.9), u(rng, 0.1, 0.22)
    patches = [soft_box(max(3, int(bh * g.sy * 1.1)), max(3, int(bw * g.sx * 1.06)), u(rng, 4, 8), u(rng, 2.5, 4),
                        u(rng, 0.2, 0.35)) * np.float32(level) for _ in range(2)]
    pitch = (max(2, int(bh * g.sy * 0.92)), max(2, int(bw * g.sx)))
    height = min(ztop - c.iz0, u(rng, 0.8, 2.0))
    nlev = max(1, int(height / (0.92 * bh)))
    ncol = max(1, int((x1 - x0) / bw))
    _grid(c, "bags", patches, x0, c.iz0, ncol, nlev, pitch, level, x0 + ncol * bw, missing=0.3, brick=True,
          jitter_px=(max(1, pitch[0] // 14), max(1, pitch[1] // 30)), block_m=1.2)
    c.params.update(variant="sacks", bag_m=[round(bw, 3), round(bh, 3)], level=round(level, 3))
    return x0 + ncol * bw


def drums(c: Ctx, x0: float, x1: float, ztop: float) -> float:
    rng, g = c.rng, c.g
    variant = ("steel", "plastic", "ibc")[int(rng.choice(3, p=[0.55, 0.2, 0.25]))]
    rho, fill = u(rng, 0.7, 1.5), u(rng, 0.6 if variant == "ibc" else 0.75, 0.97)
    if variant == "ibc":
        w, hgt, n_across, shell, r = 1.2, 1.16, 2, 0.0, 0.0
    else:
        r, hgt = (0.2925, 0.88) if variant == "steel" else (0.29, 0.93)
        w, n_across = 2 * r + 0.01, int(rng.integers(3, 5))
        shell = STEEL * 0.0012 if variant == "steel" else MU * 0.95 * 0.005
    hp, wp = int(hgt * g.sy), int(w * g.sx)
    xs = (np.arange(wp, dtype=np.float32) + 0.5) / g.sx - w / 2
    zs = (hp - np.arange(hp, dtype=np.float32) - 0.5) / g.sy
    if variant == "ibc":
        p = np.where(zs[:, None] < fill * hgt - 0.05, MU * rho * 0.95 * n_across, 0.0).astype(np.float32)
        p = p * np.ones((1, wp), np.float32)
        for k in range(7):  # cage tubes
            cc = int(k / 6 * (wp - 3))
            p[:, cc : cc + 2] += 0.6
        for zz in np.linspace(0, hp - 3, 6).astype(int):
            p[zz : zz + 2] += 1.2
        p[-int(0.12 * g.sy) :] += 2.0  # pallet base of the tote
    else:
        liquid = np.where(zs[:, None] < fill * hgt, MU * rho * chord(xs, r - 0.002)[None, :], 0.0)
        wall = (chord(xs, r) - chord(xs, r - 0.0015))[None, :] / 0.0015 * shell * 0.0015 * 8
        p = ((liquid + wall) * n_across).astype(np.float32)
        for zz in (0.0, hgt / 3, 2 * hgt / 3, hgt - 0.015):  # chimes and rolling hoops
            r0 = int(hp - (zz + 0.015) * g.sy)
            p[max(0, r0) : r0 + 3] += (STEEL * 0.004 if variant == "steel" else 0.5) * n_across
    patches, level = [p], float(p.mean())
    on_pallet = rng.random() < 0.55 or variant == "ibc"
    per = 1 if variant == "ibc" else 2
    zb0 = c.iz0 + (0.144 if on_pallet and variant != "ibc" else 0.0)
    tiers = 2 if zb0 + 2 * (hgt + 0.16) < ztop and rng.random() < 0.55 else 1
    step = per * w + (u(rng, 0.02, 0.1) if on_pallet else 0.005)
    x, end = x0, x0
    while x + per * w <= x1:
        for t in range(tiers):
            zb = zb0 + t * (hgt + (0.16 if on_pallet else 0.02))
            if on_pallet and variant != "ibc":
                pallet(c, x, x + per * w, zb - 0.144, 0.55)
            _grid(c, "drums", patches, x, zb, per, 1, (hp, wp), level, x + per * w)
        end, x = x + per * w, x + step
    c.params.update(variant=variant, fill=round(fill, 3), rho=round(rho, 3), tiers=tiers, pallet=on_pallet)
    return end


def tyres(c: Ctx, x0: float, x1: float, ztop: float) -> float:
    rng, g = c.rng, c.g
    od, sw = u(rng, 0.6, 1.1), u(rng, 0.17, 0.32)
    rr = min(u(rng, 0.19, 0.29), od / 2 - 0.1)
    standing = rng.random() < 0.55
    if standing:
        n = max(1, int(2.3 / sw * u(rng, 0.7, 1.0)))
        R = od / 2

        def ring(rho: np.ndarray) -> np.ndarray:
            return (annulus(R - 0.03, R, (MU * 1.15 * sw + STEEL * 0.004) * n, 0.01)(rho)
                    + annulus(rr + 0.015, R - 0.03, MU * 1.15 * 0.04 * n, 0.01)(rho)
                    + annulus(rr, rr + 0.015, STEEL * 0.012 * n, 0.006)(rho))

        pat, rc, cc = radial_patch(g, R + 0.03, ring)
        pat = cv2.GaussianBlur(pat, (0, 0), 0.012 * g.sx, sigmaY=0.012 * g.sy)  # tyres across not quite aligned
        nlev = max(1, int((ztop - c.iz0 - od) / (0.87 * od)) + 1)
        pitch = (int(0.87 * od * g.sy), int(od * 1.01 * g.sx))
        ncol = max(1, int((x1 - x0) / (od * 1.01)))
        _grid(c, "tyres", [pat], x0 - 0.03, c.iz0 - 0.03, ncol, nlev, pitch, float(pat.mean()),
              x0 + ncol * od * 1.01, missing=0.3, brick=True, block_m=od * 1.01)
        c.params.update(variant="standing", od_m=round(od, 3), across=n)
        return x0 + ncol * od * 1.01
    n = max(1, int(2.3 / od))
    hp, wp = max(3, int(sw * g.sy)), int(od * g.sx)
    xs = np.abs((np.arange(wp, dtype=np.float32) + 0.5) / g.sx - od / 2)
    path = chord(xs, od / 2) - chord(xs, rr)
    bulge = np.sqrt(np.clip(1 - np.abs(np.linspace(-1, 1, hp, dtype=np.float32)) ** 4, 0, None))
    pat = (MU * 1.15 * 0.35 * n * bulge[:, None] * path[None, :]).astype(np.float32)
    nlev = max(1, int((ztop - c.iz0) / sw))
    ncol = max(1, int((x1 - x0) / (od + 0.01)))
    for i in range(ncol):
        _grid(c, "tyres", [pat], x0 + i * (od + 0.01), c.iz0, 1, nlev, (hp, wp), float(pat.mean()),
              x0 + i * (od + 0.01) + od, missing=0.5)
    c.params.update(variant="flat_stacks", od_m=round(od, 3), across=n)
    return x0 + ncol * (od + 0.01)


def timber(c: Ctx, x0: float, x1: float, ztop: float) -> float:
    rng, g, a = c.rng, c.g, c.a
    variant = ("sawn", "panels", "logs")[int(rng.choice(3, p=[0.5, 0.25, 0.25]))]
    rho = u(rng, 0.42, 0.85 if variant == "logs" else 0.7)
    bearer = u(rng, 0.07, 0.12) if variant != "logs" else 0.0
    x, end = x0, x0
    while x1 - x > 1.2:
        ln = min(x1 - x, 2.44 if variant == "panels" else u(rng, 2.4, 6.0))
        z = c.iz0 + bearer
        lo = z
        bxs = list(np.arange(x + 0.15, x + ln - 0.1, u(rng, 0.8, 1.3))) if bearer > 0 else []
        for bx in bxs:  # bearers across the width; the floor between them is free
            add_rect(a, g, bx, bx + bearer, c.iz0, c.iz0 + bearer, MU * 0.55 * 2.2)
        c.floor_free += [(p + bearer + 0.02, q - 0.02, bearer) for p, q in zip(bxs, bxs[1:]) if q - p - bearer > 0.54]
        while True:
            bh = u(rng, 0.5, 1.0) if variant != "logs" else u(rng, 0.2, 0.45)
            if z + bh > ztop:
                break
            if variant == "logs":
                n = max(1, int(2.3 / bh))
                zc = z + bh / 2
                xa, xb = x + u(rng, 0, 0.3), x + ln - u(rng, 0, 0.3)
                add_profile_z(a, g, xa, xb, z, z + bh,
                              lambda zz, zc=zc, r=bh / 2, n=n: MU * rho * 0.8 * n * chord(zz - zc, r))
                z += 0.88 * bh
                continue
            t = u(rng, 0.025, 0.06) if variant == "sawn" else u(rng, 0.009, 0.025)
            level = MU * rho * (2.1 * 0.9 if variant == "sawn" else 1.22 * rng.integers(1, 3))
            for k in range(int(bh / t)):  # board layers; sawn ends are staggered
                s0, s1 = (u(rng, 0, 0.12), u(rng, 0, 0.12)) if variant == "sawn" else (0.0, 0.0)
                zz = z + k * t
                add_rect(a, g, x + s0, x + ln - s1, zz + 0.002, zz + t - 0.002, level)
            c.units.append(Unit("timber", c.box, x, x + ln, z, z + bh, level))
            for bx in np.arange(x + 0.2, x + ln - 0.1, u(rng, 0.9, 1.4)):  # battens between packs, straps
                add_rect(a, g, bx, bx + 0.05, z + bh, z + bh + 0.05, MU * 0.55 * 2.2)
                add_rect(a, g, bx + 0.1, bx + 0.12, z, z + bh, 0.15)
            z += bh + 0.05
        if variant == "logs" and z > lo:
            c.units.append(Unit("timber", c.box, x, x + ln, lo, z, MU * rho * 0.8 * 2.0))
        end, x = x + ln, x + ln + u(rng, 0.05, 0.25)
    c.params.update(variant=variant, rho=round(rho, 3), bearer_m=round(bearer, 3))
    return end


_FILL = {"cartons": cartons, "bags": bags, "drums": drums, "tyres": tyres, "timber": timber,
         "machinery": machinery, "coils": coils, "furniture": furniture}


def load_cargo(v: Vehicle, g: XGeom, rng: np.random.Generator
               ) -> tuple[np.ndarray, list[BoxLoad], list[Unit]]:
    """Cargo of every box in `v`: (attenuation map, one BoxLoad per box, all placed units)."""
    a = np.zeros((g.height, g.width), np.float32)
    loads: list[BoxLoad] = []
    units: list[Unit] = []
    for b, box in enumerate(v.boxes):
        ix0, ix1, iz0, iz1 = box.interior()
        front_left = box.door_end == "right"
        gap = u(rng, 0.02, 0.12) if rng.random() < 0.7 else u(rng, 0.35, 1.1)
        room = ix1 - ix0 - gap
        length = room - u(rng, 0.03, 0.3) if rng.random() < 0.65 else room * u(rng, 0.45, 0.9)
        n_seg = int(rng.integers(2, 5)) if rng.random() < 0.35 else 1
        n_seg = max(1, min(n_seg, int(length / 1.5)))
        cuts = np.cumsum(np.r_[0.0, 1.5 + rng.dirichlet(np.full(n_seg, 3.0)) * (length - 1.5 * n_seg)])
        dens = float(np.exp(rng.uniform(np.log(0.55), np.log(1.5))))
        ctx = Ctx(a, g, rng, b, iz0, dens, [], [], {})
        load = BoxLoad(b, round(dens, 3), round(gap, 3), [])
        spans: list[tuple[float, float]] = []
        cursor = ix0 + gap if front_left else ix1 - gap  # goods go in from the front, each against the last
        end_plan = cursor + length if front_left else cursor - length
        for k in range(n_seg):
            kind = CARGO_KINDS[int(rng.choice(len(CARGO_KINDS), p=_KIND_P))]
            seg = cuts[k + 1] - cuts[k]
            last = k == n_seg - 1
            s0, s1 = ((cursor, end_plan if last else min(cursor + seg, end_plan)) if front_left
                      else (end_plan if last else max(cursor - seg, end_plan), cursor))
            if s1 - s0 < 0.5:
                break
            ztop = iz0 + (iz1 - iz0) * u(rng, 0.6, 0.97)
            ctx.params = {}
            n_units, n_free = len(ctx.units), len(ctx.floor_free)
            if not front_left:  # fillers work left to right; draw aside, then push against the front (right)
                ctx.a = np.zeros_like(a)
            used = _FILL[kind](ctx, s0, s1 - 0.02, ztop)
            if len(ctx.units) == n_units:  # nothing of that kind fitted: floor-stacked cartons instead
                kind, ctx.params = "cartons", {}
                used = cartons(ctx, s0, s1 - 0.02, ztop, palletised=False)
            lo, hi = s0, used
            if not front_left:
                off = max(0, int(round((s1 - 0.02 - used) * g.sx)))
                a[:, off:] += ctx.a[:, : g.width - off]
                ctx.a = a
                dx = off / g.sx
                for q in ctx.units[n_units:]:
                    q.x0, q.x1 = q.x0 + dx, q.x1 + dx
                    q.cells = [(r, c + off, i, f) for r, c, i, f in q.cells]
                ctx.floor_free[n_free:] = [(f0 + dx, f1 + dx, h) for f0, f1, h in ctx.floor_free[n_free:]]
                lo, hi = s0 + dx, used + dx
            spans.append((lo, hi))
            cursor = hi + u(rng, 0.02, 0.15) if front_left else lo - u(rng, 0.02, 0.15)
            load.segments.append({"kind": kind, "x0_m": round(float(lo), 3), "x1_m": round(float(hi), 3),
                                  "top_m": round(float(ztop), 3), **ctx.params})
        mine = ctx.units
        if mine:
            face = spans[0][0] if front_left else spans[0][1]
            cav = (ix0, face) if front_left else (face, ix1)
            if cav[1] - cav[0] >= 0.3:
                load.front_cavity = (round(float(cav[0]), 4), round(float(cav[1]), 4))
            back = spans[-1][1] if front_left else spans[-1][0]
            door = door_end(ctx, back, ix0, ix1, iz1, front_left, load.extras)
            if door[1] - door[0] >= 1.0:
                load.floor_free.append((door[0], door[1], 0.3))
        load.floor_free = [tuple(round(float(f), 4) for f in ff) for ff in load.floor_free + ctx.floor_free]
        loads.append(load)
        units += mine
    if units:  # goods are never perfectly uniform: gentle multiplicative texture, coarse and fine
        tex = smooth_field(rng, a.shape, 0.25 * g.sx)
        tex *= np.float32(u(rng, 0.03, 0.07))
        tex += np.float32(u(rng, 0.015, 0.04)) * smooth_field(rng, a.shape, max(2.0, 0.03 * g.sx))
        tex += np.float32(1.0)
        a *= tex
    return a, loads, units
