"""Synthetic container interiors for the empty-box stub: an 8-bit camera view or a 16-bit transmission image.

Camera (BGR, 8-bit): the view through the open doors: floor, ceiling and corrugated side walls
converging on the front wall; a full container has cartons and drums on the floor.
Transmission (grey, 16-bit, bright = more X-rays through): a side view with the corrugation
as vertical stripes, the floor cross-members as a dark band; cargo attenuates as blocks and
cylinders. Deterministic for a seed, so a test can render the same image twice.
"""

from __future__ import annotations

import cv2
import numpy as np

CAMERA_SIZE = (256, 384)          # height, width
TRANSMISSION_SIZE = (192, 576)


def render_interior(kind: str, *, full: bool, seed: int = 0) -> np.ndarray:
    """An interior image of `kind` "camera" (uint8 HxWx3) or "transmission" (uint16 HxW)."""
    rng = np.random.default_rng(seed)
    if kind == "camera":
        return _camera(full, rng)
    if kind == "transmission":
        return _transmission(full, rng)
    raise ValueError(f"image kind {kind!r} is not camera or transmission")


def _camera(full: bool, rng: np.random.Generator) -> np.ndarray:
    h, w = CAMERA_SIZE
    img = np.zeros((h, w, 3), np.uint8)
    # front wall in the middle; the four planes meet it at its corners
    fx0, fy0, fx1, fy1 = w * 3 // 8, h * 3 // 8, w * 5 // 8, h * 5 // 8
    corners = {"tl": (0, 0), "tr": (w - 1, 0), "br": (w - 1, h - 1), "bl": (0, h - 1)}
    front = {"tl": (fx0, fy0), "tr": (fx1, fy0), "br": (fx1, fy1), "bl": (fx0, fy1)}

    def plane(a: str, b: str, colour: tuple[int, int, int]) -> None:
        pts = np.array([corners[a], corners[b], front[b], front[a]], np.int32)
        cv2.fillConvexPoly(img, pts, colour)

    plane("tl", "tr", (96, 100, 104))      # ceiling
    plane("bl", "br", (60, 80, 110))       # wooden floor
    plane("tl", "bl", (120, 124, 128))     # left wall
    plane("tr", "br", (116, 120, 124))     # right wall
    cv2.rectangle(img, (fx0, fy0), (fx1, fy1), (104, 108, 112), -1)
    for i in range(1, 12):                 # corrugation: lines from the door edge to the front wall
        t = i / 12
        for x_door, x_front in ((0, fx0), (w - 1, fx1)):
            x = int(x_door + (x_front - x_door) * t)
            y_top, y_bot = int(fy0 * t), int(h - 1 - (h - 1 - fy1) * t)
            cv2.line(img, (x, y_top), (x, y_bot), (84, 88, 92), 2)
    for i in range(1, 8):                  # floor boards
        x = int(i * w / 8)
        cv2.line(img, (x, h - 1), (fx0 + (fx1 - fx0) * i // 8, fy1), (48, 64, 90), 1)
    if full:
        for _ in range(int(rng.integers(3, 6))):       # cartons
            bw, bh = int(rng.integers(40, 80)), int(rng.integers(30, 60))
            x, y = int(rng.integers(fx0 - 60, fx1 - 10)), int(rng.integers(fy1 - 10, h - bh - 10))
            cv2.rectangle(img, (x, y), (x + bw, y + bh), (70, 130, 180), -1)
            cv2.rectangle(img, (x, y), (x + bw, y + bh), (40, 80, 120), 2)
            cv2.line(img, (x + bw // 2, y), (x + bw // 2, y + bh), (200, 200, 210), 3)   # tape
        for _ in range(int(rng.integers(1, 3))):       # drums
            cx, cy = int(rng.integers(fx0, fx1)), int(rng.integers(fy1 + 20, h - 30))
            cv2.rectangle(img, (cx - 18, cy - 40), (cx + 18, cy), (40, 40, 150), -1)
            cv2.ellipse(img, (cx, cy - 40), (18, 6), 0, 0, 360, (60, 60, 180), -1)
    shade = np.linspace(1.0, 0.7, w, dtype=np.float32)[None, :, None]
    noise = rng.normal(0, 3, img.shape).astype(np.float32)
    return np.clip(img.astype(np.float32) * shade + noise, 0, 255).astype(np.uint8)


def _transmission(full: bool, rng: np.random.Generator) -> np.ndarray:
    h, w = TRANSMISSION_SIZE
    mu_t = np.full((h, w), 0.15, np.float32)            # two steel side walls, face on
    x = np.arange(w, dtype=np.float32)
    mu_t += (0.05 * (np.sin(x / 6.0) > 0))[None, :]     # corrugation
    mu_t[: h // 16] += 0.4                               # roof rail
    mu_t[h - h // 8:] += 1.2                             # floor and cross-members
    mu_t[:, :8] += 0.8
    mu_t[:, -8:] += 0.8                                  # door and front frames
    if full:
        floor = h - h // 8
        for _ in range(int(rng.integers(4, 8))):
            bw, bh = int(rng.integers(40, 110)), int(rng.integers(30, floor - 30))
            x0 = int(rng.integers(10, w - bw - 10))
            mu_t[floor - bh:floor, x0:x0 + bw] += float(rng.uniform(0.3, 1.0))
        for _ in range(int(rng.integers(1, 3))):
            cx, r = int(rng.integers(40, w - 40)), int(rng.integers(20, 32))
            yy, xx = np.ogrid[:h, :w]
            mu_t[((xx - cx) ** 2 + (yy - (floor - r)) ** 2) < r * r] += 1.5
    signal = 60000.0 * np.exp(-mu_t) + rng.normal(0, 300, (h, w))
    return np.clip(signal, 0, 65535).astype(np.uint16)
