"""OpenCV pre-processing: decode 8/16-bit grey or colour images, match the card's channels, scale to float32.

Images stay in their source dtype (uint8 or uint16) until a tile is written into the batch
tensor, so a 4096x2048 image is converted to float32 once, tile by tile, straight into the
buffer onnxruntime reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from edge.inference.card import InputSpec

SUPPORTED_DTYPES = (np.uint8, np.uint16)


class ImageDecodeError(ValueError):
    """Bytes or a file that are not a readable image."""


def decode_image(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode PNG/JPEG/TIFF/... bytes keeping bit depth and channels (16-bit stays uint16)."""
    if not data:
        raise ImageDecodeError(f"{source}: empty file")
    buffer = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise ImageDecodeError(f"{source}: not a decodable image ({len(data)} bytes)")
    return image


def read_image(path: Path | str) -> np.ndarray:
    """Read and decode an image file (16-bit PNG/TIFF read as uint16)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageDecodeError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return decode_image(data, str(path))


def match_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """Grey (H, W) for channels=1, RGB (H, W, 3) for channels=3, from grey, BGR or BGRA input."""
    if image.dtype not in SUPPORTED_DTYPES:
        raise ImageDecodeError(f"unsupported pixel type {image.dtype}; expected uint8 or uint16")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return image if channels == 1 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ImageDecodeError(f"unsupported image shape {image.shape}")
    if image.shape[2] == 4:
        code = cv2.COLOR_BGRA2GRAY if channels == 1 else cv2.COLOR_BGRA2RGB
    else:
        code = cv2.COLOR_BGR2GRAY if channels == 1 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(image, code)


class Normaliser:
    """Writes uint8/uint16 tiles into a float32 NCHW batch as ((x / scale) - mean) / std.

    If the image's bit depth differs from the card's (a 16-bit scan on an 8-bit model or the
    reverse), the scale is adapted so that full white maps to the same value the card expects.
    """

    def __init__(self, spec: InputSpec, dtype: np.dtype) -> None:
        channels = spec.channels
        mean = np.broadcast_to(np.asarray(spec.mean, dtype=np.float64), (channels,))
        std = np.broadcast_to(np.asarray(spec.std, dtype=np.float64), (channels,))
        card_max = 255.0 if spec.bit_depth == 8 else 65535.0
        image_max = float(np.iinfo(dtype).max)
        scale = spec.scale * image_max / card_max
        self.alpha = np.array([1.0 / (scale * s) for s in std], dtype=np.float32).reshape(channels, 1, 1)
        self.beta = np.array([-m / s for m, s in zip(mean, std, strict=True)], dtype=np.float32).reshape(channels, 1, 1)
        self.shift = bool(np.any(self.beta != 0.0))
        self.channels = channels

    def fill(self, tiles: Sequence[np.ndarray], out: np.ndarray) -> np.ndarray:
        """Normalise tiles (H, W) or (H, W, C) into out[:len(tiles)] (N, C, H, W) float32; returns that view.

        Each tile is cast into the buffer as it is (uint -> float32 is exact), then the whole
        batch is scaled and shifted in one vectorised step: the same float32 x * alpha + beta
        as scaling tile by tile, in fewer and faster passes.
        """
        view = out[:len(tiles)]
        for i, tile in enumerate(tiles):
            np.copyto(view[i], tile if tile.ndim == 2 else tile.transpose(2, 0, 1), casting="unsafe")
        np.multiply(view, self.alpha, out=view)
        if self.shift:
            np.add(view, self.beta, out=view)
        return view

    def batch(self, tiles: Sequence[np.ndarray]) -> np.ndarray:
        """A new float32 NCHW batch from a list of same-size tiles."""
        h, w = tiles[0].shape[:2]
        return self.fill(tiles, np.empty((len(tiles), self.channels, h, w), dtype=np.float32))
