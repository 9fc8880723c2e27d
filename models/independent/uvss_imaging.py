"""One line-scan pass over a drawn underside: speed, offset, light, blur, banding, noise.

A line-scan camera in the road sees one line across the lane per row, so:
- rows are time: an uneven vehicle speed stretches or squeezes the image along its length;
- whatever does not move (the ground and lane furniture beyond the vehicle) is seen as the
  same line every row, so it shows as streaks running along the rows, the same on every pass
  in that lane (`lane_seed`), as does the sensor's per-column gain;
- per-row gain jitter (illuminator flicker, line timing) gives horizontal banding.

EVALUATION ONLY: never train, tune or select models on these images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from .common import curve_from_knots, fast_normal, smooth_curve, smooth_field, to_uint8
from .uvss_paint import Canvas

FOV_M = 3.0  # metres across the lane that the image's width covers
FRONT_MARGIN_M = 0.25
BACK_MARGIN_M = 0.15
STRETCH_LIMITS = (0.75, 1.25)


@dataclass(frozen=True)
class PassConditions:
    """Everything that differs between two passes of the same vehicle over the same camera."""

    width: int
    length: int
    sx: float
    sy: float
    lateral_offset_px: float
    lateral_drift_px: float
    stretch_knots: tuple[float, ...]
    tail_cut: float
    light: Literal["centre", "left", "right"]
    light_strength: float
    light_pos: float
    exposure: float
    banding: float
    noise: float
    shot: float
    blur_rows: int
    noise_seed: int
    lane_seed: int


def scales(width: int, length: int | None, vehicle_length_m: float, max_stretch: float) -> tuple[float, float, int]:
    """Pixels per metre across and nominal rows per metre along, and the image length.

    The nominal scale leaves room for the vehicle at `max_stretch`, so it is never cut by the
    image end; with `length` None the nominal scale is square and the length follows.
    """
    sx = width / FOV_M
    span = FRONT_MARGIN_M + vehicle_length_m * max_stretch + BACK_MARGIN_M
    if length is None:
        return sx, sx, int(np.ceil(span * sx))
    return sx, length / span, int(length)


def sample_pass(rng: np.random.Generator, width: int, length: int, sx: float, sy: float, lane_seed: int, *,
                base_range: tuple[float, float] = (0.92, 1.08), wobble: float = 0.04,
                offset_px: float | None = None, tail_cut: float = 0.0) -> PassConditions:
    """Random pass conditions; the keyword ranges let a caller ask for milder or harsher passes."""
    base = float(rng.uniform(*base_range))
    knots = np.clip(base * (1.0 + float(rng.uniform(0.3, 1.0)) * wobble * rng.uniform(-1, 1, 6)), *STRETCH_LIMITS)
    light = ("centre", "left", "right")[int(rng.integers(3))]
    pos = {"centre": rng.uniform(0.4, 0.6), "left": rng.uniform(0.05, 0.3), "right": rng.uniform(0.7, 0.95)}[light]
    offset = float(rng.uniform(-30, 30)) * width / 1024 if offset_px is None else offset_px
    return PassConditions(
        width=int(width), length=int(length), sx=float(sx), sy=float(sy),
        lateral_offset_px=round(offset, 3), lateral_drift_px=round(float(rng.uniform(-8, 8)), 3),
        stretch_knots=tuple(round(float(k), 4) for k in knots), tail_cut=round(float(tail_cut), 4),
        light=light, light_strength=round(float(rng.uniform(0.15, 0.55)), 4), light_pos=round(float(pos), 4),
        exposure=round(float(rng.uniform(0.8, 1.25)), 4), banding=round(float(rng.uniform(0.008, 0.035)), 4),
        noise=round(float(rng.uniform(0.006, 0.02)), 4), shot=round(float(rng.uniform(0.0005, 0.003)), 5),
        blur_rows=int(rng.integers(1, 6)), noise_seed=int(rng.integers(2**31 - 1)), lane_seed=int(lane_seed))


def row_positions(cond: PassConditions) -> np.ndarray:
    """Vehicle position (metres behind the front bumper) seen by each output row."""
    factor = np.clip(curve_from_knots(cond.stretch_knots, cond.length), *STRETCH_LIMITS)
    step = 1.0 / (cond.sy * factor)
    return -FRONT_MARGIN_M + np.concatenate([[0.0], np.cumsum(step[:-1])])


def _lane(cond: PassConditions) -> tuple[np.ndarray, np.ndarray]:
    """The lane's static background line (streaks) and the sensor's per-column gain."""
    rng = np.random.default_rng(cond.lane_seed)
    w = cond.width
    level = float(rng.uniform(0.35, 0.55))
    profile = level * (1.0 + 0.12 * smooth_curve(rng, w, 40) + 0.05 * smooth_curve(rng, w, 300))
    profile += 0.03 * rng.standard_normal(w)
    column_gain = 1.0 + float(rng.uniform(0.003, 0.012)) * rng.standard_normal(w)
    return profile.astype(np.float32), column_gain.astype(np.float32)


def _light(cond: PassConditions) -> np.ndarray:
    c = np.arange(cond.width, dtype=np.float32) / max(cond.width - 1, 1)
    if cond.light == "centre":
        prof = 1.0 - cond.light_strength * ((c - cond.light_pos) / 0.5) ** 2
    else:
        prof = 1.0 - cond.light_strength * np.abs(c - cond.light_pos)
    edge = np.minimum(c, 1.0 - c)  # lens vignetting at the outermost columns
    prof *= 1.0 - 0.35 * np.exp(-edge / 0.03)
    return np.clip(prof, 0.2, None).astype(np.float32)


def image_pass(canvas: Canvas, labels: np.ndarray | None, cond: PassConditions, vehicle_length_m: float
               ) -> tuple[np.ndarray, np.ndarray, int]:
    """The 8-bit image of one pass, the object labels as they land in it, and its valid rows."""
    rng = np.random.default_rng(cond.noise_seed)
    h, w = cond.length, cond.width
    y_m = row_positions(cond)
    valid = int(np.searchsorted(y_m, vehicle_length_m * (1.0 - cond.tail_cut), side="right")) if cond.tail_cut > 0 else h
    map_y = np.repeat((y_m * canvas.sy - canvas.row0).astype(np.float32)[:, None], w, axis=1)
    shift = cond.lateral_offset_px + cond.lateral_drift_px * (np.arange(h) / max(h - 1, 1) - 0.5)
    map_x = (np.arange(w, dtype=np.float32)[None, :] - (w / 2.0 + shift.astype(np.float32))[:, None]
             + np.float32(canvas.col(0.0)))
    alb = cv2.remap(canvas.albedo, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha = cv2.remap(canvas.alpha, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    out_labels = np.zeros((h, w), np.uint8)
    if labels is not None:
        out_labels = cv2.remap(labels, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    del map_x, map_y
    profile, column_gain = _lane(cond)
    # composite: the vehicle where alpha is 1, the lane's static background (with spray) elsewhere
    bg = smooth_field(rng, (h, w), 0.25 * cond.sx)
    bg *= 0.04
    bg += 1.0
    bg *= profile[None, :]
    np.subtract(1.0, alpha, out=alpha)
    alpha *= bg
    alpha += alb
    img = alpha
    del bg, alb
    if cond.blur_rows > 1:  # motion blur: the vehicle moves along the rows during one exposure
        img = cv2.blur(img, (1, cond.blur_rows))
    # column-only gains (fill light, sensor response) commute with the blur along rows; the row
    # gains (slow flicker, per-line banding) belong to each captured line, so come after it
    img *= (cond.exposure * _light(cond) * column_gain)[None, :]
    rows = (1.0 + 0.03 * smooth_curve(rng, h, 8)) * (1.0 + cond.banding * rng.standard_normal(h))
    spikes = rng.random(h) < 0.004
    rows[spikes] *= rng.uniform(0.85, 1.15, int(spikes.sum()))
    img *= rows.astype(np.float32)[:, None]
    sigma = np.maximum(img, 0.0)
    sigma *= cond.shot
    sigma += cond.noise**2
    np.sqrt(sigma, out=sigma)
    sigma *= fast_normal(rng, (h, w))
    img += sigma
    del sigma
    out = to_uint8(img)
    if valid < h:  # the capture stopped: nothing was recorded for these rows
        out[valid:] = 0
        out_labels[valid:] = 0
    return out, out_labels, valid
