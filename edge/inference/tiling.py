"""Cut large images into overlapping model-sized tiles and stitch the per-tile anomaly maps back.

The last tile of a row or column is shifted in so it ends at the image border (it overlaps
its neighbour more) instead of running past the border into padding. Only an image smaller
than one tile is padded, by reflection, and that padding is cropped off the stitched map.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size `tile` covering [0, length) with at least `overlap` overlap."""
    if length <= tile:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


@dataclass(frozen=True)
class TileGrid:
    """Tile positions for one (possibly padded) image."""

    height: int
    width: int
    tile_h: int
    tile_w: int
    ys: list[int]
    xs: list[int]

    @property
    def positions(self) -> list[tuple[int, int]]:
        """(y, x) of every tile's top-left corner, row by row."""
        return [(y, x) for y in self.ys for x in self.xs]

    def __len__(self) -> int:
        return len(self.ys) * len(self.xs)


def make_grid(height: int, width: int, tile_h: int, tile_w: int, overlap: int) -> TileGrid:
    """The grid for an image of at least tile size (pad smaller images first)."""
    if height < tile_h or width < tile_w:
        raise ValueError(f"image {width}x{height} smaller than tile {tile_w}x{tile_h}; pad it first")
    return TileGrid(height, width, tile_h, tile_w,
                    tile_starts(height, tile_h, overlap), tile_starts(width, tile_w, overlap))


def pad_to_tile(image: np.ndarray, tile_h: int, tile_w: int) -> np.ndarray:
    """Reflect-pad an image up to at least one tile in each direction (bottom and right only)."""
    h, w = image.shape[:2]
    pad_h, pad_w = max(0, tile_h - h), max(0, tile_w - w)
    if pad_h == 0 and pad_w == 0:
        return image
    border = cv2.BORDER_REFLECT_101 if min(h, w) > 1 else cv2.BORDER_REPLICATE
    return cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, border)


class MapStitcher:
    """Merges per-tile anomaly maps (possibly smaller than the tile) into one map of the whole image."""

    def __init__(self, grid: TileGrid, map_h: int, map_w: int, valid_hw: tuple[int, int],
                 blend: Literal["max", "mean"] = "max") -> None:
        self.grid = grid
        self.map_h, self.map_w = map_h, map_w
        self.fy, self.fx = map_h / grid.tile_h, map_w / grid.tile_w
        self.canvas_h = max(map_h, round(grid.height * self.fy))
        self.canvas_w = max(map_w, round(grid.width * self.fx))
        self.valid_h = max(1, min(self.canvas_h, round(valid_hw[0] * self.fy)))
        self.valid_w = max(1, min(self.canvas_w, round(valid_hw[1] * self.fx)))
        self.blend = blend
        if blend == "max":
            self._acc = np.full((self.canvas_h, self.canvas_w), -np.inf, dtype=np.float32)
            self._count = None
        else:
            self._acc = np.zeros((self.canvas_h, self.canvas_w), dtype=np.float32)
            self._count = np.zeros((self.canvas_h, self.canvas_w), dtype=np.float32)

    def _offset(self, y: int, x: int) -> tuple[int, int]:
        my = min(round(y * self.fy), self.canvas_h - self.map_h)
        mx = min(round(x * self.fx), self.canvas_w - self.map_w)
        return my, mx

    def add(self, y: int, x: int, tile_map: np.ndarray) -> None:
        """Merge the map of the tile whose top-left corner is (y, x) in image pixels."""
        my, mx = self._offset(y, x)
        window = self._acc[my:my + self.map_h, mx:mx + self.map_w]
        if self._count is None:
            np.maximum(window, tile_map, out=window)
        else:
            window += tile_map
            self._count[my:my + self.map_h, mx:mx + self.map_w] += 1.0

    def result(self) -> np.ndarray:
        """The stitched map cropped to the unpadded image, float32 (H*fy, W*fx)."""
        if self._count is None:
            out = self._acc
        else:
            out = self._acc / np.maximum(self._count, 1.0)
        return out[:self.valid_h, :self.valid_w]

    def coverage(self) -> np.ndarray:
        """How many tiles contributed to each map pixel (only tracked for 'mean')."""
        if self._count is None:
            raise ValueError("coverage is only tracked when blend='mean'")
        return self._count[:self.valid_h, :self.valid_w]
