"""Procedural 8-bit grey line-scan images of a vehicle undercarriage (UVSS).

The camera sits in the lane floor and scans one line across the lane (image width, 4096 px at
full resolution) while the vehicle drives over it; rows are time, so the vehicle's length runs
down the image. The scene: road, floor pan, fuel tank, exhaust with muffler, two chassis rails,
cross members, axles with differential and wheels, a spare wheel, soft shadows. Anomalies are
foreign objects fixed to the undercarriage (packages, taped boxes, added plates, bundles).

`generate(seed, ...)` returns `(image uint8 [H, W], mask uint8 [H, W])`, mask 1 = anomaly.
"""

from __future__ import annotations

import cv2
import numpy as np

from models.generators.anomalies import opaque_object
from models.generators.common import (
    Canvas, Layer, Split, apply_nuisances, bbox, soft_shadow, rect_mask, render, rotated_rect_mask, sample_nuisance,
    shapes_for, smooth_noise, to_uint,
)

FULL_HEIGHT = 2048
FULL_WIDTH = 4096


def _metal(canvas: Canvas, region: np.ndarray, level: float, axis: int, rng: np.random.Generator,
           shadow_px: float) -> None:
    """Paint a cylindrical-looking metal part with a highlight across `axis` and a soft shadow."""
    box = bbox(region)
    if box is None:
        return
    soft_shadow(canvas, region, shadow_px, 0.3)
    y0, y1, x0, x1 = box
    n = (x1 - x0) if axis == 1 else (y1 - y0)
    t = np.linspace(0, 1, n, dtype=np.float32)
    shade = level * (0.75 + 0.35 * np.clip(np.sin(np.pi * t), 0, 1) ** 0.7)
    shade = shade[None, :] if axis == 1 else shade[:, None]
    canvas.paint(region, np.broadcast_to(shade, (y1 - y0, x1 - x0)).astype(np.float32))


