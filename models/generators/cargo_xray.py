"""Procedural 16-bit side-view transmission scans of loaded containers.

Same container structure as `empty_container` (walls, roof, floor, posts, doors), filled with
stacks of cargo on pallets. Cargo kinds: homogeneous bulk (bags of grain or granulate), boxed
goods (grid of cartons), metal goods (many dense irregular parts), bottled liquids (rows of
small round containers). Built in the attenuation domain; transmission counts get
signal-dependent (Poisson-like) noise, then quantised to 16 bits.

Anomalies (the pre-screen's targets): dense concealed objects, organic masses among metal
goods (less attenuation than the metal they replace), weapon-like dense shapes, irregular
density inside homogeneous cargo.

`generate(seed, ...)` returns `(image uint16 [H, W], mask uint8 [H, W])`, mask 1 = anomaly.
"""

from __future__ import annotations

import cv2
import numpy as np

from models.generators.anomalies import attenuating_object
from models.generators.common import (
    Canvas, Layer, Split, apply_nuisances, render, sample_nuisance, shapes_for, smooth_noise, to_uint,
)
from models.generators.empty_container import _scene as container_scene

FULL_HEIGHT = 1024
CARGO_KINDS = ("bulk", "cartons", "metal", "bottles")


def _stack(kind: str, x0: float, x1: float, y0: float, y1: float, s: float) -> Layer:
    """One pallet of cargo occupying [x0, x1) x [y0, y1)."""

    def layer(c: Canvas, r: np.random.Generator) -> None:
        h, w = c.shape
        ya, yb, xa, xb = int(y0), int(y1), int(x0), int(x1)
        if yb - ya < 4 or xb - xa < 4:
            return
        sh = (yb - ya, xb - xa)
        pallet = int(6 * s)
        c.img[yb - pallet:yb, xa:xb] += 0.35 * (np.mod(np.arange(xb - xa), 14 * s) > 4 * s)[None, :]
        body = c.img[ya:yb - pallet, xa:xb]
        bh, bw = body.shape
        if bh < 4:
            return
        if kind == "bulk":
            body += r.uniform(0.8, 2.5) + 0.15 * smooth_noise(r, (bh, bw), 8 * s)
        elif kind == "cartons":
            base = r.uniform(0.3, 1.2)
            cw, ch = r.uniform(20, 45) * s, r.uniform(15, 35) * s
            yy, xx = np.mgrid[0:bh, 0:bw].astype(np.float32)
            edges = (np.mod(xx, cw) < 1.5 * s) | (np.mod(yy, ch) < 1.5 * s)
            body += base + 0.25 * edges + 0.1 * smooth_noise(r, (bh, bw), 6 * s)
        elif kind == "metal":
            body += r.uniform(0.8, 1.8) + 0.1 * smooth_noise(r, (bh, bw), 10 * s)
            parts = np.zeros((bh, bw), np.uint8)
            for _ in range(int(bh * bw / (900 * s * s)) + 1):
                px, py = r.uniform(0, bw), r.uniform(0, bh)
                ax, ay = r.uniform(3, 14) * s, r.uniform(3, 14) * s
                cv2.ellipse(parts, (int(px), int(py)), (int(ax), int(ay)), r.uniform(0, 180), 0, 360, 1, -1)
            body += parts * r.uniform(0.8, 1.6)
        else:  # bottles: rows of round containers of liquid
            pitch = r.uniform(10, 18) * s
            yy, xx = np.mgrid[0:bh, 0:bw].astype(np.float32)
            d = np.hypot(np.mod(xx, pitch) - pitch / 2, np.mod(yy, pitch) - pitch / 2) / (pitch / 2)
            body += r.uniform(0.3, 0.7) + r.uniform(0.6, 1.2) * np.sqrt(np.clip(1 - d * d, 0, 1))

    return layer


def generate(seed: int, split: Split = "train", anomalous: bool | None = None,
             height: int = FULL_HEIGHT, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One loaded-container scan (16-bit) and its anomaly mask (width None = random 20/40 ft)."""
    rng = np.random.default_rng(seed)
    if anomalous is None:
        anomalous = bool(rng.random() < 0.5)
    if width is None:
        width = int(height * rng.uniform(2.4, 4.6))
    s = height / 256.0
    layers, (x0, y0, x1, y1) = container_scene(rng, height, width)
    # pallets side by side, each with its own cargo kind and height; some gaps
    stacks: list[tuple[str, float, float, float]] = []
    x = x0
    while x < x1 - 20 * s:
        sw = min(rng.uniform(45, 110) * s, x1 - x)
        if rng.random() < 0.88:
            kind = str(rng.choice(CARGO_KINDS))
            top = y1 - (y1 - y0) * rng.uniform(0.45, 0.97)
            stacks.append((kind, x, x + sw, top))
            layers.append(_stack(kind, x, x + sw - rng.uniform(0, 4) * s, top, y1, s))
        x += sw
    anomalies: list[Layer] = []
    if anomalous and stacks:
        for _ in range(int(rng.integers(1, 3))):
            kind_c, sx0, sx1, stop = stacks[int(rng.integers(len(stacks)))]
            size = float(rng.uniform(14, 60)) * s
            cx = rng.uniform(sx0 + size / 3, max(sx1 - size / 3, sx0 + size / 3 + 1))
            cy = rng.uniform(stop + size / 3, max(y1 - size / 3, stop + size / 3 + 1))
            shape = str(rng.choice(shapes_for(split)))
            if kind_c == "metal" and rng.random() < 0.5:  # organic mass replacing metal goods
                mu = -float(rng.uniform(0.5, 1.0))
            elif kind_c == "bulk" and rng.random() < 0.5:  # irregular density in homogeneous cargo
                mu = float(rng.choice([-1, 1]) * rng.uniform(0.3, 0.8))
            else:  # dense concealed object / weapon-like shape
                mu = float(rng.uniform(0.8, 3.0))
            anomalies.append(attenuating_object(shape, cx, cy, size, mu, float(rng.uniform(0.05, 0.4))))
    canvas = render(layers, anomalies, Canvas(np.zeros((height, width), np.float32)), rng)
    trans = float(rng.uniform(0.8, 0.95)) * np.exp(-np.clip(canvas.img, 0.0, 9.0))
    nz = sample_nuisance(rng, split)
    noise = nz.noise_sigma
    nz.noise_sigma = 0.0
    img, mask = apply_nuisances(trans.astype(np.float32), canvas.mask, nz, rng, scan_axis=1)
    img = img + (0.3 * noise * np.sqrt(img) + 2e-5) * rng.standard_normal(img.shape).astype(np.float32)
    return to_uint(np.clip(img, 1.0 / 65535, 1.0), 16), (mask > 0.5).astype(np.uint8)
