"""Is an uploaded file the image it claims to be? Checked before the hub keeps it.

In order, each a refusal with its code: the magic must be that of the claimed media type
(`bad_magic`); the header's dimensions must be within `max_side` and `width x height x planes`
within the pixel budget, read before anything is decoded (`bomb`); the pixel data the header
points at must lie inside the file and the whole file must decode (`truncated`; an uncompressed
TIFF or native DICOS whose header places every sample inside the file is proven whole by that and
a bounded sample instead, hub/image_extent.py); a well-formed file of a kind the viewer cannot show
(float samples, a colour TIFF, a DICOM that is not DICOS DX) is `unsupported`. The header readers are the scanner codec's (drivers/scanner/); PNG colour
types and JPEG, which scans never are, are read here.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from drivers.scanner.dicos import image_geometry, open_dicos, read_dicos_header, read_dicos_pixels
from drivers.scanner.headers import PNG_IEND, ImageHeader, ScanRefused, read_png_header, read_tiff_header, sniff_format
from hub.image_extent import native_dicos, uncompressed_tiff

log = logging.getLogger(__name__)
DEFAULT_MAX_PIXELS = 400_000_000
_KIND = {"image/png": "png", "image/tiff": "tiff", "image/jpeg": "jpeg", "application/dicom": "dicos"}
_REASON_CODE = {"truncated": "truncated", "corrupt": "truncated", "wrong_magic": "bad_magic"}  # else unsupported
_PNG_PLANES = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # colour type -> samples once decoded (a palette becomes RGB)
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_JPEG_MAX_SEGMENTS = 1000


class ImageRefused(ValueError):
    """A file the hub will not keep: `code` for counters and the wire `Refusal`, `detail` in words."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class ImageFacts:
    """What a checked image is: its size, bits per sample (as the header says) and sample planes."""

    width: int
    height: int
    bits: int
    planes: int


