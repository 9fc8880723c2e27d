"""Regions from a stitched anomaly map: connected components above the pixel threshold.

The map may be coarser than the image (graphs often return h/8 x w/8 maps, and images may
be resized before tiling); boxes, polygons and areas are scaled back to original pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.inference.result import Region


def find_regions(
    anomaly_map: np.ndarray,
    pixel_threshold: float,
    scale: tuple[float, float],
    image_size: tuple[int, int],
    min_area: int = 1,
    max_regions: int = 64,
) -> tuple[list[Region], int]:
    """Regions of `anomaly_map >= pixel_threshold`, scored by their peak value, highest first.

    `scale` is original pixels per map pixel (x, y); `image_size` is the original (width, height),
    used to clip boxes. Polygon vertices are the centres of the outline's map pixels, in
    original pixels. `min_area` is in original pixels. Returns (regions, number dropped
    because more than `max_regions` were found).
    """
    mask = (anomaly_map >= pixel_threshold).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    sx, sy = scale
    img_w, img_h = image_size
    regions: list[Region] = []
    for label in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[label])
        area_orig = round(area * sx * sy)
        if area_orig < min_area:
            continue
        own = labels[y:y + h, x:x + w] == label
        peak = float(anomaly_map[y:y + h, x:x + w][own].max())
        contours, _ = cv2.findContours(own.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        polygon: list[tuple[int, int]] = []
        if contours:
            outline = max(contours, key=cv2.contourArea)
            outline = cv2.approxPolyDP(outline, 1.0, True) if len(outline) > 32 else outline
            polygon = [(min(img_w - 1, round((x + int(px) + 0.5) * sx - 0.5)),
                        min(img_h - 1, round((y + int(py) + 0.5) * sy - 0.5)))
                       for px, py in outline[:, 0, :]]
        x0, y0 = round(x * sx), round(y * sy)
        x1, y1 = min(img_w, round((x + w) * sx)), min(img_h, round((y + h) * sy))
        regions.append(Region(x=x0, y=y0, width=x1 - x0, height=y1 - y0, score=peak,
                              area=area_orig, polygon=polygon))
    regions.sort(key=lambda region: region.score, reverse=True)
    dropped = max(0, len(regions) - max_regions)
    return regions[:max_regions], dropped
