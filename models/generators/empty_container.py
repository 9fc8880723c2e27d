"""Procedural 8-bit side-view transmission X-ray images of containers declared empty.

The container drives through a portal; a vertical detector column sees one line per time step,
so columns are time (scan axis 1) and rows are detector elements. The scene is built in the
attenuation (log) domain and turned into transmission at the end. What a real scan of an empty
container shows, all of it normal (drawn by the `models.generators.empty_container_*` modules): air
above and at the ends (20 ft, 40 ft, 45 ft and high-cube boxes, placed anywhere along the scan);
the road vehicle under the box (trailer or truck chassis beams, 2-3 axles with tyres, rims,
hubs and axles end-on, mudguards, landing legs, under-ride bumper, sometimes the tractor's
rear, or only a low deck); the container's own structure (corrugated side walls at varying
pitch, roof edge-on, top and bottom rails, floor on cross members, forklift pockets, gooseneck
tunnel, corner posts and castings, door end with locking bars, cam keepers, hinges, header and
sill, front end wall, dents, lashing rings); and the detector (row and module gains, per-pulse
dose and slow drift, afterglow trail along the scan, blur, noise from low to high dose) on top
of the shared device nuisances (`common.apply_nuisances`). Anomalies are contents, and only
contents: boxes, bags, drums, flat goods, or a false wall / hidden compartment near an end,
kept inside the box's interior.

`generate(seed, ...)` returns `(image uint8 [H, W], mask uint8 [H, W])`, mask 1 = anomaly.
"""

from __future__ import annotations

import numpy as np

from models.generators import empty_container_box as box
from models.generators import empty_container_chassis as chassis
from models.generators.anomalies import attenuating_object
from models.generators.common import (
    Canvas, Layer, Split, apply_nuisances, render, sample_nuisance, shapes_for, smooth_noise, to_uint,
)
from models.generators.empty_container_detector import detector_effects
from models.generators.empty_container_geometry import Geometry, sample_geometry

FULL_HEIGHT = 512


def _scene(rng: np.random.Generator, h: int, w: int) -> tuple[list[Layer], tuple[float, float, float, float]]:
    """The earlier, bare container (box filling the frame, no vehicle): kept as it was for
    `models.generators.cargo_xray`, whose loaded containers are drawn on it."""
    s = h / 256.0
    top, bottom = h * rng.uniform(0.06, 0.12), h * rng.uniform(0.82, 0.9)
    left, right = w * rng.uniform(0.01, 0.04), w * rng.uniform(0.96, 0.99)
    door_left = rng.random() < 0.5
    wall = rng.uniform(0.35, 0.6)  # both side walls, log attenuation
    twenty_ft = (right - left) / (bottom - top) < 3.4
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    inside = ((yy >= top) & (yy <= bottom)) & ((xx >= left) & (xx <= right))

    def walls(c: Canvas, r: np.random.Generator) -> None:
        period = r.uniform(9, 13) * s
        ribs = 0.12 * wall * (np.sin(2 * np.pi * (xx - left) / period) > 0)
        c.img += inside * (wall + ribs + 0.04 * smooth_noise(r, (h, w), 30 * s))

    def roof_floor(c: Canvas, r: np.random.Generator) -> None:
        band = lambda y0, y1: ((yy >= y0) & (yy < y1)) & ((xx >= left) & (xx <= right))  # noqa: E731
        c.img += band(top, top + 4 * s) * r.uniform(1.2, 1.8)  # top rail / roof edge-on
        c.img += band(bottom - 7 * s, bottom) * r.uniform(0.6, 0.9)  # floor boards
        c.img += band(bottom, bottom + 8 * s) * r.uniform(1.4, 2.0)  # bottom rail
        pitch = r.uniform(10, 14) * s
        members = (np.mod(xx - left, pitch) < 2.5 * s) & band(bottom - 7 * s, bottom + 8 * s)
        c.img += members * r.uniform(0.6, 1.0)  # cross members under the floor
        if twenty_ft:  # forklift pockets: lighter gaps in the bottom rail
            for fx in (0.33, 0.67):
                cx = left + fx * (right - left)
                pocket = band(bottom + 1 * s, bottom + 7 * s) & (np.abs(xx - cx) < 14 * s)
                c.img -= pocket * 0.8

    def ends(c: Canvas, r: np.random.Generator) -> None:
        ya, yb = int(top), int(bottom + 8 * s)

        def column(x0: float, width: float, mu: float) -> None:
            xa, xb = int(max(x0, 0)), int(min(np.ceil(x0 + width), w))
            c.img[ya:yb, xa:xb] += mu

        for x0 in (left, right - 7 * s):  # corner posts
            column(x0, 7 * s, r.uniform(1.6, 2.2))
        dx = left + 7 * s if door_left else right - 7 * s - 12 * s
        column(dx, 12 * s, r.uniform(0.6, 1.0))  # door frame and leaves
        for k in range(4):  # locking bars
            column(dx + (k + 0.5) * 3 * s - 0.8 * s, 1.6 * s, r.uniform(0.4, 0.8))
        ex = right - 7 * s - 6 * s if door_left else left + 7 * s
        column(ex, 6 * s, r.uniform(0.3, 0.6))  # front end wall

    layers: list[Layer] = [walls, roof_floor, ends]
    return layers, (left + 20 * s, top + 6 * s, right - 20 * s, bottom - 7 * s)


