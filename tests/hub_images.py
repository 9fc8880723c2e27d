"""Image files for the hub's tests, made by real encoders (OpenCV, pydicom), plus hostile ones."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import datetime, timezone

import cv2
import numpy as np

from drivers.scanner.dicos import build_dicos_dx


def scan_planes(height: int = 40, width: int = 64, planes: int = 1, seed: int = 3) -> list[np.ndarray]:
    """16-bit grey planes with structure (a gradient and noise), so a wrong decode shows."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 60000, width, dtype=np.float64)[None, :].repeat(height, 0)
    return [(ramp + rng.integers(0, 5000, (height, width))).clip(0, 65535).astype(np.uint16) + i
            for i in range(planes)]


def encode(ext: str, image: np.ndarray, params: list[int] | None = None) -> bytes:
    ok, data = cv2.imencode(ext, image, params or [])
    assert ok, ext
    return data.tobytes()


def png16(height: int = 40, width: int = 64, seed: int = 3) -> bytes:
    return encode(".png", scan_planes(height, width, seed=seed)[0])


def png_colour(height: int = 30, width: int = 20) -> bytes:
    """An 8-bit BGR image: blue top half, red bottom half (so channel order can be checked)."""
    image = np.zeros((height, width, 3), np.uint8)
    image[: height // 2, :, 0] = 200
    image[height // 2:, :, 2] = 100
    return encode(".png", image)


def jpeg(height: int = 48, width: int = 64) -> bytes:
    image = np.zeros((height, width, 3), np.uint8)
    image[:, :, 1] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    return encode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])


def tiff(planes: int = 2, height: int = 40, width: int = 64) -> bytes:
    pages = scan_planes(height, width, planes)
    params = [cv2.IMWRITE_TIFF_COMPRESSION, 1]
    ok, data = cv2.imencodemulti(".tiff", pages, params) if planes > 1 else cv2.imencode(".tiff", pages[0], params)
    assert ok
    return data.tobytes()


def dicos(planes: int = 1, height: int = 40, width: int = 64) -> bytes:
    ds = build_dicos_dx(scan_planes(height, width, planes), scan_id="SCAN-1",
                        scan_time=datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc), device="scanner-1")
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int) -> bytes:
    """A small, well-formed PNG whose IHDR claims `width` x `height` 16-bit grey pixels (a bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def corrupt_middle(data: bytes) -> bytes:
    """The same length with bytes in the middle flipped (headers and end markers intact)."""
    mid = len(data) // 2
    return data[:mid] + bytes(b ^ 0x5A for b in data[mid:mid + 16]) + data[mid + 16:]


def tiff_lzw(height: int = 200, width: int = 300) -> bytes:
    """A 16-bit grey TIFF, LZW-compressed (only a decode proves it whole)."""
    return encode(".tiff", scan_planes(height, width)[0], [cv2.IMWRITE_TIFF_COMPRESSION, 5])


def tiff_tags(data: bytes) -> dict[int, int]:
    """Tag -> byte offset of its 12-byte entry in the first IFD of a little-endian TIFF."""
    ifd = struct.unpack("<I", data[4:8])[0]
    (count,) = struct.unpack("<H", data[ifd:ifd + 2])
    return {struct.unpack("<H", data[ifd + 2 + 12 * i:ifd + 4 + 12 * i])[0]: ifd + 2 + 12 * i for i in range(count)}


def tiff_strip_moved(data: bytes, past_end: int) -> bytes:
    """The same file, its last strip's offset moved to `past_end` bytes before the file's end, so the
    strip runs past it (the file's length and every other byte intact)."""
    out = bytearray(data)
    entry = tiff_tags(data)[273]  # StripOffsets
    kind, count = struct.unpack("<HI", out[entry + 2:entry + 8])
    width = 4 if kind == 4 else 2
    where = entry + 8 if count * width <= 4 else struct.unpack("<I", out[entry + 8:entry + 12])[0]
    last = where + (count - 1) * width
    out[last:last + width] = (len(data) - past_end).to_bytes(width, "little")
    return bytes(out)


def tiff_strip_counts_short(data: bytes) -> bytes:
    """A single-strip TIFF whose StripByteCounts says fewer bytes than its rows hold."""
    out = bytearray(data)
    entry = tiff_tags(data)[279]
    kind = struct.unpack("<H", out[entry + 2:entry + 4])[0]
    value = struct.unpack("<I" if kind == 4 else "<H", out[entry + 8:entry + (12 if kind == 4 else 10)])[0]
    out[entry + 8:entry + (12 if kind == 4 else 10)] = struct.pack("<I" if kind == 4 else "<H", value // 2)
    return bytes(out)
