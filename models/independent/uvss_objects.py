"""Foreign objects fixed under a vehicle: what an under-vehicle check is meant to find.

Five kinds: a strapped package (straps wrap past its edges), a magnetic box (small, dark,
bright rim), an added plate over a region (flat, hides the structure behind it), cylinders
clamped along the driveshaft, and a taped bundle (irregular, tape bands across it).
Each is drawn into the canvas and into a label plane (object index + 1) that becomes the mask.

EVALUATION ONLY: never train, tune or select models on these images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from .uvss_paint import Canvas, rounded_rect, tube_across, tube_along
from .uvss_vehicle import VehicleSpec

ObjectKind = Literal["strapped_package", "magnetic_box", "added_plate", "driveshaft_cylinder", "taped_bundle"]
OBJECT_KINDS: tuple[ObjectKind, ...] = (
    "strapped_package", "magnetic_box", "added_plate", "driveshaft_cylinder", "taped_bundle")


@dataclass(frozen=True)
class ForeignObject:
    """One added object, in the vehicle's metre coordinates (centre, size across/along)."""

    kind: ObjectKind
    x_m: float
    y_m: float
    w_m: float
    l_m: float
    angle_deg: float
    tone: float
    count: int
    seed: int


def _r(v: float) -> float:
    return round(float(v), 4)


def _clear_of_wheels(spec: VehicleSpec, y: float, l: float) -> bool:
    return all(abs(y - a.y_m) > (a.tyre_len_m / 2 + l / 2 + 0.08) for a in spec.axles)


def sample_object(rng: np.random.Generator, spec: VehicleSpec, kind: ObjectKind | None = None,
                  y_range: tuple[float, float] = (0.06, 0.94)) -> ForeignObject:
    """A random foreign object placed where such a thing could be fixed on `spec`.

    `y_range` bounds the object (as fractions of the vehicle's length), so a caller can keep it
    out of a part of the vehicle that a pass will not show.
    """
    chosen: ObjectKind = kind or OBJECT_KINDS[int(rng.integers(len(OBJECT_KINDS)))]
    size = {
        "strapped_package": ((0.2, 0.45), (0.25, 0.6)),
        "magnetic_box": ((0.08, 0.2), (0.1, 0.25)),
        "added_plate": ((0.3, 0.8), (0.4, 1.1)),
        "driveshaft_cylinder": ((0.06, 0.13), (0.3, 0.8)),
        "taped_bundle": ((0.15, 0.4), (0.15, 0.45)),
    }[chosen]
    w = float(rng.uniform(*size[0]))
    l = float(rng.uniform(*size[1]))
    lo, hi = y_range[0] * spec.length_m + l / 2, y_range[1] * spec.length_m - l / 2
    if chosen == "driveshaft_cylinder":
        a = spec.engine.y_m + spec.engine.l_m / 2 + 0.2
        b = spec.axles[1].y_m - 0.3
        lo, hi = max(lo, a + l / 2), min(hi, b - l / 2)
    if hi <= lo:
        hi = lo + 1e-3
    half_free = spec.width_m / 2 - 0.3 - w / 2
    if chosen in ("added_plate", "driveshaft_cylinder"):
        half_free = min(half_free, spec.rail_gap_m / 2 - w / 2)
    y = float(rng.uniform(lo, hi))
    for _ in range(40):
        if _clear_of_wheels(spec, y, l):
            break
        y = float(rng.uniform(lo, hi))
    if chosen == "driveshaft_cylinder":
        shaft = 0.06 if spec.kind == "truck_tractor" else 0.04
        x = float(rng.choice([-1.0, 1.0])) * (shaft + w / 2 + 0.01)
    else:
        x = float(rng.uniform(-max(half_free, 0.0), max(half_free, 0.0)))
    angle = float(rng.uniform(-12, 12)) if chosen in ("strapped_package", "taped_bundle", "magnetic_box") else 0.0
    tone = {
        "strapped_package": rng.uniform(0.25, 0.7),
        "magnetic_box": rng.uniform(0.05, 0.14),
        "added_plate": spec.floor_tone * rng.choice([0.8, 1.2]) * rng.uniform(0.95, 1.1),
        "driveshaft_cylinder": rng.uniform(0.35, 0.75),
        "taped_bundle": rng.uniform(0.2, 0.65),
    }[chosen]
    count = {"strapped_package": int(rng.integers(1, 4)), "driveshaft_cylinder": int(rng.integers(1, 3)),
             "taped_bundle": int(rng.integers(2, 5))}.get(chosen, 1)
    return ForeignObject(chosen, _r(x), _r(y), _r(w), _r(l), _r(angle), _r(tone), count, int(rng.integers(2**31 - 1)))


