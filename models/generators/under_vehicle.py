"""Procedural 8-bit grey line-scan images of a vehicle undercarriage (UVSS).

The camera sits in the lane floor and scans one line across the lane (image width, 4096 px at
full resolution) while the vehicle drives over it; rows are time, so the vehicle's length runs
down the image. Scenes cover the range of what is NORMAL under real vehicles (drawn by
`models.generators.under_vehicle_bodies` and the `under_vehicle_*` part modules):

- vehicle kinds: unibody cars (front/rear frame stubs and subframes, independent suspension
  arms and coil springs or a twist beam, FWD/RWD/AWD drive lines, plastic tank with straps,
  catalyst, heat shields, muffler, undertray or bare oil pan, sometimes a spare-wheel well);
  ladder-frame SUVs and pickups (bent rails, X and straight cross members, rigid rear axle on
  leaf or coil springs, transfer case, skid plates, spare wheel hung under the rear); vans
  (full-length rails, leaf springs, dual rear tyres sometimes, ribbed cargo floor); truck
  tractors (riveted rails close together, I-beam steer axle, one or two driven axles with dual
  tyres, cylindrical fuel and air tanks outboard of the rails, battery box, side or
  transverse muffler, fifth-wheel plate). Length, width, wheelbase, track, position across the
  lane, speed (rows per metre) and travel direction vary per seed;
- many small parts: brake and fuel lines, hoses, wiring, clips, brackets, plugs, bolt rows,
  floor ribs and stampings, drive shafts with U-joints or CV boots, differentials with cover
  bolts, contact shadows, grime, mud spatter, salt bloom;
- the lane: road texture and lane furniture as streaks along the rows (the same column
  pattern in every row, before and after the vehicle too), ambient light dimmed under the
  vehicle; the illuminator's uneven fill across the lane and vignetting; per-row gain banding
  with rare bright or dark lines; per-column gain; motion blur along the rows; read and shot
  noise.

All of this is normal. Anomalies (the mask) are only foreign objects fixed to the
undercarriage (packages, taped boxes, added plates, bundles: `models.generators.anomalies`),
inserted at random depths of the scene so later parts may occlude them. The device nuisances
of `models.generators.common` (their ranges per split) are applied on top.

`generate(seed, ...)` returns `(image uint8 [H, W], mask uint8 [H, W])`, mask 1 = anomaly.
"""

from __future__ import annotations

import numpy as np

from models.generators.anomalies import opaque_object
from models.generators.common import Canvas, Layer, Split, apply_nuisances, render, sample_nuisance, shapes_for, to_uint
from models.generators.under_vehicle_bodies import BUILDERS
from models.generators.under_vehicle_drawing import Look, Painter, View
from models.generators.under_vehicle_lane_camera import fill_light, lane_layer, sensor_effects

FULL_HEIGHT = 2048
FULL_WIDTH = 4096

KINDS = ("car", "suv", "pickup", "van", "truck")
_KIND_P = (0.4, 0.13, 0.12, 0.15, 0.2)


def _dims(kind: str, r: np.random.Generator) -> dict[str, float]:
    """Length, width, wheelbase, front overhang, track, tyre width and diameter (mm)."""
    if kind == "car":
        L, W = r.uniform(3700, 5000), r.uniform(1640, 1900)
        wb, tw, td = L * r.uniform(0.57, 0.62), r.uniform(175, 245), r.uniform(580, 680)
    elif kind in ("suv", "pickup"):
        L, W = r.uniform(4400, 5500), r.uniform(1800, 2000)
        wb, tw, td = L * r.uniform(0.55, 0.62), r.uniform(215, 285), r.uniform(700, 800)
    elif kind == "van":
        L, W = r.uniform(4800, 6800), r.uniform(1900, 2100)
        wb, tw, td = L * r.uniform(0.55, 0.64), r.uniform(195, 235), r.uniform(650, 740)
    else:
        L, W = r.uniform(5800, 7600), r.uniform(2450, 2550)
        wb, tw, td = r.uniform(3300, 4300), r.uniform(295, 385), r.uniform(950, 1080)
    fo = (L - wb) * (r.uniform(0.45, 0.6) if kind != "truck" else r.uniform(0.35, 0.5))
    return dict(L=L, W=W, wb=wb, fo=fo, track=W - tw - r.uniform(40, 140), tw=tw, td=td)


