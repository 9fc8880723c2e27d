"""A DICOS DX for presentation from a PNG, TIFF or JPEG file's bytes (`kouan dicos write`, the hub's export).

The pixels are decoded as they are (cv2 `IMREAD_UNCHANGED`: 8-bit stays 8-bit, 16-bit stays 16-bit;
every TIFF page, so a dual-energy TIFF keeps its low-energy page as frame 2). A DX is grey: a colour
image is made grey (OpenCV's BGR to grey luma) and the DX says so (ImageType DERIVED,
DerivationDescription), an alpha channel is dropped and said too. What cannot be a DX (float
samples, three or more pages, pages of different sizes) is refused with a `ScanRefused` saying why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import cv2
import numpy as np
from pydicom.dataset import Dataset

from drivers.scanner.dicos import build_dicos_dx
from drivers.scanner.headers import ScanRefused, sniff_format

_GREY = {3: (cv2.COLOR_BGR2GRAY, "colour (BGR) image made grey with OpenCV's luma"),
         4: (cv2.COLOR_BGRA2GRAY, "colour (BGRA) image made grey with OpenCV's luma, alpha dropped")}


@dataclass(frozen=True)
class GreyPlanes:
    """The planes a DX holds (plane 0 first frame) and how they were derived from the file ("" if as read)."""

    planes: tuple[np.ndarray, ...]
    derivation: str


def _grey(page: np.ndarray, source: str) -> tuple[np.ndarray, str]:
    if page.dtype not in (np.uint8, np.uint16):
        raise ScanRefused("bit_depth", f"{source}: samples of type {page.dtype}; a DX takes 8- or 16-bit")
    if page.ndim == 2:
        return page, ""
    channels = page.shape[2] if page.ndim == 3 else 0
    if channels == 1:
        return page[:, :, 0], ""
    if channels == 2:
        return np.ascontiguousarray(page[:, :, 0]), "grey image's alpha channel dropped"
    if channels in _GREY:
        code, words = _GREY[channels]
        return cv2.cvtColor(page, code), words
    raise ScanRefused("planes", f"{source}: pixel layout {page.shape} is not an image a DX can hold")


def decode_grey_planes(data: bytes, source: str) -> GreyPlanes:
    """Decode an image file's bytes into one or two grey planes of one shape and type."""
    if not data:
        raise ScanRefused("decode", f"{source}: empty file")
    kind = sniff_format(data[:132])
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        if kind == "tiff":
            ok, pages = cv2.imdecodemulti(buffer, cv2.IMREAD_UNCHANGED)
            decoded = list(pages) if ok else []
        else:
            image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
            decoded = [] if image is None else [image]
    except cv2.error as exc:
        raise ScanRefused("decode", f"{source}: not a decodable image: {exc}") from None
    if not decoded or any(page.size == 0 for page in decoded):
        raise ScanRefused("decode", f"{source}: not a decodable image ({len(data)} bytes, "
                                    f"starts like {kind or 'no known format'})")
    if len(decoded) > 2:
        raise ScanRefused("planes", f"{source}: {len(decoded)} pages; a DX holds one (single energy) or two "
                                    "(high, low)")
    greys = [_grey(page, source) for page in decoded]
    planes = tuple(plane for plane, _ in greys)
    if any(p.shape != planes[0].shape or p.dtype != planes[0].dtype for p in planes):
        raise ScanRefused("planes", f"{source}: pages differ in size or type ({[p.shape for p in planes]}, "
                                    f"{[str(p.dtype) for p in planes]}); a DX's frames are alike")
    derivation = "; ".join(sorted({words for _, words in greys if words}))
    return GreyPlanes(planes, derivation)


def presentation_dx(grey: GreyPlanes, *, scan_id: str, scan_time: datetime, device: str,
                    containers: Sequence[str] = (), plate: str | None = None) -> Dataset:
    """The DICOS DX for presentation (501.2.1) of decoded planes."""
    return build_dicos_dx(grey.planes, scan_id=scan_id, scan_time=scan_time, device=device, containers=containers,
                          plate=plate, presentation=True, derivation=grey.derivation)
