"""Draw an inference result over its image: colour-mapped anomaly map, region boxes and outlines."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.inference.result import InferenceResult

MAP_ALPHA = 0.4
BOX_COLOUR = (0, 0, 255)
OUTLINE_COLOUR = (0, 255, 255)


def to_display(image: np.ndarray) -> np.ndarray:
    """8-bit BGR view of any supported image; 16-bit is windowed to its 0.5-99.5 percentiles."""
    if image.dtype == np.uint16:
        low, high = np.percentile(image[::4, ::4], (0.5, 99.5))
        scale = 255.0 / max(float(high - low), 1.0)
        image = cv2.convertScaleAbs(image, alpha=scale, beta=-float(low) * scale)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image.copy()


def render_heatmap(image: np.ndarray, result: InferenceResult, pixel_threshold: float | None) -> np.ndarray:
    """The image with the anomaly map blended over it (JET from map minimum to max(map maximum,
    twice the pixel threshold), so a clean map stays blue) and the regions drawn."""
    canvas = to_display(image)
    h, w = canvas.shape[:2]
    if result.anomaly_map is not None:
        amap = result.anomaly_map.astype(np.float32)
        low, high = float(amap.min()), float(amap.max())
        if pixel_threshold is not None and pixel_threshold > low:
            high = max(high, low + 2.0 * (pixel_threshold - low))  # threshold at mid-scale or below
        norm = (amap - low) / max(high - low, 1e-12)
        grey = np.clip(norm * 255.0, 0, 255).astype(np.uint8)
        coloured = cv2.applyColorMap(cv2.resize(grey, (w, h), interpolation=cv2.INTER_LINEAR), cv2.COLORMAP_JET)
        canvas = cv2.addWeighted(canvas, 1.0 - MAP_ALPHA, coloured, MAP_ALPHA, 0.0)
    thickness = max(1, round(max(h, w) / 800))
    for region in result.regions:
        if len(region.polygon) >= 2:
            points = np.array(region.polygon, dtype=np.int32).reshape(-1, 1, 2)
            cv2.polylines(canvas, [points], True, OUTLINE_COLOUR, thickness)
        cv2.rectangle(canvas, (region.x, region.y), (region.x + region.width, region.y + region.height),
                      BOX_COLOUR, thickness)
        cv2.putText(canvas, f"{region.score:.3g}", (region.x, max(12, region.y - 4)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, BOX_COLOUR, thickness)
    return canvas


def write_heatmap(path: Path, image: np.ndarray, result: InferenceResult, pixel_threshold: float | None) -> None:
    """Render and save as PNG; raises OSError if it cannot be written."""
    if not cv2.imwrite(str(path), render_heatmap(image, result, pixel_threshold)):
        raise OSError(f"could not write heatmap {path}")
