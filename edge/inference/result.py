"""What one inference returns: score, decision, regions in original pixels, reduced anomaly map."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Region:
    """One connected area of the anomaly map above the pixel threshold, in original image pixels."""

    x: int
    y: int
    width: int
    height: int
    score: float
    area: int
    polygon: list[tuple[int, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: box, score, area and polygon as [[x, y], ...]."""
        return {
            "box": [self.x, self.y, self.width, self.height],
            "score": round(self.score, 6),
            "area": self.area,
            "polygon": [[x, y] for x, y in self.polygon],
        }


@dataclass
class InferenceResult:
    """The outcome of running one model on one image."""

    score: float
    flagged: bool
    threshold: float
    regions: list[Region]
    anomaly_map: np.ndarray | None
    """Stitched anomaly map at reduced size (float32, same scale as the card's pixel_threshold)."""
    map_scale: tuple[float, float]
    """Original-image pixels per anomaly_map pixel, as (x, y)."""
    model: str
    version: str
    ms: float
    image_size: tuple[int, int]
    """Original image (width, height)."""
    tiles: int
    regions_dropped: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the anomaly map itself is left out: it is an array)."""
        return {
            "score": round(self.score, 6),
            "flagged": self.flagged,
            "threshold": self.threshold,
            "regions": [region.to_dict() for region in self.regions],
            "regions_dropped": self.regions_dropped,
            "model": self.model,
            "version": self.version,
            "ms": round(self.ms, 2),
            "width": self.image_size[0],
            "height": self.image_size[1],
            "tiles": self.tiles,
        }
