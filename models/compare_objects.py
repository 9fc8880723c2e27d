"""Objects the stub does not draw, painted onto a stub pass for `models.compare_pairs`: the hard kinds.

The stub's own objects (`firmware_stubs.undercarriage.OBJECT_KINDS`) are bright and stand out.
Someone hiding something under a vehicle would rather match it to the floor, so the comparison is
also developed against:

- `flat_plate`: a sheet 0.3-0.8 m across, 0.4-1.1 m along, within 8-20 % of the floor's tone
  where it lies, hiding the floor's detail, with a faint brighter edge and four bolts;
- `dark_box`: a small magnet box (0.08-0.2 x 0.1-0.25 m), nearly black, with a thin bright rim.

They are painted on the stub's pass image (before `compare_pairs.degrade`, so they go through the
same speed, light and noise as the rest of the pass) at a spot inside the vehicle, away from its
ends; `paint` returns where (rows r0, r1, columns c0, c1 of that image).
"""

from __future__ import annotations

import cv2
import numpy as np

from firmware_stubs.line_scan import NOMINAL_MM_PER_LINE
from firmware_stubs.undercarriage import MM_PER_PX

PAINTED_KINDS = ("flat_plate", "dark_box")


def _vehicle_span(image: np.ndarray) -> tuple[int, int, int, int]:
    """Rows and columns the vehicle covers in a stub pass (first, last + 1 of each)."""
    level = image.mean(axis=1)
    rows = np.nonzero(level > float(np.percentile(level, 5)) + 10)[0]
    inside = image[rows[0]:rows[-1] + 1] if rows.size else image
    cols = np.nonzero(np.percentile(inside, 75, axis=0) > 24)[0]
    if rows.size < 2 or cols.size < 2:
        return 0, image.shape[0], 0, image.shape[1]
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def paint(image: np.ndarray, kind: str, scale: float, rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """`image` (a stub pass at stub `scale`, 4096 wide) with a `kind` object painted on it, and its box."""
    if kind not in PAINTED_KINDS:
        raise ValueError(f"unknown painted object {kind!r} (known: {', '.join(PAINTED_KINDS)})")
    mm_per_row = NOMINAL_MM_PER_LINE / scale
    if kind == "flat_plate":
        across_mm, along_mm = rng.uniform(300, 800), rng.uniform(400, 1100)
    else:
        across_mm, along_mm = rng.uniform(80, 200), rng.uniform(100, 250)
    w = max(6, int(across_mm / MM_PER_PX))
    h = max(4, int(along_mm / mm_per_row))
    r0v, r1v, c0v, c1v = _vehicle_span(image)
    length, width = r1v - r0v, c1v - c0v
    top = r0v + int(rng.uniform(0.12, 0.72) * length)
    top = min(top, r1v - h - 1)
    left = c0v + int(rng.uniform(0.15, 0.85) * width) - w // 2
    left = int(np.clip(left, c0v + 4, max(c0v + 4, c1v - w - 4)))
    r0, r1, c0, c1 = top, top + h, left, left + w
    out = image.astype(np.float32)
    if kind == "flat_plate":
        floor = float(np.median(out[r0:r1, c0:c1]))
        tone = floor * (rng.uniform(0.8, 0.92) if rng.random() < 0.5 else rng.uniform(1.08, 1.2))
        ramp = np.linspace(1 - 0.03, 1 + 0.03, w, dtype=np.float32)[None, :]
        out[r0:r1, c0:c1] = tone * ramp
        edge = max(1, int(12 / MM_PER_PX)), max(1, int(12 / mm_per_row))
        rim = np.zeros((h, w), np.uint8)
        rim[:edge[1]], rim[-edge[1]:], rim[:, :edge[0]], rim[:, -edge[0]:] = 1, 1, 1, 1
        out[r0:r1, c0:c1][rim > 0] *= 1.12
        for by, bx in ((0.12, 0.1), (0.12, 0.9), (0.88, 0.1), (0.88, 0.9)):
            cv2.ellipse(out, (c0 + int(bx * w), r0 + int(by * h)),
                        (max(1, int(10 / MM_PER_PX)), max(1, int(10 / mm_per_row))), 0, 0, 360,
                        min(255.0, tone * 1.4), -1)
    else:
        rim_px, rim_rows = max(2, int(15 / MM_PER_PX)), max(1, int(15 / mm_per_row))
        out[r0:r1, c0:c1] = float(rng.uniform(180, 220))
        out[r0 + rim_rows:r1 - rim_rows, c0 + rim_px:c1 - rim_px] = float(rng.uniform(12, 30))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), (r0, r1, c0, c1)
