"""Proof from the header alone that an uncompressed image's samples all lie inside the file.

A full decode proves a compressed file whole: only the decoder knows where its data ends. An
uncompressed one says exactly where every sample is (a TIFF's strips, a DICOS's native Pixel Data),
and every byte there is a valid sample, so if those extents lie inside the file it cannot be cut
short, and decoding all of it adds nothing but time (~85 ms for a 30 MB scan). Here:

- `uncompressed_tiff(f, size)`: every page of the TIFF is compression 1, strips (no tiles), one
  8- or 16-bit sample per pixel, BlackIsZero, and each of its ceil(height / RowsPerStrip) strips
  holds at least its rows' bytes inside the file; then the first, middle and last rows of each page
  are decoded (a bounded sample, at most a few rows of `max_side` samples). Anything else answers
  None, and the caller decodes the whole file (libtiff's own leniencies stay the judge there).
- `native_dicos(f, size)`: the DICOS's Pixel Data (already checked by the scanner's reader to be
  exactly Rows x Columns x frames x 2 bytes inside the file, native little endian) sampled alike.

Both raise nothing of their own for a layout they do not take: the full decode is always the
fallback, so this can only skip work, never accept what the decode would refuse. The viewer decodes
the whole image when it first asks for the pixels (hub/pixels.py).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from drivers.scanner.dicos import image_geometry, open_dicos
from drivers.scanner.headers import MAX_TIFF_PAGES, MAX_TIFF_STRIPS, MAX_TIFF_TAGS, ScanRefused

_WIDTH, _LENGTH, _BITS, _COMPRESSION, _PHOTOMETRIC = 256, 257, 258, 259, 262
_STRIP_OFFSETS, _SAMPLES, _ROWS_PER_STRIP, _STRIP_COUNTS, _PLANAR = 273, 277, 278, 279, 284
_TILE_WIDTH = 322
_PIXEL_DATA = 0x7FE00010
_TYPES = {3: "u2", 4: "u4"}  # SHORT, LONG


@dataclass(frozen=True)
class Sampled:
    """What the bounded sample decoded: rows per page (each of the page's width), samples of `dtype`."""

    pages: int
    rows: int
    dtype: str


class _NotPlain(Exception):
    """The layout is not one this module proves: decode the whole file instead."""


def _read(f: BinaryIO, offset: int, length: int, size: int) -> bytes:
    if offset < 0 or length < 0 or offset + length > size:
        raise _NotPlain
    f.seek(offset)
    data = f.read(length)
    if len(data) != length:
        raise _NotPlain
    return data


def _values(f: BinaryIO, order: str, entry: bytes, size: int) -> np.ndarray:
    kind, count = struct.unpack(order + "HI", entry[2:8])
    if kind not in _TYPES or not 0 < count <= MAX_TIFF_STRIPS:
        raise _NotPlain
    dtype = np.dtype(order + _TYPES[kind])
    length = count * dtype.itemsize
    raw = entry[8:8 + length] if length <= 4 else _read(f, struct.unpack(order + "I", entry[8:12])[0], length, size)
    return np.frombuffer(raw, dtype=dtype).astype(np.int64)


def _one(f: BinaryIO, order: str, tags: dict[int, bytes], tag: int, size: int, default: int | None = None) -> int:
    if tag not in tags:
        if default is None:
            raise _NotPlain
        return default
    values = _values(f, order, tags[tag], size)
    if len(values) != 1 and tag != _BITS:
        raise _NotPlain
    if len(set(values.tolist())) != 1:
        raise _NotPlain
    return int(values[0])


def _rows(f: BinaryIO, offsets: list[int], row_bytes: int, rows_per_strip: int, height: int, dtype: np.dtype,
          width: int, size: int) -> np.ndarray:
    """The first, middle and last rows of a page, decoded from their strips."""
    picked = sorted({0, height // 2, height - 1})
    rows = []
    for row in picked:
        strip, within = divmod(row, rows_per_strip)
        rows.append(np.frombuffer(_read(f, offsets[strip] + within * row_bytes, row_bytes, size), dtype=dtype))
    return np.stack(rows).reshape(len(picked), width)


def uncompressed_tiff(f: BinaryIO, size: int) -> Sampled | None:
    """A bounded sample of a plain uncompressed TIFF whose strips all lie inside the file; None otherwise."""
    try:
        head = _read(f, 0, 8, size)
        order = "<" if head[:2] == b"II" else ">"
        ifd = struct.unpack(order + "I", head[4:8])[0]
        pages, rows, dtype_name = 0, 0, ""
        seen: set[int] = set()
        while ifd:
            if ifd in seen or pages == MAX_TIFF_PAGES:
                raise _NotPlain
            seen.add(ifd)
            (count,) = struct.unpack(order + "H", _read(f, ifd, 2, size))
            if count > MAX_TIFF_TAGS:
                raise _NotPlain
            block = _read(f, ifd + 2, count * 12 + 4, size)
            tags = {struct.unpack(order + "H", block[i:i + 2])[0]: block[i:i + 12] for i in range(0, count * 12, 12)}
            sampled = _page(f, order, tags, size)
            pages += 1
            rows += sampled.shape[0]
            dtype_name = str(sampled.dtype)
            ifd = struct.unpack(order + "I", block[-4:])[0]
        return Sampled(pages, rows, dtype_name) if pages else None
    except (_NotPlain, struct.error, ValueError, OSError):
        return None


def _page(f: BinaryIO, order: str, tags: dict[int, bytes], size: int) -> np.ndarray:
    if _TILE_WIDTH in tags or _one(f, order, tags, _COMPRESSION, size, 1) != 1:
        raise _NotPlain
    if _one(f, order, tags, _SAMPLES, size, 1) != 1 or _one(f, order, tags, _PHOTOMETRIC, size) != 1:
        raise _NotPlain
    if _one(f, order, tags, _PLANAR, size, 1) != 1:
        raise _NotPlain
    bits = _one(f, order, tags, _BITS, size, 1)
    if bits not in (8, 16):
        raise _NotPlain
    width, height = _one(f, order, tags, _WIDTH, size), _one(f, order, tags, _LENGTH, size)
    if width <= 0 or height <= 0:
        raise _NotPlain
    rows_per_strip = min(_one(f, order, tags, _ROWS_PER_STRIP, size, 2 ** 32 - 1), height)
    if rows_per_strip <= 0 or _STRIP_OFFSETS not in tags or _STRIP_COUNTS not in tags:
        raise _NotPlain
    offsets = _values(f, order, tags[_STRIP_OFFSETS], size)
    counts = _values(f, order, tags[_STRIP_COUNTS], size)
    strips = -(-height // rows_per_strip)
    if len(offsets) != strips or len(counts) != strips:
        raise _NotPlain
    row_bytes = width * bits // 8
    needed = np.full(strips, rows_per_strip * row_bytes, dtype=np.int64)
    needed[-1] = (height - (strips - 1) * rows_per_strip) * row_bytes
    if bool((counts < needed).any()) or bool((offsets < 0).any()) or int((offsets + needed).max()) > size:
        raise _NotPlain  # short or outside: libtiff decides, on the whole file
    dtype = np.dtype(order + "u2") if bits == 16 else np.dtype(np.uint8)
    return _rows(f, offsets.tolist(), row_bytes, rows_per_strip, height, dtype, width, size)


def native_dicos(f: BinaryIO, size: int) -> Sampled | None:
    """A bounded sample of a DICOS whose native 16-bit Pixel Data is exactly its frames inside the file."""
    try:
        ds = open_dicos(f)
        g = image_geometry(ds)
        element = ds.get_item(_PIXEL_DATA, keep_deferred=True) if _PIXEL_DATA in ds else None
        if element is None or g.bits_allocated != 16 or g.samples != 1 or g.rows <= 0 or g.columns <= 0:
            return None
        tell, length = int(getattr(element, "value_tell", 0) or 0), int(getattr(element, "length", -1))
        frame_bytes = g.rows * g.columns * 2
        if tell <= 0 or length != frame_bytes * g.frames + (frame_bytes * g.frames & 1) or tell + length > size:
            return None
        row_bytes = g.columns * 2
        picked = sorted({0, (g.frames * g.rows) // 2, g.frames * g.rows - 1})
        rows = [np.frombuffer(_read(f, tell + row * row_bytes, row_bytes, size), dtype="<u2") for row in picked]
        return Sampled(g.frames, len(np.stack(rows)), "uint16")
    except (_NotPlain, ScanRefused, struct.error, ValueError, OSError, AttributeError, KeyError, TypeError):
        return None
