"""Draws a `VehicleSpec`'s underside into a canvas at a given pixel scale.

Order matters: floor pan first (farthest from the camera), then rails and cross members,
then what hangs lowest (tanks, exhaust, axles, wheels), then surface texture and dirt.
Everything random here comes from the spec's texture seed, so the same spec at the same
scale gives the same pixels every time.

EVALUATION ONLY: never train, tune or select models on these images.
"""

from __future__ import annotations

import cv2
import numpy as np

from .common import fast_normal, smooth_field
from .uvss_paint import (Canvas, box, disc, dots, line, new_canvas, pipe, polygon, ring,
                         rounded_rect, tube_across, tube_along)
from .uvss_vehicle import Axle, Box, VehicleSpec


def draw_vehicle(spec: VehicleSpec, sx: float, sy: float) -> Canvas:
    """The underside of `spec` with `sx` pixels per metre across and `sy` rows per metre along."""
    rng = np.random.default_rng(spec.texture_seed)
    cv = new_canvas(spec.width_m + 0.1, spec.length_m, sx, sy)
    _floor(cv, spec, rng)
    _clutter(cv, spec, rng)
    floor = cv.albedo.copy()
    floor_alpha = cv.alpha > 0.5
    _rails(cv, spec)
    _powertrain(cv, spec)
    _tanks(cv, spec)
    _exhaust(cv, spec)
    for axle in spec.axles:
        _axle(cv, spec, axle)
    if spec.spare_wheel is not None:
        _spare(cv, spec.spare_wheel, spec.kind != "car")
    _lines(cv, spec, rng)
    _contact_shadows(cv, floor, floor_alpha)
    _texture(cv, spec, rng)
    return cv


def _clutter(cv: Canvas, spec: VehicleSpec, rng: np.random.Generator) -> None:
    """Brackets, hoses, plugs and clips on the floor pan: small normal things a model must accept."""
    half, fl = spec.width_m / 2 - 0.12, spec.floor_len_m
    for _ in range(int(rng.integers(6, 15))):
        x, y = float(rng.uniform(-half, half)), float(rng.uniform(0.15, fl - 0.15))
        pick = rng.random()
        tone = spec.floor_tone * float(rng.uniform(0.6, 1.8))
        if pick < 0.35:
            box(cv, x, y, float(rng.uniform(0.03, 0.1)), float(rng.uniform(0.03, 0.1)), tone, edge=0.3)
        elif pick < 0.65:
            n = int(rng.integers(3, 6))
            pts = np.stack([x + np.cumsum(rng.uniform(-0.12, 0.12, n)), y + np.cumsum(rng.uniform(-0.2, 0.2, n))], axis=1)
            pipe(cv, pts, float(rng.uniform(0.012, 0.03)), min(0.9, tone))
        elif pick < 0.85:
            disc(cv, x, y, float(rng.uniform(0.012, 0.03)), spec.floor_tone * 0.45)
        else:
            ys = y + np.arange(int(rng.integers(3, 7))) * float(rng.uniform(0.1, 0.2))
            dots(cv, np.full(ys.shape, x), ys, 0.008, min(1.0, tone * 1.3))


