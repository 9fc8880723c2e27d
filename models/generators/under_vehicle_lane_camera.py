"""The lane and the line-scan camera of the under-vehicle (UVSS) scenes.

The lane as the camera sees it (one column pattern repeated in every row, ambient light dimmed
under the vehicle), the illuminator's fill and vignetting, and the sensor's row and column
gains and noise. All normal; none of it touches the anomaly mask.
"""

from __future__ import annotations

import cv2
import numpy as np

from models.generators.common import Canvas, Layer
from models.generators.under_vehicle_drawing import noise_field


def lane_layer(h: int, w: int, rng: np.random.Generator, rows: tuple[float, float], cols: tuple[float, float]) -> Layer:
    """The lane as the line-scan camera sees it: one column pattern repeated in every row (road
    aggregate, lane markings, kerbs, the camera slot's frame, drain covers), with a little
    change from row to row, and the ambient light the vehicle blocks while it passes over."""
    s = w / 1024.0
    base = float(rng.uniform(0.04, 0.17))
    prof = np.full(w, base, np.float32)
    fine = rng.standard_normal(w).astype(np.float32) * float(rng.uniform(0.005, 0.03))
    prof += cv2.GaussianBlur(fine[None, :], (0, 0), max(0.6, float(rng.uniform(0.5, 2.0)) * s))[0]
    prof += 0.03 * noise_field(rng, (1, w), float(rng.uniform(20, 120)) * s)[0]
    xs = np.arange(w, dtype=np.float32)
    for _ in range(int(rng.integers(2, 9))):  # streaks: markings, steel edges, slot frame, gaps
        cx, half = float(rng.uniform(0, w)), float(rng.uniform(1, 60)) * s
        edge = max(0.6, float(rng.uniform(0.3, 4)) * s)
        bump = 1.0 / (1.0 + np.exp(np.clip(-(half - np.abs(xs - cx)) / edge, -50, 50)))
        prof += float(rng.choice([-1, 1]) * rng.uniform(0.03, 0.35 if rng.random() < 0.3 else 0.12)) * bump
    if rng.random() < 0.5:  # the camera slot's frame: a pair of bright thin lines near both edges
        for xe in (float(rng.uniform(0.0, 0.08)) * w, float(rng.uniform(0.92, 1.0)) * w):
            prof += float(rng.uniform(0.05, 0.25)) / (1.0 + np.exp(np.clip(-(3 * s - np.abs(xs - xe)) / (0.8 * s), -50, 50)))
    prof = np.clip(prof, 0.01, 0.9)
    # the vehicle above blocks ambient light over the lane while it passes (soft ends)
    yy = np.arange(h, dtype=np.float32)
    soft_px = max(4.0, float(rng.uniform(0.01, 0.06)) * h)
    inside = 1.0 / (1.0 + np.exp(np.clip(-(yy - rows[0]) / soft_px, -50, 50)))
    inside = inside / (1.0 + np.exp(np.clip(-(rows[1] - yy) / soft_px, -50, 50)))
    dim = float(rng.uniform(0.0, 0.5))
    across = np.clip(1.0 - np.maximum(np.maximum(cols[0] - xs, xs - cols[1]), 0) / (0.25 * w), 0, 1)
    row_f = 1.0 + float(rng.uniform(0.0, 0.04)) * noise_field(rng, (h, 1), float(rng.uniform(5, 60)) * s)[:, 0]
    tex_amp = float(rng.uniform(0.0, 0.015))

    row_g = (row_f[:, None] * (1.0 - dim * inside[:, None] * across[None, :])).astype(np.float32)

    def layer(c: Canvas, r: np.random.Generator) -> None:
        np.multiply(prof[None, :], row_g, out=c.img)
        if tex_amp > 0.002:  # spray, dust on the window: faint 2-D texture
            c.img += tex_amp * noise_field(r, (h, w), float(r.uniform(3, 30)) * s)

    return layer


def fill_light(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Illuminator pattern across the lane (brighter centre or one side) and lens vignetting:
    for a line-scan camera both depend on the column only. Before the device nuisances."""
    h, w = img.shape
    x = np.linspace(-1, 1, w, dtype=np.float32)
    kind = rng.random()
    if kind < 0.5:
        c0, wid = float(rng.uniform(-0.3, 0.3)), float(rng.uniform(0.4, 1.2))
        light = 1.0 - float(rng.uniform(0.1, 0.45)) * (1 - np.exp(-0.5 * ((x - c0) / wid) ** 2))
    elif kind < 0.85:
        light = 1.0 + float(rng.uniform(-0.3, 0.3)) * x
    else:  # two lamps
        d = float(rng.uniform(0.3, 0.7))
        light = 0.75 + 0.25 * (np.exp(-0.5 * ((x - d) / 0.35) ** 2) + np.exp(-0.5 * ((x + d) / 0.35) ** 2))
    vig = np.cos(np.clip(x * float(rng.uniform(0.3, 0.75)), -1.5, 1.5)) ** 4
    col = (light * vig / float((light * vig).max())).astype(np.float32)
    img = img * col[None, :] * float(rng.uniform(0.9, 1.25))
    # motion blur along the rows (exposure over the line period)
    k = int(round(float(rng.uniform(0, 10)) * h / 2048.0))
    if k >= 2:
        img = cv2.blur(img, (1, k))
    return img


def sensor_effects(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-row gain banding (lamp flicker, exposure jitter) with rare bright or dark lines,
    per-column gain (pixel response), read and shot noise. After the device nuisances."""
    h, w = img.shape
    yy = np.arange(h, dtype=np.float32)
    row = 1.0 + float(rng.uniform(0, 0.04)) * noise_field(rng, (h, 1), float(rng.uniform(2, 40)) * h / 2048)[:, 0]
    if rng.random() < 0.5:  # mains flicker of the lamps: periodic banding
        row *= 1.0 + float(rng.uniform(0.005, 0.03)) * np.sin(2 * np.pi * yy / float(rng.uniform(6, 80)) * h / 2048
                                                             + float(rng.uniform(0, 6.3)))
    for _ in range(int(rng.poisson(1.5))):  # rare single bright/dark lines
        y, n = int(rng.integers(h)), max(1, int(round(float(rng.uniform(1, 4)) * h / 2048)))
        row[y:y + n] *= float(rng.uniform(0.6, 0.85) if rng.random() < 0.5 else rng.uniform(1.15, 1.5))
    col = 1.0 + float(rng.uniform(0.002, 0.015)) * rng.standard_normal(w, dtype=np.float32)
    img = img * row[:, None].astype(np.float32) * col[None, :]
    # read noise plus shot noise (std growing with the signal; linearised sqrt about mid-grey)
    read, shot = float(rng.uniform(0.002, 0.01)), float(rng.uniform(0.0, 0.02))
    sigma = (read + shot * img).astype(np.float32)
    img += sigma * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(img, 0.0, 1.0, out=img)
