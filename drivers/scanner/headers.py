"""What a scan file declares about itself, read from its header before any pixel is decoded.

A decoder asked for a 100,000 x 100,000 image allocates 20 GB first and asks questions later
(a decompression bomb). So the loader reads the dimensions, bit depth and planes from the
header (PNG IHDR, TIFF IFD tags, DICOM Rows/Columns) with a few small reads, refuses what is
over the limit or disagrees with the notice, and checks that the pixel data the header points
at lies inside the file (a truncated file is refused here, not half-decoded).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
TIFF_MAGICS = (b"II*\x00", b"MM\x00*")
BIGTIFF_MAGICS = (b"II+\x00", b"MM\x00+")
DICOM_MAGIC_OFFSET = 128
MAX_TIFF_PAGES = 4
MAX_TIFF_TAGS = 512
MAX_TIFF_STRIPS = 1_000_000

# TIFF tags read here (TIFF 6.0)
_WIDTH, _LENGTH, _BITS, _COMPRESSION, _PHOTOMETRIC = 256, 257, 258, 259, 262
_STRIP_OFFSETS, _SAMPLES, _STRIP_COUNTS, _TILE_OFFSETS, _TILE_COUNTS, _SAMPLE_FORMAT = 273, 277, 279, 324, 325, 339
_TIFF_TYPES = {3: ("H", 2), 4: ("I", 4)}  # SHORT, LONG: the only types these tags use


class ScanRefused(ValueError):
    """A scan file the edge will not use; `reason` is a short code for counters, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ImageHeader:
    """Dimensions as the file declares them: `pages` TIFF pages / DICOM frames, `samples` per pixel."""

    format: str
    width: int
    height: int
    bits: int
    samples: int = 1
    pages: int = 1
    detail: str = ""
    truncated: str = ""  # why the file is cut short, if the header says so (refused after the size limits)


def sniff_format(head: bytes) -> str | None:
    """"png", "tiff", "bigtiff", "dicos" (DICOM preamble + DICM) or None, from the first 132 bytes."""
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head[:4] in TIFF_MAGICS:
        return "tiff"
    if head[:4] in BIGTIFF_MAGICS:
        return "bigtiff"
    if head[DICOM_MAGIC_OFFSET:DICOM_MAGIC_OFFSET + 4] == b"DICM":
        return "dicos"
    return None


def _read_at(f: BinaryIO, offset: int, length: int, size: int, what: str) -> bytes:
    if offset < 0 or offset + length > size:
        raise ScanRefused("truncated", f"{what} at offset {offset} (+{length} bytes) lies beyond the end of "
                                       f"the file ({size} bytes): truncated or corrupt")
    f.seek(offset)
    data = f.read(length)
    if len(data) != length:
        raise ScanRefused("truncated", f"{what}: the file ended early")
    return data


def read_png_header(f: BinaryIO, size: int) -> ImageHeader:
    """IHDR (with its CRC checked) and the IEND chunk at the very end (a cut-off file lacks it)."""
    head = _read_at(f, 0, 33, size, "PNG IHDR")
    length, kind = struct.unpack(">I4s", head[8:16])
    if kind != b"IHDR" or length != 13:
        raise ScanRefused("corrupt", "PNG: the first chunk is not a 13-byte IHDR")
    if zlib.crc32(head[12:29]) != struct.unpack(">I", head[29:33])[0]:
        raise ScanRefused("corrupt", "PNG: IHDR CRC does not match")
    width, height, bits, colour, _compression, _filter, _interlace = struct.unpack(">IIBBBBB", head[16:29])
    if colour != 0:
        raise ScanRefused("bit_depth", f"PNG colour type {colour}: a scan is 16-bit grey (colour type 0)")
    cut = "" if _read_at(f, size - 12, 12, size, "PNG IEND") == PNG_IEND else \
        "PNG does not end with an IEND chunk: truncated"
    return ImageHeader("png", width, height, bits, truncated=cut)


def _tiff_values(f: BinaryIO, order: str, entry: bytes, size: int, limit: int) -> list[int]:
    tag, kind, count = struct.unpack(order + "HHI", entry[:8])
    if kind not in _TIFF_TYPES:
        raise ScanRefused("corrupt", f"TIFF tag {tag}: unexpected type {kind}")
    if count == 0:
        raise ScanRefused("corrupt", f"TIFF tag {tag} has no values (count 0)")
    if count > limit:
        raise ScanRefused("too_large", f"TIFF tag with {count} values, over the limit of {limit}")
    code, width = _TIFF_TYPES[kind]
    if count * width <= 4:
        raw = entry[8:8 + count * width]
    else:
        offset = struct.unpack(order + "I", entry[8:12])[0]
        raw = _read_at(f, offset, count * width, size, "TIFF tag values")
    dtype = np.dtype(("<" if order == "<" else ">") + ("u2" if code == "H" else "u4"))
    return np.frombuffer(raw, dtype=dtype).astype(np.int64).tolist()


