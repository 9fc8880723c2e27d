"""Under-vehicle (UVSS) line-scan images, clean or with a foreign object fixed underneath.

The image is a stitched line-scan of a vehicle's underside seen from below: 8-bit grey,
rows along the vehicle (row 0 = front bumper side, rows are time), columns across the lane.

    render(seed, anomaly, width=1024, length=None) -> Sample
    render_vehicle(spec, objects, pass_conditions) -> (image, mask)

`render(seed, False)` and `render(seed, True)` show the same vehicle in the same pass with the
same noise; the anomalous one only adds its objects, and `mask` marks exactly those.

EVALUATION ONLY: these images exist to measure models. Never train, tune, calibrate
thresholds on, or choose between models with them; that would spoil them as an independent test.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from .common import rng_streams
from .uvss_draw import draw_vehicle
from .uvss_imaging import PassConditions, image_pass, sample_pass, scales
from .uvss_objects import OBJECT_KINDS, ForeignObject, draw_object, sample_object
from .uvss_paint import Canvas
from .uvss_vehicle import KINDS, VehicleSpec, sample_vehicle

__all__ = ["OBJECT_KINDS", "KINDS", "ForeignObject", "PassConditions", "Sample", "VehicleSpec",
           "render", "render_vehicle", "sample_object", "sample_pass", "sample_vehicle", "scales"]

_TAG = 0x55C1


@dataclass
class Sample:
    """One rendered image: pixels, where the added objects are, the vehicle, and the details."""

    image: np.ndarray
    mask: np.ndarray
    vehicle: VehicleSpec
    meta: dict[str, Any] = field(default_factory=dict)


@lru_cache(maxsize=2)
def _vehicle_canvas(spec: VehicleSpec, sx: float, sy: float) -> Canvas:
    cv = draw_vehicle(spec, sx, sy)
    cv.albedo.setflags(write=False)
    cv.alpha.setflags(write=False)
    return cv


def render_vehicle(spec: VehicleSpec, objects: list[ForeignObject], pass_conditions: PassConditions
                   ) -> tuple[np.ndarray, np.ndarray]:
    """`spec` with `objects` fixed under it, seen in one pass: (uint8 image, bool mask of the objects)."""
    image, labels, _ = _render(spec, objects, pass_conditions)
    return image, labels > 0


def _render(spec: VehicleSpec, objects: list[ForeignObject], cond: PassConditions
            ) -> tuple[np.ndarray, np.ndarray, int]:
    base = _vehicle_canvas(spec, round(cond.sx, 6), round(cond.sy, 6))
    labels = None
    canvas = base
    if objects:
        canvas = Canvas(base.albedo.copy(), base.alpha.copy(), base.sx, base.sy)
        labels = np.zeros(canvas.shape, np.uint8)
        for i, obj in enumerate(objects):
            draw_object(canvas, labels, obj, i + 1)
    return image_pass(canvas, labels, cond, spec.length_m)


def boxes(labels: np.ndarray, n: int) -> list[tuple[int, int, int, int] | None]:
    """Bounding box (row0, row1, col0, col1; end exclusive) of each label 1..n, None if not visible."""
    out: list[tuple[int, int, int, int] | None] = []
    for k in range(1, n + 1):
        rows = np.flatnonzero((labels == k).any(axis=1))
        if rows.size == 0:
            out.append(None)
            continue
        cols = np.flatnonzero((labels[rows[0]: rows[-1] + 1] == k).any(axis=0))
        out.append((int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1))
    return out


def render(seed: int, anomaly: bool, width: int = 1024, length: int | None = None) -> Sample:
    """A vehicle from `seed`, clean or (`anomaly`) with one or two foreign objects under it."""
    if width < 64 or (length is not None and length < 64):
        raise ValueError(f"image too small: width={width}, length={length} (both must be >= 64)")
    r_vehicle, r_pass, r_objects = rng_streams(seed, _TAG, 3)
    spec = sample_vehicle(r_vehicle)
    sx, sy, n_rows = scales(width, length, spec.length_m, 1.1)
    cond = sample_pass(r_pass, width, n_rows, sx, sy, lane_seed=int(r_pass.integers(2**31 - 1)))
    objects: list[ForeignObject] = []
    if anomaly:
        n = 2 if r_objects.random() < 0.25 else 1
        objects = [sample_object(r_objects, spec) for _ in range(n)]
    image, labels, valid = _render(spec, objects, cond)
    mask = labels > 0
    meta = {
        "seed": int(seed), "anomaly": bool(anomaly), "kind": spec.kind,
        "objects": [asdict(o) for o in objects], "object_boxes": boxes(labels, len(objects)),
        "mask_fraction": float(mask.mean()), "valid_rows": valid, "pass": asdict(cond),
        "vehicle": asdict(spec), "evaluation_only": True,
    }
    return Sample(image=image, mask=mask, vehicle=spec, meta=meta)