def _sniff(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    found = sniff_format(head)
    return "tiff" if found == "bigtiff" else found  # BigTIFF is refused by the TIFF reader, in words


def media_type_of(head: bytes) -> str | None:
    """The media type the file's first 132 bytes show, None for none the hub accepts."""
    found = _sniff(head)
    return next((media for media, kind in _KIND.items() if kind == found), None)


def _png_header(f: BinaryIO, size: int) -> ImageHeader:
    """The scanner's reader (IHDR with CRC, IEND); it takes grey only, so colour types are read here."""
    try:
        return read_png_header(f, size)
    except ScanRefused as exc:
        if exc.reason != "bit_depth":
            raise
    f.seek(16)
    width, height, bits, colour = struct.unpack(">IIBB", f.read(10))  # IHDR and its CRC were checked above
    if colour not in _PNG_PLANES:
        raise ScanRefused("corrupt", f"PNG colour type {colour} does not exist")
    f.seek(size - 12)
    cut = "" if f.read(12) == PNG_IEND else "PNG does not end with an IEND chunk: truncated"
    return ImageHeader("png", width, height, bits, samples=_PNG_PLANES[colour], truncated=cut)


def _jpeg_header(f: BinaryIO, size: int) -> ImageHeader:
    """The frame header (SOFn): height, width, precision, components; and the EOI marker at the end."""
    offset = 2
    for _ in range(_JPEG_MAX_SEGMENTS):
        f.seek(offset)
        marker = f.read(4)
        if len(marker) < 2 or marker[0] != 0xFF:
            raise ScanRefused("truncated", f"JPEG: no marker at byte {offset} (cut short or corrupt)")
        kind = marker[1]
        if kind == 0xFF:
            offset += 1  # fill byte
            continue
        if 0xD0 <= kind <= 0xD7 or kind == 0x01:
            offset += 2
            continue
        if kind in (0xD9, 0xDA) or len(marker) < 4:
            raise ScanRefused("truncated", "JPEG: no frame header (SOF) before the scan data")
        length = struct.unpack(">H", marker[2:4])[0]
        if kind in _JPEG_SOF:
            body = f.read(6)
            if len(body) < 6:
                raise ScanRefused("truncated", "JPEG frame header cut short")
            bits, height, width, components = struct.unpack(">BHHB", body)
            if height == 0 or width == 0:
                raise ScanRefused("format", "JPEG frame header declares no height or width (DNL is not accepted)")
            f.seek(max(size - 64, 0))
            cut = "" if f.read().rstrip(b"\x00").endswith(b"\xff\xd9") else "JPEG lacks its end marker (EOI): truncated"
            return ImageHeader("jpeg", width, height, bits, samples=components, truncated=cut)
        offset += 2 + length
    raise ScanRefused("corrupt", f"JPEG: no frame header within {_JPEG_MAX_SEGMENTS} segments")


def _read_header(kind: str, f: BinaryIO, size: int) -> ImageHeader:
    if kind == "png":
        return _png_header(f, size)
    if kind == "tiff":
        return read_tiff_header(f, size)
    if kind == "dicos":
        header = read_dicos_header(f, size)
        stored = image_geometry(open_dicos(f)).bits_stored  # the significant bits of the 16 allocated
        return ImageHeader(header.format, header.width, header.height, stored, header.samples, header.pages,
                           header.detail, header.truncated)
    return _jpeg_header(f, size)


def decode_pages(path: Path, media_type: str | None) -> list[np.ndarray]:
    """Every page (TIFF) or frame (DICOS) of the image, as decoded arrays (h, w) or (h, w, c) in BGR(A).

    Raises ImageRefused("truncated") when the file does not decode whole."""
    kind = _KIND.get(media_type or "")
    if kind is None:
        raise ImageRefused("unsupported", f"media type {media_type} is not accepted")
    try:
        if kind == "dicos":
            return list(read_dicos_pixels(path))
        data = np.fromfile(path, dtype=np.uint8)
        if kind == "tiff":
            ok, pages = cv2.imdecodemulti(data, cv2.IMREAD_UNCHANGED)
            if not ok or not pages:
                raise ImageRefused("truncated", "the TIFF does not decode")
            return list(pages)
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except ImageRefused:
        raise
    except ScanRefused as exc:
        raise ImageRefused("truncated", str(exc)) from None
    except (cv2.error, ValueError, OSError, AttributeError, KeyError, TypeError, EOFError) as exc:
        raise ImageRefused("truncated", f"the {kind.upper()} does not decode: {exc}") from None
    if image is None:
        raise ImageRefused("truncated", f"the {kind.upper()} does not decode")
    return [image]


def _planes(pages: list[np.ndarray]) -> int:
    return sum(1 if page.ndim == 2 else page.shape[2] for page in pages)


def _unexpected(path: Path, media_type: str, exc: Exception) -> ImageRefused:
    """A reader's unexpected exception as the refusal of a damaged file (the file name is the upload's SHA-256)."""
    log.warning("image %s (%s) refused: the image readers raised %s: %s", path.name, media_type,
                type(exc).__name__, exc)
    return ImageRefused(_REASON_CODE["corrupt"], f"the file cannot be read ({type(exc).__name__}: {exc})")


def check_image(path: Path, media_type: str, max_side: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageFacts:
    """The facts of the image at `path` claimed to be `media_type`, or ImageRefused saying why not.

    An uncompressed TIFF or a native DICOS whose header places every sample inside the file is
    proven whole by that and a bounded sample (hub/image_extent.py); anything else is decoded whole.
    Any other exception from the readers (a file they choke on) is ImageRefused too; OSError is the hub's own."""
    try:
        return _check(path, media_type, max_side, max_pixels)
    except (ImageRefused, OSError, MemoryError):
        raise
    except Exception as exc:
        raise _unexpected(path, media_type, exc) from exc


def _check(path: Path, media_type: str, max_side: int, max_pixels: int) -> ImageFacts:
    kind = _KIND.get(media_type)
    header = _checked_header(path, media_type, max_side, max_pixels)
    if kind in ("tiff", "dicos"):
        with path.open("rb") as f:
            size = path.stat().st_size
            sampled = uncompressed_tiff(f, size) if kind == "tiff" else native_dicos(f, size)
        if sampled is not None and sampled.pages == header.pages:
            return ImageFacts(header.width, header.height, header.bits, header.samples * header.pages)
    return _decoded(path, media_type, header)[0]


def inspect_image(path: Path, media_type: str, max_side: int,
                  max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[ImageFacts, list[np.ndarray]]:
    """`check_image`'s facts and every page decoded (always in whole: the viewer wants the pixels)."""
    try:
        return _decoded(path, media_type, _checked_header(path, media_type, max_side, max_pixels))
    except (ImageRefused, OSError, MemoryError):
        raise
    except Exception as exc:
        raise _unexpected(path, media_type, exc) from exc


def _checked_header(path: Path, media_type: str, max_side: int, max_pixels: int) -> ImageHeader:
    """The header, checked for magic, size limits (a bomb) and what it shows of truncation."""
    kind = _KIND.get(media_type)
    if kind is None:
        raise ImageRefused("unsupported", f"media type {media_type} is not accepted")
    size = path.stat().st_size
    with path.open("rb") as f:
        found = _sniff(f.read(132))
        if found != kind:
            raise ImageRefused("bad_magic", f"claimed {media_type}, but the file starts like "
                                            f"{found.upper() if found else 'no image the hub knows'}")
        try:
            header = _read_header(kind, f, size)
        except ScanRefused as exc:
            raise ImageRefused(_REASON_CODE.get(exc.reason, "unsupported"), str(exc)) from None
    planes = header.samples * header.pages
    if max(header.width, header.height) > max_side:
        raise ImageRefused("bomb", f"header declares {header.width} x {header.height} pixels, over the limit "
                                   f"of {max_side} a side")
    if header.width * header.height * planes > max_pixels:
        raise ImageRefused("bomb", f"header declares {header.width} x {header.height} x {planes} samples, over "
                                   f"the budget of {max_pixels}")
    if header.truncated:
        raise ImageRefused("truncated", header.truncated)
    return header


def _decoded(path: Path, media_type: str, header: ImageHeader) -> tuple[ImageFacts, list[np.ndarray]]:
    pages = decode_pages(path, media_type)
    for page in pages:
        if page.shape[:2] != (header.height, header.width):
            raise ImageRefused("truncated", f"decodes to {page.shape[1]} x {page.shape[0]}, the header says "
                                            f"{header.width} x {header.height}")
        if page.dtype not in (np.uint8, np.uint16):
            raise ImageRefused("unsupported", f"samples of type {page.dtype}: the viewer takes 8- or 16-bit")
    return ImageFacts(header.width, header.height, header.bits, _planes(pages)), pages