def _scene(rng: np.random.Generator, h: int, w: int) -> tuple[list[Layer], tuple[float, float, float, float]]:
    s = w / 1024.0
    kind = str(rng.choice(KINDS, p=_KIND_P))
    d = _dims(kind, rng)
    L, W = d["L"], d["W"]
    if kind == "truck":
        d["tandem"] = float(rng.uniform(1300, 1400)) if rng.random() < 0.55 else 0.0
        if d["tandem"]:
            d["wb"] = min(d["wb"], L - d["fo"] - d["tandem"] - 700)
    lane = float(rng.uniform(2500, 3900)) if kind != "truck" else float(rng.uniform(2900, 4200))
    kx = w / lane
    frac = float(rng.uniform(0.6, 0.96))
    ky = frac * h / L
    row0 = float(rng.uniform(0.01, 0.99 - frac)) * h
    slack = max(lane - W - 100, 0) / 2
    cx = w / 2 + float(rng.uniform(-0.7, 0.7)) * slack * kx
    view = View(h, w, cx, row0, kx, ky, L, reverse=bool(rng.random() < 0.25))
    ang = float(rng.uniform(0, 2 * np.pi))
    mag = float(rng.uniform(1.0, 4.5)) * s
    look = Look(mag * np.cos(ang), mag * np.sin(ang), float(rng.uniform(1.0, 4.0)) * s,
                float(rng.uniform(0.65, 1.15)), 1.0)
    pt = Painter(view, look)
    x0, x1 = float(view.x(-W / 2)), float(view.x(W / 2))
    y0, y1 = sorted((float(view.y(0)), float(view.y(L))))
    layers: list[Layer] = [lane_layer(h, w, rng, (y0, y1), (x0, x1))]
    layers += BUILDERS[kind](pt, d, kind, rng)
    return layers, (max(x0, 0.0), max(y0, 0.0), min(x1, float(w)), min(y1, float(h)))


def generate(seed: int, split: Split = "train", anomalous: bool | None = None,
             height: int = FULL_HEIGHT, width: int = FULL_WIDTH) -> tuple[np.ndarray, np.ndarray]:
    """One undercarriage image and its anomaly mask.

    anomalous=None picks at random (half the images); split chooses anomaly shapes and
    nuisance ranges (see models.generators.common).
    """
    rng = np.random.default_rng(seed)
    if anomalous is None:
        anomalous = bool(rng.random() < 0.5)
    layers, (x0, y0, x1, y1) = _scene(rng, height, width)
    s = width / 1024.0
    anomalies: list[Layer] = []
    if anomalous:
        for _ in range(int(rng.integers(1, 4))):
            kind = str(rng.choice(shapes_for(split)))
            size = float(rng.uniform(22, 110)) * s
            size = min(size, 0.9 * (x1 - x0), 0.9 * (y1 - y0))
            cx, cy = rng.uniform(x0 + size / 2, x1 - size / 2), rng.uniform(y0 + size / 2, y1 - size / 2)
            anomalies.append(opaque_object(kind, cx, cy, size, shadow_px=3.0 * s))
    canvas = render(layers, anomalies, Canvas(np.zeros((height, width), np.float32)), rng, min_depth=2)
    img = fill_light(canvas.img, rng)
    img, mask = apply_nuisances(img, canvas.mask, sample_nuisance(rng, split), rng, scan_axis=0)
    img = sensor_effects(img, rng)
    mask = (mask > 0.5).astype(np.uint8)
    if anomalous and mask.sum() < 20 * s * s:  # wholly occluded: no longer anomalous
        mask[:] = 0
    return to_uint(img, 8), mask
