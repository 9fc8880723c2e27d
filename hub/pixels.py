"""An image as raw samples for the reviewer's viewer, which windows 16-bit scans itself.

The raw form is every plane one after the other (a TIFF's pages or a DICOS's frames in order; a
colour image's channels as R, G, B[, A]), each row-major, samples little-endian uint8 or uint16;
`bits` is 8, or for 16-bit samples the file's significant bits (9 to 16, e.g. a DICOS's 12 stored
bits), the full scale a viewer windows from.
Decoding a 60 MB scan takes a while, so the result is cached beside the blob's hash as
`<root>/<aa>/<bb>/<sha>.raw` with its dimensions in `<sha>.raw.json`, both written to a temporary
file and renamed, so two hub processes making it at once leave one whole copy.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hub.blobs import BlobStore, check_sha
from hub.image_check import ImageRefused, inspect_image, media_type_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawPixels:
    """A cached raw image: the file and what a viewer needs to read it."""

    path: Path
    width: int
    height: int
    bits: int
    planes: int


def to_planes(pages: list[np.ndarray]) -> np.ndarray:
    """Decoded pages (h, w) or (h, w, BGR[A]) as one (planes, h, w) array, colour as R, G, B[, A]."""
    planes: list[np.ndarray] = []
    for page in pages:
        if page.ndim == 2:
            planes.append(page)
            continue
        channels = [page[:, :, i] for i in range(page.shape[2])]
        if len(channels) >= 3:
            channels[0], channels[2] = channels[2], channels[0]
        planes.extend(channels)
    dtype = np.uint16 if any(p.dtype == np.uint16 for p in planes) else np.uint8
    return np.stack([p.astype(dtype, copy=False) for p in planes])


def sample_bits(dtype: np.dtype, declared: int) -> int:
    """The bits a viewer takes as full scale: 8 for 8-bit samples; the file's own (e.g. a DICOS's 12 stored
    bits) for 16-bit samples, when it says 9 to 16."""
    if dtype.itemsize == 1:
        return 8
    return declared if 9 <= declared <= 16 else 16


def _write_atomic(path: Path, data: bytes | memoryview) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".pixels-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


class PixelCache:
    """Raw samples of blobs, made on first request and kept."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _paths(self, sha256: str) -> tuple[Path, Path]:
        check_sha(sha256)
        folder = self.root / sha256[:2] / sha256[2:4]
        return folder / f"{sha256}.raw", folder / f"{sha256}.raw.json"

    def cached(self, sha256: str) -> RawPixels | None:
        raw, meta = self._paths(sha256)
        try:
            facts = json.loads(meta.read_text(encoding="utf-8"))
            per_sample = 2 if facts["bits"] > 8 else 1
            if raw.stat().st_size != facts["width"] * facts["height"] * facts["planes"] * per_sample:
                return None
            return RawPixels(raw, **facts)
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def pixels(self, blobs: BlobStore, sha256: str) -> RawPixels:
        """The raw samples of blob `sha256` (BlobError if not stored; ImageRefused if it does not decode)."""
        found = self.cached(sha256)
        if found is not None:
            return found
        with blobs.local_file(sha256) as source:
            with source.open("rb") as handle:
                media_type = media_type_of(handle.read(132))
            if media_type is None:
                raise ImageRefused("unsupported", "the file is no image the hub knows")
            image, pages = inspect_image(source, media_type, max_side=1 << 31, max_pixels=1 << 62)  # checked at upload
        planes = to_planes(pages)
        raw, meta = self._paths(sha256)
        raw.parent.mkdir(parents=True, exist_ok=True)
        facts = {"width": int(planes.shape[2]), "height": int(planes.shape[1]),
                 "bits": sample_bits(planes.dtype, image.bits), "planes": int(planes.shape[0])}
        _write_atomic(meta, json.dumps(facts).encode())
        little = np.ascontiguousarray(planes, dtype=planes.dtype.newbyteorder("<"))
        _write_atomic(raw, memoryview(little).cast("B"))
        log.info("pixels: cached %s (%d x %d x %d, %d-bit)", sha256, facts["width"], facts["height"],
                 facts["planes"], facts["bits"])
        return RawPixels(raw, **facts)