def _contact_shadows(cv: Canvas, floor: np.ndarray, floor_alpha: np.ndarray) -> None:
    """Parts hanging below the floor shade it a little around their edges."""
    parts = (np.abs(cv.albedo - floor) > 1e-6).astype(np.float32)
    h, w = parts.shape
    small = cv2.resize(parts, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    sigma = max(1.0, 0.02 * cv.sx / 4)
    small = cv2.GaussianBlur(small, (0, 0), sigma)
    shadow = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    open_floor = floor_alpha & (parts < 0.5)
    cv.albedo[open_floor] *= 1.0 - 0.45 * np.minimum(shadow[open_floor] * 1.6, 1.0)


def _floor(cv: Canvas, spec: VehicleSpec, rng: np.random.Generator) -> None:
    w, fl = spec.width_m, spec.floor_len_m
    radius = 0.3 if spec.kind == "car" else 0.12
    polygon(cv, rounded_rect(w, fl, radius, 0.0, fl / 2), spec.floor_tone)
    # stamped stiffening ribs run along the floor; they catch the light as thin lines
    n_ribs = int((w * 0.8) / spec.rib_pitch_m)
    for i in range(n_ribs):
        x = -w * 0.4 + (i + 0.5) * spec.rib_pitch_m
        if abs(x) < 0.18 and spec.kind != "truck_tractor":
            continue
        y0 = fl * float(rng.uniform(0.12, 0.3))
        y1 = fl * float(rng.uniform(0.7, 0.9))
        box(cv, x, (y0 + y1) / 2, 0.018, y1 - y0, spec.floor_tone * 1.25)
    if spec.kind != "truck_tractor":
        # transmission tunnel: higher up, so darker; sills at both edges, lower, so brighter
        box(cv, 0.0, fl * 0.5, 0.3, fl * 0.55, spec.floor_tone * 0.75)
        for side in (-1.0, 1.0):
            box(cv, side * (w / 2 - 0.04), fl / 2, 0.06, fl * 0.8, spec.floor_tone * 1.45, edge=0.2)
        for y in (0.06, fl - 0.06):  # bumper lower edges
            box(cv, 0.0, y, w * 0.92, 0.1, min(0.8, spec.floor_tone * 1.6), edge=0.15)


def _rails(cv: Canvas, spec: VehicleSpec) -> None:
    g, rw, mt = spec.rail_gap_m, spec.rail_w_m, spec.metal_tone
    if spec.kind == "truck_tractor":  # fifth-wheel plate on top of the frame, seen between the rails
        y = (spec.axles[1].y_m + spec.rear_axle_y) / 2 - 0.15
        box(cv, 0.0, y, g + 0.12, 0.9, mt * 0.55, edge=0.3)
        polygon(cv, np.array([[-0.12, y + 0.45], [0.12, y + 0.45], [0.0, y + 0.05]]), 0.06)
    for y0, y1 in spec.rail_spans:
        for side in (-1.0, 1.0):
            box(cv, side * g / 2, (y0 + y1) / 2, rw, y1 - y0, mt, edge=0.35)
            if spec.kind != "car":
                ys = np.arange(y0 + 0.1, y1 - 0.05, 0.11 if spec.kind == "truck_tractor" else 0.25)
                dots(cv, np.full(ys.shape, side * g / 2), ys, 0.007, min(1.0, mt * 1.5))
    depth = 0.08 if spec.kind == "truck_tractor" else 0.06
    for y in spec.cross_members_y:
        tube_across(cv, 0.0, y, g + rw, depth, mt * 0.95)
        if spec.kind == "truck_tractor":
            for x in (-g / 4, g / 4):
                disc(cv, x, y, 0.02, mt * 0.4)


def _powertrain(cv: Canvas, spec: VehicleSpec) -> None:
    e = spec.engine
    polygon(cv, rounded_rect(e.w_m, e.l_m, 0.08, e.x_m, e.y_m), e.tone)
    for k in range(1, 5):  # cast ribs on the sump
        box(cv, e.x_m, e.y_m - e.l_m / 2 + k * e.l_m / 5, e.w_m * 0.7, 0.015, min(1.0, e.tone * 1.35))
    disc(cv, e.x_m + e.w_m * 0.2, e.y_m + e.l_m * 0.3, 0.025, min(1.0, e.tone * 2.0))
    start = e.y_m + e.l_m / 2
    if spec.gearbox is not None:
        gb = spec.gearbox
        polygon(cv, rounded_rect(gb.w_m, gb.l_m, 0.1, gb.x_m, gb.y_m), gb.tone)
        box(cv, gb.x_m, gb.y_m, gb.w_m * 0.15, gb.l_m * 0.9, min(1.0, gb.tone * 1.3))
        start = gb.y_m + gb.l_m / 2
    if spec.driveshaft:
        d = 0.12 if spec.kind == "truck_tractor" else 0.075
        end = spec.axles[1].y_m - 0.15
        tube_along(cv, 0.0, (start + end) / 2, d, end - start, spec.metal_tone * 1.1)
        for y in (start + 0.03, end - 0.03, (start + end) / 2 if end - start > 1.5 else None):
            if y is not None:  # universal joints and the centre bearing
                tube_along(cv, 0.0, y, d * 1.5, 0.06, spec.metal_tone * 0.8)
        if len(spec.axles) > 2:
            a, b = spec.axles[1].y_m + 0.15, spec.axles[2].y_m - 0.15
            tube_along(cv, 0.0, (a + b) / 2, d * 0.9, b - a, spec.metal_tone * 1.1)


def _tanks(cv: Canvas, spec: VehicleSpec) -> None:
    for t in spec.fuel_tanks:
        if spec.tank_cylindrical:
            tube_along(cv, t.x_m, t.y_m, t.w_m, t.l_m, t.tone)
            for k in (0.2, 0.8):  # the tank's own straps: normal, not foreign
                tube_across(cv, t.x_m, t.y_m - t.l_m / 2 + k * t.l_m, t.w_m * 1.05, 0.04, min(1.0, t.tone * 1.3))
        else:
            polygon(cv, rounded_rect(t.w_m, t.l_m, 0.1, t.x_m, t.y_m), t.tone)
            for k in (0.3, 0.6):
                box(cv, t.x_m, t.y_m - t.l_m / 2 + k * t.l_m, t.w_m * 0.8, 0.02, t.tone * 1.4)
            for k in (0.15, 0.85):
                box(cv, t.x_m, t.y_m - t.l_m / 2 + k * t.l_m, t.w_m * 1.08, 0.035, spec.metal_tone * 1.2, edge=0.2)
    for a in spec.air_tanks:
        tube_across(cv, a.x_m, a.y_m, a.w_m, a.l_m, a.tone)
        box(cv, a.x_m - a.w_m / 2 - 0.01, a.y_m, 0.02, a.l_m * 0.8, a.tone * 0.7)
    if spec.battery is not None:
        b = spec.battery
        box(cv, b.x_m, b.y_m, b.w_m, b.l_m, b.tone, edge=0.4)
        for k in range(1, 4):
            box(cv, b.x_m, b.y_m - b.l_m / 2 + k * b.l_m / 4, b.w_m * 0.9, 0.015, b.tone * 1.5)


def _exhaust(cv: Canvas, spec: VehicleSpec) -> None:
    e, m = spec.engine, spec.muffler
    d = 0.1 if spec.kind == "truck_tractor" else 0.055
    x0, y0 = e.x_m + e.w_m * 0.25, e.y_m + e.l_m / 2
    if spec.kind == "truck_tractor":
        path = np.array([[x0, y0 - 0.2], [m.x_m, m.y_m - m.l_m / 2]])
    else:
        xe = spec.exhaust_x_m
        path = np.array([[x0, y0], [xe, y0 + 0.35], [xe, m.y_m - m.l_m / 2 - 0.2], [m.x_m, m.y_m - m.l_m / 2]])
        # heat shield: a brighter dimpled plate above the pipe
        box(cv, xe, (y0 + m.y_m) / 2, 0.2, (m.y_m - y0) * 0.5, min(0.9, spec.floor_tone * 1.5))
        cat_y = y0 + 0.6
        tube_along(cv, xe, cat_y, d * 2.4, 0.3, spec.metal_tone)
    pipe(cv, path, d, spec.metal_tone * 1.1)
    if spec.kind == "truck_tractor":
        tube_along(cv, m.x_m, m.y_m, m.w_m, m.l_m, m.tone)
    else:
        tube_across(cv, m.x_m, m.y_m, m.w_m, m.l_m, m.tone)
        tail = np.array([[m.x_m + m.w_m * 0.3, m.y_m + m.l_m / 2], [m.x_m + m.w_m * 0.35, spec.length_m - 0.03]])
        pipe(cv, tail, d * 0.9, spec.metal_tone * 1.15)


def _axle(cv: Canvas, spec: VehicleSpec, axle: Axle) -> None:
    half = axle.track_m / 2
    mt = spec.metal_tone
    if spec.kind == "truck_tractor" or axle.beam:
        for side in (-1.0, 1.0):  # leaf springs under the rails
            x = side * spec.rail_gap_m / 2
            tube_along(cv, x, axle.y_m, 0.075, 1.3 if spec.kind != "car" else 0.9, mt * 0.85)
            for k in range(-4, 5):
                box(cv, x, axle.y_m + k * 0.12, 0.08, 0.008, mt * 0.5)
    if spec.kind == "truck_tractor" and not axle.diff:  # steer axle I-beam and tie rod
        box(cv, 0.0, axle.y_m, axle.track_m * 0.9, 0.09, mt, edge=0.3)
        tube_across(cv, 0.0, axle.y_m + 0.18, axle.track_m * 0.8, 0.035, mt * 1.1)
    elif axle.beam:
        tube_across(cv, 0.0, axle.y_m, axle.track_m * 0.95, 0.12, mt)
    else:
        for side in (-1.0, 1.0):  # control arms and coil springs of independent suspension
            tri = np.array([[side * 0.35, axle.y_m - 0.2], [side * 0.35, axle.y_m + 0.15], [side * (half - 0.12), axle.y_m]])
            polygon(cv, tri, mt * 0.85)
            for r in (0.07, 0.055, 0.04):
                ring(cv, side * (half - 0.3), axle.y_m + 0.22, r, mt * 1.2, 0.01)
            if axle.diff or (spec.drive == "fwd" and axle is spec.axles[0]):
                tube_across(cv, side * (half / 2 + 0.05), axle.y_m + 0.03, half - 0.15, 0.04, mt * 1.1)
    if axle.diff:
        disc(cv, 0.0, axle.y_m, 0.17 if spec.kind == "truck_tractor" else 0.13, mt * 0.9)
        disc(cv, 0.03, axle.y_m - 0.03, 0.08 if spec.kind == "truck_tractor" else 0.06, min(1.0, mt * 1.35))
        ang = np.linspace(0, 2 * np.pi, 10, endpoint=False)
        r = 0.14 if spec.kind == "truck_tractor" else 0.105
        dots(cv, r * np.cos(ang), axle.y_m + r * np.sin(ang), 0.008, min(1.0, mt * 1.6))
    offsets = (-axle.tyre_w_m * 0.55, axle.tyre_w_m * 0.55) if axle.dual else (0.0,)
    for side in (-1.0, 1.0):
        x = side * half
        well = 0.08 if spec.kind == "truck_tractor" else 0.06
        box(cv, x, axle.y_m, axle.tyre_w_m * len(offsets) + well, axle.tyre_len_m + 2 * well, 0.04)
        for off in offsets:
            _tyre(cv, x + off, axle.y_m, axle.tyre_w_m, axle.tyre_len_m)


def _tyre(cv: Canvas, x: float, y: float, w: float, l: float) -> None:
    tube_across(cv, x, y, w, l, 0.13)
    for k in (-0.3, 0.0, 0.3):  # circumferential tread grooves
        box(cv, x + k * w, y, 0.012, l * 0.85, 0.05)


def _spare(cv: Canvas, s: Box, carrier: bool) -> None:
    r = s.w_m / 2
    disc(cv, s.x_m, s.y_m, r, 0.1)
    disc(cv, s.x_m, s.y_m, r * 0.62, s.tone * 3.0)
    ring(cv, s.x_m, s.y_m, r * 0.62, s.tone * 1.5, 0.02)
    disc(cv, s.x_m, s.y_m, r * 0.18, s.tone * 2.0)
    ang = np.linspace(0, 2 * np.pi, 5, endpoint=False)
    dots(cv, s.x_m + r * 0.3 * np.cos(ang), s.y_m + r * 0.3 * np.sin(ang), 0.01, 0.85)
    if carrier:
        box(cv, s.x_m, s.y_m, s.w_m * 1.25, 0.05, 0.5, edge=0.3)


def _lines(cv: Canvas, spec: VehicleSpec, rng: np.random.Generator) -> None:
    """Brake and fuel lines: thin bright tubes running most of the length beside a rail."""
    x = spec.rail_gap_m / 2 - spec.rail_w_m - 0.03
    ys = np.linspace(spec.front_axle_y, spec.rear_axle_y, 12)
    for k in range(2):
        xs = x - 0.025 * k + 0.008 * rng.standard_normal(ys.size)
        line(cv, np.stack([xs, ys], axis=1), spec.metal_tone * 0.9, 0.006)


def _texture(cv: Canvas, spec: VehicleSpec, rng: np.random.Generator) -> None:
    """Grime and grain on everything, darker smudges where road dirt collects."""
    h, w = cv.shape
    mid = smooth_field(rng, (h, w), 0.12 * cv.sx)
    grain = fast_normal(rng, (h, w))
    smudge = np.clip(smooth_field(rng, (h, w), 0.4 * cv.sx) - 0.6, 0.0, None)
    mid *= 0.07
    mid += 1.0
    grain *= 0.035
    mid += grain
    smudge *= 0.45 * spec.dirt
    mid -= smudge
    np.multiply(cv.albedo, mid, out=cv.albedo)
    np.clip(cv.albedo, 0.0, 1.0, out=cv.albedo)
