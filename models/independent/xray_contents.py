"""Contents found in a container declared empty: cartons, drums, sacks, a false front wall.

Each item is drawn into its own attenuation plane; the mask is wherever contents attenuate.
Depth along the beam matters: cartons or drums stacked several deep across the container's
width attenuate that many times more.

EVALUATION ONLY: never train, tune or select models on these images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np

from .common import smooth_field
from .xray_geom import XGeom, add_map, add_profile_x, add_profile_z, add_rect
from .xray_structure import ContainerSpec

ContentKind = Literal["cartons", "drums", "sacks", "false_wall"]
CONTENT_KINDS: tuple[ContentKind, ...] = ("cartons", "drums", "sacks", "false_wall")


@dataclass
class Item:
    """One placed group of contents and the x-span it took, for the meta record."""

    kind: ContentKind
    x0_m: float
    x1_m: float
    params: dict[str, Any] = field(default_factory=dict)


def _cartons(a: np.ndarray, g: XGeom, rng: np.random.Generator, x: float, x_end: float, z_floor: float,
             z_top: float) -> Item:
    w, h = float(rng.uniform(0.3, 0.6)), float(rng.uniform(0.2, 0.5))
    cols = max(1, min(int(rng.integers(1, 7)), int((x_end - x) / w)))
    levels = max(1, min(int(rng.integers(1, 7)), int((z_top - z_floor) / h)))
    deep = int(rng.integers(1, 6))
    density = float(rng.uniform(0.3, 1.3)) * deep * 0.45
    for i in range(cols):
        for j in range(levels - int(rng.integers(0, 2)) * (i % 2)):
            cx = x + i * w + float(rng.uniform(-0.015, 0.015))
            cz = z_floor + j * h
            dens = density * float(rng.uniform(0.85, 1.15))
            add_rect(a, g, cx + 0.004, cx + w - 0.004, cz, cz + h - 0.004, dens)
            wall = 0.12 * deep
            add_rect(a, g, cx + 0.004, cx + 0.012, cz, cz + h - 0.004, wall)
            add_rect(a, g, cx + w - 0.012, cx + w - 0.004, cz, cz + h - 0.004, wall)
            add_rect(a, g, cx + 0.004, cx + w - 0.004, cz + h - 0.012, cz + h - 0.004, wall)
            if rng.random() < 0.35:  # packed goods showing through: a few small dense blocks
                for _ in range(int(rng.integers(2, 6))):
                    px, pz = cx + float(rng.uniform(0.05, w - 0.1)), cz + float(rng.uniform(0.03, h - 0.1))
                    add_rect(a, g, px, px + 0.05, pz, pz + 0.06, dens * 0.8)
    return Item("cartons", x, x + cols * w, {"columns": cols, "levels": levels, "deep": deep,
                                              "carton_m": [round(w, 3), round(h, 3)]})


def _drums(a: np.ndarray, g: XGeom, rng: np.random.Generator, x: float, x_end: float, z_floor: float,
           z_top: float) -> Item:
    r, hgt = 0.286, 0.88
    lying = rng.random() < 0.3
    n = max(1, min(int(rng.integers(1, 7)), int((x_end - x) / ((hgt if lying else 2 * r) + 0.02))))
    tiers = 2 if (not lying and rng.random() < 0.3 and z_top - z_floor > 2 * hgt + 0.3) else 1
    deep = int(rng.integers(1, 4))
    mu_fill = float(rng.uniform(0.8, 2.6))
    fill = float(rng.uniform(0.4, 0.97))
    pallet = rng.random() < 0.4

    def chord(u: np.ndarray, centre: float) -> tuple[np.ndarray, np.ndarray]:
        d = np.clip(r * r - (u - centre) ** 2, 1e-6, None)
        shell = np.minimum(0.035 * r / np.sqrt(d), 0.9)
        return shell, 2.0 * np.sqrt(d)

    for t in range(tiers):
        base = z_floor + (0.14 if pallet else 0.0) + t * (hgt + 0.02)
        if pallet:
            add_rect(a, g, x, x + n * (2 * r + 0.02), base - 0.14, base - 0.12, 1.2 * deep * 0.5)
            add_rect(a, g, x, x + n * (2 * r + 0.02), base - 0.02, base, 1.2 * deep * 0.5)
            for k in range(3):
                bx = x + k * n * (2 * r + 0.02) / 2.0 - 0.05 * (k == 2)
                add_rect(a, g, bx, bx + 0.1, base - 0.12, base - 0.02, 0.9 * deep * 0.5)
        for i in range(n):
            if lying:
                x0 = x + i * (hgt + 0.02)
                cz = base + r
                level = base + fill * 2 * r

                def across(z: np.ndarray, cz: float = cz, level: float = level) -> np.ndarray:
                    shell, path = chord(z, cz)
                    return deep * (shell + mu_fill * path * (z < level))

                add_profile_z(a, g, x0, x0 + hgt, base, base + 2 * r, across)
                for f in (0.0, 0.33, 0.66, 0.97):
                    add_rect(a, g, x0 + f * hgt, x0 + f * hgt + 0.025, base + 0.02, base + 2 * r - 0.02, 0.35 * deep)
            else:
                cx = x + r + i * (2 * r + 0.02)
                level = base + fill * hgt
                add_profile_x(a, g, cx - r, cx + r, base, base + hgt, lambda u, cx=cx: deep * chord(u, cx)[0])
                add_profile_x(a, g, cx - r, cx + r, base, level, lambda u, cx=cx: deep * mu_fill * chord(u, cx)[1])
                for zz, thick in ((base, 0.03), (base + hgt / 3, 0.02), (base + 2 * hgt / 3, 0.02), (base + hgt - 0.03, 0.03)):
                    add_rect(a, g, cx - r, cx + r, zz, zz + thick, 0.45 * deep)
    span = n * ((hgt if lying else 2 * r) + 0.02)
    return Item("drums", x, x + span, {"count": n, "tiers": tiers, "deep": deep, "lying": lying,
                                       "fill": round(fill, 3), "pallet": pallet})


def _sacks(a: np.ndarray, g: XGeom, rng: np.random.Generator, x: float, x_end: float, z_floor: float,
           z_top: float) -> Item:
    sw, sh = float(rng.uniform(0.6, 0.9)), float(rng.uniform(0.15, 0.28))
    cols = max(1, min(int(rng.integers(1, 6)), int((x_end - x) / sw)))
    rows = max(1, min(int(rng.integers(1, 8)), int((z_top - z_floor) / sh) - 1))
    peak = float(rng.uniform(0.5, 2.0))
    for j in range(rows):
        brick = cols > 1 and j % 2 == 1
        shift = 0.5 * sw if brick else 0.0
        for i in range(cols - int(brick)):
            cx = x + shift + (i + 0.5) * sw + float(rng.uniform(-0.04, 0.04))
            cz = z_floor + (j + 0.5) * sh * 0.92
            ax, az = sw * float(rng.uniform(0.5, 0.56)), sh * float(rng.uniform(0.55, 0.65))
            phase = rng.uniform(0, 2 * np.pi, 3)
            amp = rng.uniform(0.0, 0.12, 3)
            strength = peak * float(rng.uniform(0.8, 1.2))

            def blob(X: np.ndarray, Z: np.ndarray, cx=cx, cz=cz, ax=ax, az=az, phase=phase, amp=amp,
                     strength=strength) -> np.ndarray:
                th = np.arctan2((Z - cz) / az, (X - cx) / ax)
                lump = 1.0 + sum(amp[k] * np.cos((k + 2) * th + phase[k]) for k in range(3))
                rr = (((X - cx) / ax) ** 2 + ((Z - cz) / az) ** 2) / lump**2
                return strength * np.power(np.clip(1.0 - rr, 0.0, None), 0.4)

            add_map(a, g, cx - ax * 1.4, cx + ax * 1.4, cz - az * 1.4, cz + az * 1.4, blob)
    return Item("sacks", x, x + cols * sw + 0.5 * sw, {"columns": cols, "rows": rows, "sack_m": [round(sw, 3), round(sh, 3)]})


def _false_wall(a: np.ndarray, g: XGeom, rng: np.random.Generator, spec: ContainerSpec) -> Item:
    ix0, ix1, iz0, iz1 = spec.interior()
    front_left = spec.door_end == "right"
    depth = float(rng.uniform(0.3, 1.5))
    thick = float(rng.uniform(0.02, 0.08))
    wx = ix0 + depth if front_left else ix1 - depth - thick
    add_rect(a, g, wx, wx + thick, iz0, iz1 + 0.06, float(rng.uniform(1.5, 3.5)))
    wall_end = ix0 if front_left else ix1
    lo, hi = sorted((wall_end, wx if front_left else wx + thick))
    for zz in np.linspace(iz0 + 0.3, iz1 - 0.3, int(rng.integers(2, 5))):  # braces to the real wall
        add_rect(a, g, lo, hi, float(zz), float(zz) + 0.05, float(rng.uniform(0.3, 0.8)))
    hidden = rng.random() < 0.6
    if hidden:
        _cartons(a, g, rng, lo + 0.02, hi - 0.02, iz0, iz1)
    return Item("false_wall", round(min(lo, wx), 4), round(max(hi, wx + thick), 4),
                {"depth_m": round(depth, 3), "thickness_m": round(thick, 3), "hidden_goods": hidden})


def draw_contents(spec: ContainerSpec, g: XGeom, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray, list[Item]]:
    """One to three groups of contents (or a false wall) inside `spec`: (attenuation, mask, items)."""
    a = np.zeros((g.height, g.width), np.float32)
    ix0, ix1, iz0, iz1 = spec.interior()
    n_groups = int(rng.choice([1, 1, 2, 3]))
    items: list[Item] = []
    kinds = [CONTENT_KINDS[int(rng.choice(len(CONTENT_KINDS), p=[0.34, 0.26, 0.26, 0.14]))] for _ in range(n_groups)]
    if "false_wall" in kinds:
        items.append(_false_wall(a, g, rng, spec))
        kinds = [k for k in kinds if k != "false_wall"]
        ix0, ix1 = (items[-1].x1_m + 0.05, ix1) if spec.door_end == "right" else (ix0, items[-1].x0_m - 0.05)
    slots = np.sort(rng.uniform(ix0, max(ix0, ix1 - 1.0), len(kinds))) if kinds else []
    draw = {"cartons": _cartons, "drums": _drums, "sacks": _sacks}
    limit = ix1
    for kind, x in zip(reversed(kinds), reversed(list(slots))):
        item = draw[kind](a, g, rng, float(x), limit, iz0, iz1)
        items.append(item)
        limit = max(float(x) - 0.05, ix0)
    mask = a > 0.01
    if mask.any():  # content is never perfectly uniform inside
        a *= 1.0 + 0.06 * smooth_field(rng, a.shape, 6.0)
        a = cv2.GaussianBlur(a, (0, 0), 0.6)
    return a, mask, items
