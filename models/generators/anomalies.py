"""Foreign-object layers: opaque objects for camera images, attenuating ones for X-ray.

Each factory returns a `Layer` that `common.render` inserts at a random depth of the scene,
so structures drawn after it occlude it. The layer paints the object and sets its pixels in
`canvas.mask` to 1.
"""

from __future__ import annotations

import cv2
import numpy as np

from models.generators.common import Canvas, Layer, bbox, object_texture, shape_mask, soft_shadow


def opaque_object(kind: str, cx: float, cy: float, size: float, shadow_px: float) -> Layer:
    """A solid object (package, taped box, plate, bundle) seen by a camera: replaces pixels."""

    def layer(canvas: Canvas, rng: np.random.Generator) -> None:
        region = shape_mask(rng, kind, canvas.shape, cx, cy, size)
        box = bbox(region)
        if box is None:
            return
        y0, y1, x0, x1 = box
        local_mean = float(canvas.img[y0:y1, x0:x1][region[y0:y1, x0:x1]].mean())
        sign = 1.0 if (rng.random() < 0.5 or local_mean < 0.2) and local_mean < 0.8 else -1.0
        base = float(np.clip(local_mean + sign * rng.uniform(0.1, 0.4), 0.04, 0.96))
        contrast = float(rng.uniform(0.2, 1.0))
        tex = object_texture(rng, (y1 - y0, x1 - x0), base, contrast, size, cx - x0, cy - y0)
        soft_shadow(canvas, region, shadow_px, 0.35)  # fixed objects cast a soft shadow
        # slight edge darkening so the object reads as a solid body
        edge = region.astype(np.uint8) - cv2.erode(region.astype(np.uint8), np.ones((3, 3), np.uint8))
        canvas.paint(region, np.clip(tex, 0, 1))
        canvas.paint(edge.astype(bool), float(max(base - 0.15, 0.0)), alpha=0.5)
        canvas.mask[region] = 1.0

    return layer


def attenuating_object(kind: str, cx: float, cy: float, size: float, mu: float, texture: float) -> Layer:
    """An object in an X-ray transmission image: adds attenuation `mu` (log domain).

    The canvas of an X-ray generator holds line integrals of attenuation (not intensity), so
    objects superpose instead of occluding; the mask marks where the object adds enough
    attenuation to be part of it.
    """

    def layer(canvas: Canvas, rng: np.random.Generator) -> None:
        region = shape_mask(rng, kind, canvas.shape, cx, cy, size)
        box = bbox(region)
        if box is None:
            return
        y0, y1, x0, x1 = box
        h, w = y1 - y0, x1 - x0
        soft = cv2.GaussianBlur(region[y0:y1, x0:x1].astype(np.float32), (0, 0), 0.8)
        tex = object_texture(rng, (h, w), 1.0, texture, size, cx - x0, cy - y0)
        if rng.random() < 0.4:  # thicker in the middle (drum, bag, rounded body)
            dist = cv2.distanceTransform(region[y0:y1, x0:x1].astype(np.uint8), cv2.DIST_L2, 3)
            tex = tex * (0.5 + 0.5 * np.sqrt(dist / max(float(dist.max()), 1.0)))
        canvas.img[y0:y1, x0:x1] += mu * soft * np.clip(tex, 0.2, 2.0)
        canvas.mask[y0:y1, x0:x1] = np.maximum(canvas.mask[y0:y1, x0:x1], region[y0:y1, x0:x1])

    return layer
