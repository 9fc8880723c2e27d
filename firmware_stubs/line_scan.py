"""The line-scan camera in the road: how a drawn undercarriage becomes the stitched 4096-px image.

The camera takes one 4096-px line at a time; its line rate follows the *measured* speed so that
each line is `mm_per_line` of vehicle (Q = k·w·v). The measurement lags a vehicle that speeds up
or slows down (first-order, `LAG_S`), so an accelerating vehicle comes out slightly squeezed and a
braking one stretched, more so the faster it goes. On top: the vehicle's lateral offset in the
lane, fill light that falls off towards the sides, mains flicker of the lamps (horizontal bands),
per-column gain of the sensor (faint vertical streaks, fixed per device) and sensor noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from firmware_stubs.undercarriage import BACKGROUND, CANVAS_WIDTH, MAX_OFFSET_PX, MM_PER_PX, Canvas, plate_rng

WIDTH = 4096
NOMINAL_MM_PER_LINE = 3.0     # at --scale 1; --scale S takes every 1/S-th line (S x the line rate)
LAG_S = 0.35                  # speed measurement -> line rate response time
FLICKER_HZ = 100.0            # 50 Hz mains, lamps flicker at twice that


@dataclass(frozen=True)
class PassConditions:
    """How the vehicle crossed the camera this time."""

    speed_kmh: float
    lateral_offset_mm: float
    lead_mm: float            # road scanned before the first part of the vehicle
    tail_mm: float
    speed_change: float       # relative change of speed from the first line to the last
    direction: Literal["forward", "reverse"] = "forward"

    @classmethod
    def draw(cls, rng: np.random.Generator, speed_kmh: float | None = None,
             direction: Literal["forward", "reverse"] = "forward") -> PassConditions:
        """Typical lane conditions: 5-15 km/h, within 15 cm of the centre, a gentle speed change."""
        return cls(speed_kmh if speed_kmh is not None else float(rng.uniform(5, 15)),
                   float(rng.uniform(-150, 150)), float(rng.uniform(250, 450)), float(rng.uniform(250, 450)),
                   float(rng.uniform(-0.2, 0.2)), direction)


@dataclass(frozen=True)
class Scan:
    """The stitched image and what the camera knows about it (and the stub's ground truth)."""

    image: np.ndarray         # uint8 lines x 4096
    y_mm: np.ndarray          # where on the vehicle (its frame) each line was taken
    line_rate_hz: float       # mean over the pass
    speed_kmh: float          # mean measured speed
    duration_s: float
    offset_px: int

    def rows_of(self, y0_mm: float, y1_mm: float) -> tuple[int, int]:
        """First and one-past-last line showing vehicle y in [y0, y1]."""
        inside = np.nonzero((self.y_mm >= y0_mm) & (self.y_mm <= y1_mm))[0]
        return (int(inside[0]), int(inside[-1]) + 1) if inside.size else (0, 0)

    def cols_of(self, x0_mm: float, x1_mm: float) -> tuple[int, int]:
        """Image columns showing vehicle x in [x0, x1]."""
        c0 = int(round(WIDTH / 2 + x0_mm / MM_PER_PX)) + self.offset_px
        c1 = int(round(WIDTH / 2 + x1_mm / MM_PER_PX)) + self.offset_px
        return max(0, c0), min(WIDTH, c1)


def line_positions(length_mm: float, cond: PassConditions, mm_per_line: float) -> tuple[np.ndarray, np.ndarray]:
    """Distance travelled and time at each line, with the line rate chasing a lagging speed reading."""
    total = cond.lead_mm + length_mm + cond.tail_mm
    v0 = cond.speed_kmh / 3.6 * 1000.0
    measured, s, t = v0, 0.0, 0.0
    dist: list[float] = []
    times: list[float] = []
    while s < total:
        dist.append(s)
        times.append(t)
        v = v0 * (1 + cond.speed_change * s / total)
        dt = mm_per_line / measured
        s, t = s + v * dt, t + dt
        measured += (v - measured) * min(1.0, dt / LAG_S)
    return np.asarray(dist), np.asarray(times)


def scan(canvas: Canvas, length_mm: float, cond: PassConditions, rng: np.random.Generator,
         device: str = "uv1") -> Scan:
    """Scan `canvas` (a vehicle `length_mm` long) under `cond`; `rng` for this pass's noise."""
    m0 = canvas.mm_per_line
    dist, times = line_positions(length_mm, cond, m0)
    y = dist - cond.lead_mm
    if cond.direction == "reverse":
        y = length_mm - y
    offset_px = int(round(cond.lateral_offset_mm / MM_PER_PX))
    if abs(offset_px) > MAX_OFFSET_PX:
        raise ValueError(f"lateral offset {cond.lateral_offset_mm} mm is beyond the lane")
    c0 = (CANVAS_WIDTH - WIDTH) // 2 - offset_px
    view = canvas.img[:, c0:c0 + WIDTH]
    pos = y / m0
    i0 = np.clip(np.floor(pos).astype(np.int64), 0, canvas.rows - 1)
    i1 = np.minimum(i0 + 1, canvas.rows - 1)
    frac = np.clip(pos - np.floor(pos), 0, 1).astype(np.float32)[:, None]
    image = view[i0] * (1 - frac)
    image += view[i1] * frac
    image[(y < 0) | (y > length_mm)] = BACKGROUND

    dev = plate_rng(device, "sensor")
    x = np.arange(WIDTH, dtype=np.float32) - WIDTH / 2 - dev.uniform(-150, 150)
    falloff = 0.4 + 0.6 / (1 + (x / 1700) ** 2) ** 1.5                      # fill light towards the sides
    falloff *= 1 + 0.05 * np.tanh(x / 900) * dev.choice([-1, 1])             # one lamp a little weaker
    column_gain = 1 + dev.normal(0, 0.012, WIDTH).astype(np.float32)        # sensor PRNU: vertical streaks
    column_gain[dev.integers(0, WIDTH, 3)] *= 1.08
    phase = rng.uniform(0, 2 * math.pi)
    band = 1 + 0.04 * np.sin(2 * math.pi * FLICKER_HZ * times + phase) + rng.normal(0, 0.006, times.size)
    image *= (falloff * column_gain)[None, :]
    image *= band.astype(np.float32)[:, None]
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    noise *= 1.8 + 0.16 * np.sqrt(np.maximum(image, 0))                      # read + shot noise
    image += noise
    duration = float(times[-1] + m0 / (cond.speed_kmh / 3.6 * 1000.0)) if times.size else 0.0
    distance = float(dist[-1] + m0) if dist.size else 0.0
    return Scan(np.clip(image, 0, 255).astype(np.uint8), y, dist.size / duration, distance / duration * 3.6 / 1000,
                duration, offset_px)