def _tiff_data_end(f: BinaryIO, order: str, tags: dict[int, bytes], size: int) -> int:
    """The end of the last strip (or tile) the page points at (-1: none given), to catch a truncated file."""
    offsets_tag, counts_tag = (_STRIP_OFFSETS, _STRIP_COUNTS) if _STRIP_OFFSETS in tags else (_TILE_OFFSETS, _TILE_COUNTS)
    if offsets_tag not in tags or counts_tag not in tags:
        return -1
    offsets = _tiff_values(f, order, tags[offsets_tag], size, MAX_TIFF_STRIPS)
    counts = _tiff_values(f, order, tags[counts_tag], size, MAX_TIFF_STRIPS)
    if len(offsets) != len(counts):
        raise ScanRefused("corrupt", "TIFF: strip offsets and byte counts differ in number")
    return max((o + c for o, c in zip(offsets, counts)), default=0)


def read_tiff_header(f: BinaryIO, size: int) -> ImageHeader:
    """Every page's width, length, bits, samples and sample format (all pages must agree)."""
    head = _read_at(f, 0, 8, size, "TIFF header")
    if head[:4] in BIGTIFF_MAGICS:
        raise ScanRefused("wrong_magic", "BigTIFF is not accepted: a scan fits a classic TIFF")
    order = "<" if head[:2] == b"II" else ">"
    ifd = struct.unpack(order + "I", head[4:8])[0]
    pages: list[tuple[int, int, int, int]] = []
    seen: set[int] = set()
    compression = 1
    cut = ""
    while ifd:
        if ifd in seen:
            raise ScanRefused("corrupt", "TIFF page chain loops back on itself")
        if len(pages) == MAX_TIFF_PAGES:
            raise ScanRefused("planes", f"TIFF has more than {MAX_TIFF_PAGES} pages")
        seen.add(ifd)
        (count,) = struct.unpack(order + "H", _read_at(f, ifd, 2, size, "TIFF IFD"))
        if count > MAX_TIFF_TAGS:
            raise ScanRefused("corrupt", f"TIFF IFD with {count} tags")
        block = _read_at(f, ifd + 2, count * 12 + 4, size, "TIFF IFD")
        tags = {struct.unpack(order + "H", block[i:i + 2])[0]: block[i:i + 12] for i in range(0, count * 12, 12)}
        values = {tag: _tiff_values(f, order, tags[tag], size, 16)
                  for tag in (_WIDTH, _LENGTH, _BITS, _SAMPLES, _SAMPLE_FORMAT, _PHOTOMETRIC, _COMPRESSION)
                  if tag in tags}
        if _WIDTH not in values or _LENGTH not in values:
            raise ScanRefused("corrupt", "TIFF page lacks ImageWidth or ImageLength")
        width, height = values[_WIDTH][0], values[_LENGTH][0]
        samples = values.get(_SAMPLES, [1])[0]
        bits = set(values.get(_BITS, [1]))
        if len(bits) != 1:
            raise ScanRefused("bit_depth", f"TIFF samples of different depths {sorted(bits)}")
        if values.get(_SAMPLE_FORMAT, [1])[0] != 1:
            raise ScanRefused("bit_depth", "TIFF samples are not unsigned integers (SampleFormat != 1)")
        if values.get(_PHOTOMETRIC, [1])[0] not in (0, 1):
            raise ScanRefused("bit_depth", f"TIFF photometric interpretation {values[_PHOTOMETRIC][0]} is not grey")
        compression = values.get(_COMPRESSION, [1])[0]
        pages.append((width, height, bits.pop(), samples))
        end = _tiff_data_end(f, order, tags, size)
        if end < 0:
            cut = cut or f"TIFF page {len(pages)} has no strip or tile offsets and byte counts"
        elif end > size:
            cut = cut or f"TIFF page {len(pages)} data runs to byte {end}, the file has {size}: truncated"
        ifd = struct.unpack(order + "I", block[-4:])[0]
    if not pages:
        raise ScanRefused("corrupt", "TIFF has no pages")
    if len(set(pages)) != 1:
        raise ScanRefused("planes", f"TIFF pages differ in size or depth: {pages}")
    width, height, bits, samples = pages[0]
    return ImageHeader("tiff", width, height, bits, samples, len(pages), f"compression {compression}", cut)