def _scene(rng: np.random.Generator, h: int, w: int) -> list[Layer]:
    s = w / 1024.0  # pixel scale relative to a 1024-wide image
    x0, x1 = w * rng.uniform(0.07, 0.16), w * rng.uniform(0.84, 0.93)
    y0, y1 = h * rng.uniform(0.02, 0.08), h * rng.uniform(0.92, 0.98)
    vw, vh = x1 - x0, y1 - y0
    cxv = (x0 + x1) / 2
    rail_off = vw * rng.uniform(0.18, 0.26)
    rails = [cxv - rail_off, cxv + rail_off]
    rail_w = s * rng.uniform(18, 32)
    shadow = 3.0 * s
    truck = rng.random() < 0.4
    front_axle, rear_axle = y0 + vh * rng.uniform(0.12, 0.22), y0 + vh * rng.uniform(0.68, 0.85)
    layers: list[Layer] = []

    def road(c: Canvas, r: np.random.Generator) -> None:
        c.img[:] = r.uniform(0.06, 0.16) + 0.03 * smooth_noise(r, (h, w), 40 * s) + 0.015 * smooth_noise(r, (h, w), 3 * s)

    def floor(c: Canvas, r: np.random.Generator) -> None:
        region = rotated_rect_mask((h, w), cxv, (y0 + y1) / 2, vw, vh, 0, radius=30 * s)
        xx = np.arange(w, dtype=np.float32)[None, :]
        ribs = 0.03 * np.sin(2 * np.pi * xx / (r.uniform(25, 45) * s))
        val = r.uniform(0.24, 0.4) + 0.05 * smooth_noise(r, (h, w), 60 * s) + ribs
        c.paint(region, val.astype(np.float32))

    def fuel_tank(c: Canvas, r: np.random.Generator) -> None:
        side = r.choice([-1, 1])
        cx = rails[0 if side < 0 else 1] + side * rail_off * r.uniform(0.5, 0.8)
        cy = y0 + vh * r.uniform(0.4, 0.6)
        tw, th = rail_off * r.uniform(0.6, 0.9), vh * r.uniform(0.12, 0.22)
        region = rotated_rect_mask((h, w), cx, cy, tw, th, 0, radius=12 * s)
        _metal(c, region, r.uniform(0.42, 0.6), 1, r, shadow)
        for k in (-1, 1):  # straps
            c.paint(rect_mask((h, w), cx - tw / 2, cy + k * th / 4 - 4 * s, cx + tw / 2, cy + k * th / 4 + 4 * s), 0.3)

    def exhaust(c: Canvas, r: np.random.Generator) -> None:
        side = r.choice([-1, 1])
        xs = [cxv + r.uniform(-0.05, 0.05) * vw, cxv + side * rail_off * 0.5, cxv + side * rail_off * r.uniform(0.6, 1.3)]
        ys = [y0 + vh * 0.08, y0 + vh * 0.45, y1 - vh * 0.02]
        pts = np.round(np.stack([xs, ys], 1)).astype(np.int32)
        m = np.zeros((h, w), np.uint8)
        cv2.polylines(m, [pts], False, 1, max(2, int(r.uniform(9, 15) * s)), cv2.LINE_AA)
        mcy = y0 + vh * r.uniform(0.55, 0.75)
        mcx = float(np.interp(mcy, ys, xs))
        cv2.ellipse(m, (int(mcx), int(mcy)), (int(r.uniform(25, 40) * s), int(vh * r.uniform(0.06, 0.1))), 0, 0, 360, 1, -1)
        _metal(c, m.astype(bool), r.uniform(0.55, 0.78), 1, r, shadow)

    def rails_layer(c: Canvas, r: np.random.Generator) -> None:
        for rx in rails:
            _metal(c, rect_mask((h, w), rx - rail_w / 2, y0 + vh * 0.03, rx + rail_w / 2, y1 - vh * 0.02), r.uniform(0.5, 0.72), 1, r, shadow)

    def cross_members(c: Canvas, r: np.random.Generator) -> None:
        n = int(r.integers(4, 9 if truck else 6))
        for cy in np.sort(r.uniform(y0 + vh * 0.1, y1 - vh * 0.1, n)):
            t = r.uniform(10, 24) * s
            _metal(c, rect_mask((h, w), rails[0] - rail_w, cy - t / 2, rails[1] + rail_w, cy + t / 2), r.uniform(0.45, 0.68), 0, r, shadow)

    def axles(c: Canvas, r: np.random.Generator) -> None:
        for ay in (front_axle, rear_axle) if not truck else (front_axle, rear_axle, rear_axle + vh * 0.08):
            t = r.uniform(14, 22) * s
            _metal(c, rect_mask((h, w), x0 + vw * 0.02, ay - t / 2, x1 - vw * 0.02, ay + t / 2), r.uniform(0.5, 0.7), 0, r, shadow)
            for wx in (x0, x1):  # tyres: dark with tread
                tyre = rect_mask((h, w), wx - 45 * s, ay - vh * 0.06, wx + 45 * s, ay + vh * 0.06)
                yy = np.arange(h, dtype=np.float32)[:, None]
                tread = 0.05 + 0.04 * (np.sin(2 * np.pi * yy / (7 * s)) > 0)
                c.paint(tyre, np.broadcast_to(tread, (h, w)).astype(np.float32))
        diff = np.zeros((h, w), np.uint8)
        cv2.ellipse(diff, (int(cxv), int(rear_axle)), (int(r.uniform(35, 55) * s), int(r.uniform(28, 45) * s)), 0, 0, 360, 1, -1)
        _metal(c, diff.astype(bool), r.uniform(0.5, 0.7), 1, r, shadow)

    def spare_wheel(c: Canvas, r: np.random.Generator) -> None:
        if truck and r.random() < 0.5:
            return
        cy, rad = y1 - vh * r.uniform(0.08, 0.14), r.uniform(60, 90) * s
        cx = cxv + r.uniform(-0.3, 0.3) * rail_off
        tyre, rim = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
        cv2.circle(tyre, (int(cx), int(cy)), int(rad), 1, -1)
        cv2.circle(rim, (int(cx), int(cy)), int(rad * 0.6), 1, -1)
        c.paint(tyre.astype(bool), 0.07)
        _metal(c, rim.astype(bool), r.uniform(0.5, 0.7), 1, r, shadow)
        hub = np.zeros((h, w), np.uint8)
        cv2.circle(hub, (int(cx), int(cy)), int(rad * 0.2), 1, -1)
        c.paint(hub.astype(bool), 0.3)

    layers += [road, floor, fuel_tank, exhaust, rails_layer, cross_members, axles, spare_wheel]
    _scene.region = (x0, y0, x1, y1)  # type: ignore[attr-defined]
    return layers


def generate(seed: int, split: Split = "train", anomalous: bool | None = None,
             height: int = FULL_HEIGHT, width: int = FULL_WIDTH) -> tuple[np.ndarray, np.ndarray]:
    """One undercarriage image and its anomaly mask.

    anomalous=None picks at random (half the images); split chooses anomaly shapes and
    nuisance ranges (see models.generators.common).
    """
    rng = np.random.default_rng(seed)
    if anomalous is None:
        anomalous = bool(rng.random() < 0.5)
    layers = _scene(rng, height, width)
    x0, y0, x1, y1 = _scene.region  # type: ignore[attr-defined]
    s = width / 1024.0
    anomalies: list[Layer] = []
    if anomalous:
        for _ in range(int(rng.integers(1, 4))):
            kind = str(rng.choice(shapes_for(split)))
            size = float(rng.uniform(22, 110)) * s
            cx, cy = rng.uniform(x0 + size / 2, x1 - size / 2), rng.uniform(y0 + size / 2, y1 - size / 2)
            anomalies.append(opaque_object(kind, cx, cy, size, shadow_px=3.0 * s))
    canvas = render(layers, anomalies, Canvas(np.zeros((height, width), np.float32)), rng, min_depth=2)
    img, mask = apply_nuisances(canvas.img, canvas.mask, sample_nuisance(rng, split), rng, scan_axis=0)
    mask = (mask > 0.5).astype(np.uint8)
    if anomalous and mask.sum() < 20 * s * s:  # wholly occluded: no longer anomalous
        mask[:] = 0
    return to_uint(img, 8), mask
