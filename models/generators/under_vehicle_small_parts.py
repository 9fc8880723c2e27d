"""Small normal parts spread over an undercarriage: lines and hoses, brackets, plugs, bolts, grime.

Layers for `models.generators.under_vehicle` scenes, drawn with `under_vehicle_drawing`. Grime
is multiplicative and never hides a foreign object from the mask; the rest occludes as painted.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from models.generators.common import Canvas, Layer
from models.generators.under_vehicle_drawing import Painter, Pt, View, darken, noise_field, paint, shadow


def grime_layer(h: int, w: int, view: View, body: tuple[float, float, float, float], wheels: list[Pt]) -> Layer:
    """Dirt: soft dark smudges over the underbody, mud spatter around the wheels, salt bloom.
    Multiplicative: it dirties foreign objects too but never hides them from the mask."""

    def layer(c: Canvas, r: np.random.Generator) -> None:
        s = w / 1024.0
        u0, v0, u1, v1 = body
        xs, ys = view.px([(u0, v0), (u1, v1)])[:, 0], view.px([(u0, v0), (u1, v1)])[:, 1]
        x0, x1 = int(max(xs.min(), 0)), int(min(xs.max(), w))
        y0, y1 = int(max(ys.min(), 0)), int(min(ys.max(), h))
        if x1 - x0 > 4 and y1 - y0 > 4:
            dirt = r.uniform(0.05, 0.35)
            n = noise_field(r, (y1 - y0, x1 - x0), float(r.uniform(15, 60)) * s)
            amt = dirt * np.clip(n - r.uniform(-0.3, 0.5), 0, 1)
            c.img[y0:y1, x0:x1] *= (1.0 - amt).astype(np.float32)
            if r.random() < 0.3:  # road salt / dust: light bloom
                n2 = noise_field(r, (y1 - y0, x1 - x0), float(r.uniform(20, 80)) * s)
                c.img[y0:y1, x0:x1] += (r.uniform(0.02, 0.08) * np.clip(n2 - 0.4, 0, 1)).astype(np.float32)
        for (u, v) in wheels:  # mud spatter behind and around the wheels
            k = int(r.integers(0, 60))
            if k == 0:
                continue
            pts = [(float(np.clip(u + r.normal(0, 250), u0 * 0.97, u1 * 0.97)), float(np.clip(v + r.normal(250, 350), v0, v1)))
                   for _ in range(k)]
            rad = float(r.uniform(4, 18))
            darken(c, view.dots(pts, rad), float(r.uniform(0.2, 0.6)))

    return layer


def wavy(r: np.random.Generator, u0: float, v0: float, u1: float, v1: float, amp: float, n: int = 12) -> list[Pt]:
    t = np.linspace(0, 1, n)
    ph, per = r.uniform(0, 6.3), r.uniform(1.5, 5)
    wob = amp * np.sin(2 * np.pi * per * t + ph) + amp * 0.4 * r.standard_normal(n)
    wob[0] = wob[-1] = 0
    du, dv = u1 - u0, v1 - v0
    nrm = np.array([-dv, du]) / max(np.hypot(du, dv), 1e-6)
    return [(u0 + du * a + nrm[0] * b, v0 + dv * a + nrm[1] * b) for a, b in zip(t, wob)]


def lines_layer(pt: Painter, routes: list[list[Pt]], hoses: list[tuple[Pt, Pt]]) -> Layer:
    """Brake and fuel lines (thin, slightly wavy, clipped every few hundred mm), the wiring
    harness, brake hoses to the wheels."""
    v = pt.v

    def layer(c: Canvas, r: np.random.Generator) -> None:
        for route in routes:
            n = int(r.integers(1, 4))
            lvl = pt.metal(r, 0.35, 0.8) if r.random() < 0.7 else float(r.uniform(0.06, 0.2))
            wid = float(r.uniform(4, 9))
            for k in range(n):
                off = (k - (n - 1) / 2) * wid * 2.2
                path = [(a + off, b) for a, b in route]
                p = v.line(path, wid)
                pt.solid(c, p, lvl, r, shade="flat", shadow_k=0.5)
            clips = []
            for (a, b), (a2, b2) in zip(route[:-1], route[1:]):
                if r.random() < 0.5:
                    clips.append(((a + a2) / 2, (b + b2) / 2))
            for (a, b) in clips:
                cp = v.rect(a - n * wid * 1.5 - 6, b - 8, a + n * wid * 1.5 + 6, b + 8)
                pt.solid(c, cp, float(r.uniform(0.1, 0.6)), r, shade="flat", shadow_k=0.4)
        for (a, b) in hoses:
            mid = ((a[0] + b[0]) / 2 + r.normal(0, 60), (a[1] + b[1]) / 2 + r.normal(0, 60))
            p = v.line([a, mid, b], float(r.uniform(9, 14)))
            pt.solid(c, p, float(r.uniform(0.05, 0.15)), r, shade="flat", shadow_k=0.6)

    return layer


def small_parts_layer(pt: Painter, area: tuple[float, float, float, float], n: int,
                      avoid: Callable[[float, float], bool] | None = None) -> Layer:
    """Brackets, rubber plugs, bolt heads, clips, jacking points, cable ties, labels."""
    v = pt.v

    def layer(c: Canvas, r: np.random.Generator) -> None:
        u0, v0, u1, v1 = area
        for _ in range(n):
            a, b = float(r.uniform(u0, u1)), float(r.uniform(v0, v1))
            kind = r.random()
            if kind < 0.3:  # rubber plug / drain hole in the floor
                rad = float(r.uniform(10, 30))
                pt.solid(c, v.ellipse(a, b, rad, rad), float(r.uniform(0.05, 0.18)), r, shade="flat", shadow_k=0.2)
            elif kind < 0.55:  # bracket: small plate, sometimes with a hole
                sw, sh = r.uniform(20, 70), r.uniform(20, 70)
                pt.solid(c, v.rect(a - sw / 2, b - sh / 2, a + sw / 2, b + sh / 2, r=5), pt.metal(r, 0.35, 0.7), r,
                         shade="flat", shadow_k=0.5)
                if r.random() < 0.6:
                    paint(c, v.ellipse(a, b, sw / 6, sh / 6), float(r.uniform(0.05, 0.2)))
            elif kind < 0.8:  # bolt heads in a row
                k = int(r.integers(2, 6))
                ang = r.uniform(0, np.pi)
                pts = [(a + i * 40 * np.cos(ang), b + i * 40 * np.sin(ang)) for i in range(k)]
                pt.solid(c, v.dots(pts, float(r.uniform(6, 12))), pt.metal(r, 0.5, 0.85), r, shade="flat", shadow_k=0.3)
            elif kind < 0.9:  # plastic clip / cable tie
                pt.solid(c, v.rect(a - 8, b - 15, a + 8, b + 15), float(r.uniform(0.05, 0.3)), r, shade="flat",
                         shadow_k=0.3)
            else:  # stamped rib / dimple in the panel
                p = v.ellipse(a, b, float(r.uniform(30, 120)), float(r.uniform(15, 60)))
                shadow(c, p, pt.look.sdx, pt.look.sdy, pt.look.sblur, 0.15)
                paint(c, p, float(r.uniform(0.25, 0.5)), alpha=0.25)

    return layer