def _wide_scene(rng: np.random.Generator, h: int, w: int) -> tuple[list[Layer], Geometry]:
    g = sample_geometry(rng, h, w)
    return [box.side_walls(g), box.roof_rails_floor(g), box.ends(g), chassis.vehicle(g)], g


def _false_wall(x: float, width: float, top: float, bottom: float, mu: float) -> Layer:
    def layer(c: Canvas, r: np.random.Generator) -> None:
        h, w = c.shape
        yy = np.arange(h)[:, None]
        xx = np.arange(w)[None, :]
        region = (yy >= top) & (yy <= bottom) & (xx >= x) & (xx < x + width)
        c.img += region * mu * (1 + 0.1 * smooth_noise(r, (h, w), 10))
        c.mask[region] = 1.0

    return layer


def _inside(layer: Layer, interior: np.ndarray) -> Layer:
    """The anomaly layer, with whatever it adds outside the container's interior taken away."""

    def clipped(c: Canvas, r: np.random.Generator) -> None:
        img, mask = c.img.copy(), c.mask.copy()
        layer(c, r)
        c.img[~interior] = img[~interior]
        c.mask[~interior] = mask[~interior]

    return clipped


def generate(seed: int, split: Split = "train", anomalous: bool | None = None,
             height: int = FULL_HEIGHT, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One container scan and its anomaly mask (width None = random 20/40 ft aspect)."""
    rng = np.random.default_rng(seed)
    if anomalous is None:
        anomalous = bool(rng.random() < 0.5)
    if width is None:
        width = int(height * rng.uniform(2.4, 4.6))
    layers, g = _wide_scene(rng, height, width)
    x0, x1 = g.inner_left + g.mx(0.05), g.inner_right - g.mx(0.05)
    y0, y1 = g.inner_top + g.my(0.03), g.floor_top
    inner_h = y1 - y0
    anomalies: list[Layer] = []
    if anomalous:
        if rng.random() < 0.15:  # false wall / hidden compartment close to one end
            wx = x0 + rng.uniform(0, 0.08) * (x1 - x0) if rng.random() < 0.5 else x1 - rng.uniform(0.02, 0.1) * (x1 - x0)
            anomalies.append(_false_wall(wx, g.mx(rng.uniform(0.04, 0.25)) + 1.5, y0, y1, float(rng.uniform(0.25, 0.9))))
        else:
            for _ in range(int(rng.integers(1, 4))):
                kind = str(rng.choice(shapes_for(split)))
                size = float(rng.uniform(0.09, 0.36)) * inner_h
                cx = rng.uniform(x0 + size / 2, x1 - size / 2)
                on_floor = rng.random() < 0.6
                cy = y1 - size * 0.35 if on_floor else rng.uniform(y0 + size / 2, y1 - size / 2)
                anomalies.append(attenuating_object(kind, cx, cy, size, float(rng.uniform(0.2, 1.5)),
                                                    float(rng.uniform(0.1, 0.6))))
        interior = g.interior()
        anomalies = [_inside(a, interior) for a in anomalies]
    canvas = render(layers, anomalies, Canvas(np.zeros((height, width), np.float32)), rng)
    air = float(rng.uniform(0.86, 0.97))
    trans = air * np.exp(-np.maximum(canvas.img, 0.0))
    img, mask = apply_nuisances(trans.astype(np.float32), canvas.mask, sample_nuisance(rng, split), rng, scan_axis=1)
    img = detector_effects(img, rng)  # in scan time, after the speed resampling
    return to_uint(img, 8), (mask > 0.5).astype(np.uint8)
