"""Find, read and tile a site's normal images exactly the way the inference core will see them.

Reading, channel matching, resizing and tiling reuse edge.inference.preprocess and
edge.inference.tiling, so the statistics are fitted on the same tensors the model is later
run on. An unreadable file is reported by name and skipped, never silently dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.inference.preprocess import (
    ImageDecodeError,
    match_channels,
    read_image,
)
from edge.inference.resize import resize_to_height
from edge.inference.tiling import make_grid, pad_to_tile

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".pgm", ".ppm", ".pnm"}


class FitInputError(ValueError):
    """The normal-image folder cannot be used for fitting; the message says why."""


@dataclass
class NormalImage:
    """One readable normal image in its source dtype (grey [H,W] or RGB [H,W,3])."""

    path: Path
    pixels: np.ndarray


@dataclass
class NormalSet:
    """Readable images of a folder, the files that were skipped and why, and their common format."""

    images: list[NormalImage]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    channels: int = 1
    bit_depth: int = 8


def list_image_files(folder: Path) -> list[Path]:
    """Image files directly in `folder` (by suffix), sorted by name."""
    if not folder.is_dir():
        raise FitInputError(f"--normal {folder}: not a folder")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_normal_set(folder: Path, min_images: int) -> NormalSet:
    """Read every image of `folder`; skip (and name) unreadable ones; demand `min_images` readable."""
    files = list_image_files(folder)
    if not files:
        raise FitInputError(f"--normal {folder}: no image files (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    images: list[NormalImage] = []
    skipped: list[tuple[Path, str]] = []
    for path in files:
        try:
            raw = read_image(path)
            if raw.dtype not in (np.uint8, np.uint16):
                raise ImageDecodeError(f"{path}: unsupported pixel type {raw.dtype}")
        except ImageDecodeError as exc:
            log.warning("skipping unreadable normal image %s: %s", path, exc)
            skipped.append((path, str(exc)))
            continue
        images.append(NormalImage(path, raw))
    if len(images) < min_images:
        raise FitInputError(
            f"--normal {folder}: {len(images)} readable image(s), at least {min_images} are needed "
            f"to fit and to choose a threshold ({len(skipped)} unreadable skipped)"
        )
    colour = sum(1 for im in images if im.pixels.ndim == 3 and im.pixels.shape[2] in (3, 4))
    channels = 3 if colour * 2 > len(images) else 1
    deep = sum(1 for im in images if im.pixels.dtype == np.uint16)
    bit_depth = 16 if deep * 2 > len(images) else 8
    for im in images:
        im.pixels = match_channels(im.pixels, channels)
    return NormalSet(images, skipped, channels, bit_depth)


def to_float(pixels: np.ndarray) -> np.ndarray:
    """[H,W] or [H,W,C] uint -> float32 [C,H,W] in [0,1] (the core's scaling with mean 0, std 1)."""
    scale = 65535.0 if pixels.dtype == np.uint16 else 255.0
    arr = pixels.astype(np.float32) / scale
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def prepare(pixels: np.ndarray, resize_height: int | None) -> np.ndarray:
    """The core's optional resize to a fixed height (aspect kept)."""
    return resize_to_height(pixels, resize_height) if resize_height is not None else pixels


def tiles_of(pixels: np.ndarray, tile_h: int, tile_w: int, overlap: int, max_tiles: int,
             rng: np.random.Generator) -> list[np.ndarray]:
    """Float tiles [C,h,w] of one image on the core's grid; at most `max_tiles`, evenly sampled."""
    padded = pad_to_tile(pixels, tile_h, tile_w)
    grid = make_grid(padded.shape[0], padded.shape[1], tile_h, tile_w, overlap)
    positions = grid.positions
    if len(positions) > max_tiles:
        keep = np.sort(rng.choice(len(positions), max_tiles, replace=False))
        positions = [positions[i] for i in keep]
    return [to_float(padded[y:y + tile_h, x:x + tile_w]) for y, x in positions]