def _rotated(obj: ForeignObject, pts: np.ndarray) -> np.ndarray:
    """Object-local metre points rotated by the object's angle and moved to its centre."""
    a = np.deg2rad(obj.angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return pts @ rot.T + np.array([obj.x_m, obj.y_m])


def _fill(cv: Canvas, labels: np.ndarray, label: int, poly_m: np.ndarray, tone: float | np.ndarray) -> np.ndarray:
    """Fills a polygon; returns its pixel mask so texture can be applied inside it."""
    pts = cv.points(poly_m).reshape(-1, 1, 2)
    region = np.zeros(cv.shape, np.uint8)
    cv2.fillPoly(region, [pts], 1)
    inside = region.astype(bool)
    cv.albedo[inside] = tone if np.isscalar(tone) else tone[inside]
    cv.alpha[inside] = 1.0
    labels[inside] = label
    return inside


def _stroke(cv: Canvas, labels: np.ndarray, label: int, seg_m: np.ndarray, tone: float, thick_m: float) -> None:
    pts = cv.points(seg_m).reshape(-1, 1, 2)
    region = np.zeros(cv.shape, np.uint8)
    cv2.polylines(region, [pts], False, 1, max(1, int(round(thick_m * cv.sx))))
    inside = region.astype(bool)
    cv.albedo[inside] = tone
    cv.alpha[inside] = 1.0
    labels[inside] = label


def draw_object(full: Canvas, full_labels: np.ndarray, obj: ForeignObject, label: int) -> None:
    """Draws `obj` on the canvas and writes `label` into `labels` wherever it covers."""
    reach = 0.5 * float(np.hypot(obj.w_m, obj.l_m)) + 0.25
    win = full.span(obj.x_m, obj.y_m, 2 * reach, 2 * reach)
    if win is None:
        return
    cv = full.window(*win)
    labels = full_labels[win[0]:win[1], win[2]:win[3]]
    rng = np.random.default_rng(obj.seed)
    grain = 1.0 + 0.05 * rng.standard_normal(cv.shape, dtype=np.float32) if obj.kind != "added_plate" else None
    hw, hl = obj.w_m / 2, obj.l_m / 2
    if obj.kind == "strapped_package":
        inside = _fill(cv, labels, label, _rotated(obj, rounded_rect(obj.w_m, obj.l_m, 0.02)), obj.tone)
        cv.albedo[inside] *= grain[inside]
        strap_tone = float(rng.choice([0.15, 0.85]))
        reach = float(rng.uniform(0.06, 0.15))
        for k in range(obj.count):
            v = -hl + (k + 1) * obj.l_m / (obj.count + 1)
            seg = _rotated(obj, np.array([[-hw - reach, v], [hw + reach, v]]))
            _stroke(cv, labels, label, seg, strap_tone, 0.025)
    elif obj.kind == "magnetic_box":
        outer = _rotated(obj, rounded_rect(obj.w_m, obj.l_m, 0.01))
        _fill(cv, labels, label, outer, float(rng.uniform(0.75, 0.95)))
        rim = 0.012 + 0.01 * rng.random()
        inner = _rotated(obj, rounded_rect(obj.w_m - 2 * rim, obj.l_m - 2 * rim, 0.005))
        inside = _fill(cv, labels, label, inner, obj.tone)
        cv.albedo[inside] *= grain[inside]
    elif obj.kind == "added_plate":
        s = cv.span(obj.x_m, obj.y_m, obj.w_m, obj.l_m)
        if s is not None:
            r0, r1, c0, c1 = s
            flat = obj.tone * (1.0 + 0.012 * rng.standard_normal((r1 - r0, c1 - c0)).astype(np.float32))
            cv.albedo[r0:r1, c0:c1] = flat
            cv.alpha[r0:r1, c0:c1] = 1.0
            labels[r0:r1, c0:c1] = label
            edge = max(1, int(round(0.01 * cv.sx)))
            cv.albedo[r0:r1, c0 : c0 + edge] *= 1.5
            cv.albedo[r0 : r0 + edge, c0:c1] *= 1.5
            for bx in (obj.x_m - hw + 0.03, obj.x_m + hw - 0.03):
                for by in (obj.y_m - hl + 0.03, obj.y_m + hl - 0.03):
                    cv2.circle(cv.albedo, (int(round(cv.col(bx))), int(round(cv.row(by)))),
                               max(1, int(round(0.008 * cv.sx))), 0.9, -1)
    elif obj.kind == "driveshaft_cylinder":
        for k in range(obj.count):
            x = obj.x_m + (k * (obj.w_m + 0.01) * np.sign(obj.x_m) if obj.x_m else k * obj.w_m)
            y = obj.y_m + k * obj.l_m * 0.1
            s = cv.span(x, y, obj.w_m, obj.l_m)
            tube_along(cv, x, y, obj.w_m, obj.l_m, obj.tone)
            if s is not None:
                r0, r1, c0, c1 = s
                labels[r0:r1, c0:c1] = label
            for f in (0.2, 0.8):  # hose clamps
                tube_across(cv, x, y - obj.l_m / 2 + f * obj.l_m, obj.w_m * 1.15, 0.02, 0.9)
                s2 = cv.span(x, y - obj.l_m / 2 + f * obj.l_m, obj.w_m * 1.15, 0.02)
                if s2 is not None:
                    labels[s2[0]:s2[1], s2[2]:s2[3]] = label
    else:  # taped bundle
        ang = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        rad = np.ones_like(ang)
        for k in (2, 3, 5):  # a lumpy but smooth outline
            rad += 0.5 / k * rng.uniform(0.0, 0.35) * np.cos(k * ang + rng.uniform(0, 2 * np.pi))
        outline = np.stack([hw * rad * np.cos(ang), hl * rad * np.sin(ang)], axis=1)
        inside = _fill(cv, labels, label, _rotated(obj, outline), obj.tone)
        wrinkles = 1.0 + 0.12 * rng.standard_normal(cv.shape, dtype=np.float32)
        cv.albedo[inside] *= (wrinkles * grain)[inside]
        tape = float(rng.uniform(0.7, 0.95))
        for k in range(obj.count):
            v = -hl + (k + 0.5) * obj.l_m / obj.count
            tilt = float(rng.uniform(-0.3, 0.3)) * obj.w_m
            seg = _rotated(obj, np.array([[-hw * 1.05, v - tilt / 2], [hw * 1.05, v + tilt / 2]]))
            pts = cv.points(seg).reshape(-1, 1, 2)
            band = np.zeros(cv.shape, np.uint8)
            cv2.polylines(band, [pts], False, 1, max(1, int(round(0.035 * cv.sx))))
            hit = band.astype(bool) & inside
            cv.albedo[hit] = tape
    np.clip(cv.albedo, 0.0, 1.0, out=cv.albedo)
