"""Verifying and decoding one scan file against its notice, into a typed `ContainerScan`.

Order, cheapest refusal first and nothing decoded before it is known to be sane:
1. the path is a regular file (no symlink) whose size is the notice's `size_bytes`;
2. SHA-256 over the file in 1 MiB chunks through one reused buffer (a 60 MB scan is never held
   as bytes, so it is never in memory twice: only the decoded pixels are);
3. the magic bytes are the notice's format;
4. the header's dimensions against the limit (a decompression bomb is refused here), its bit
   depth, its planes, the notice's width/height, and that the pixel data lies inside the file;
5. decode (cv2 for TIFF/PNG, pydicom for DICOS), shape and dtype checked again;
6. the file is still the one that was hashed (same inode, size and mtime), so a file replaced
   between hashing and decoding is refused rather than trusted.
Every refusal is a `ScanRefused` (a ValueError) with a reason code and a message saying why.

Dual energy: TIFF as two pages, PNG as one grey image of twice the height (high energy on top,
low energy below), DICOS as two frames; plane 0 is always high energy, plane 1 low energy.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from drivers.scanner.dicos import read_dicos_header, read_dicos_pixels
from drivers.scanner.headers import ImageHeader, ScanRefused, read_png_header, read_tiff_header, sniff_format
from drivers.scanner.notice import ScanNotice

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
DEFAULT_MAX_SIDE = 20_000


@dataclass(frozen=True)
class ScanLimits:
    """What the edge accepts: `max_side` pixels per plane side, `max_file_bytes` per file."""

    max_side: int = DEFAULT_MAX_SIDE
    max_file_bytes: int = 512 * 1024 * 1024


@dataclass(frozen=True, eq=False)
class ContainerScan:
    """One verified, decoded scan: `planes[0]` high (or single) energy, `planes[1]` low energy."""

    notice: ScanNotice
    path: str
    planes: tuple[np.ndarray, ...]
    hash_s: float
    decode_s: float

    @property
    def high(self) -> np.ndarray:
        return self.planes[0]

    @property
    def low(self) -> np.ndarray | None:
        return self.planes[1] if len(self.planes) > 1 else None

    @property
    def sha256(self) -> str:
        return self.notice.sha256

    @property
    def scan_time(self) -> datetime:
        return self.notice.scan_time


def sha256_file(f: BinaryIO, chunk: int = CHUNK_BYTES) -> tuple[str, int]:
    """(hex digest, bytes read) of an open binary file from its start, in chunks of one reused buffer."""
    digest = hashlib.sha256()
    buffer = bytearray(chunk)
    view = memoryview(buffer)
    total = 0
    f.seek(0)
    while True:
        n = f.readinto(buffer)  # type: ignore[attr-defined]  # BinaryIO lacks readinto in typeshed
        if not n:
            return digest.hexdigest(), total
        digest.update(view[:n])
        total += n


def _check_header(header: ImageHeader, notice: ScanNotice, limits: ScanLimits) -> None:
    """Limits first (a bomb is refused whatever the notice says), then depth, planes, notice dimensions."""
    stacked = notice.format == "png" and notice.planes == 2
    plane_height = header.height // 2 if stacked else header.height
    if header.width > limits.max_side or plane_height > limits.max_side:
        raise ScanRefused("too_large", f"{header.format} header declares {header.width} x {header.height}, over the "
                                       f"limit of {limits.max_side} x {limits.max_side} per plane; not decoded")
    if header.bits != 16:
        raise ScanRefused("bit_depth", f"{header.format} samples are {header.bits}-bit, a scan is 16-bit")
    planes = header.pages * header.samples
    if header.samples != 1 or (not stacked and planes != notice.planes) or (stacked and planes != 1):
        layout = "two TIFF pages" if notice.format == "tiff" else "two DICOM frames" if notice.format == "dicos" \
            else "one image of twice the height"
        raise ScanRefused("planes", f"{header.format} holds {header.pages} page(s)/frame(s) of {header.samples} "
                                    f"sample(s); a {notice.energy}-energy scan is "
                                    f"{'one grey plane' if notice.planes == 1 else layout}")
    want = (notice.width, notice.height * (2 if stacked else 1))
    if (header.width, header.height) != want:
        raise ScanRefused("dimensions", f"{header.format} is {header.width} x {header.height}, the notice says "
                                        f"{notice.width} x {notice.height} ({notice.energy} energy)")
    if header.truncated:
        raise ScanRefused("truncated", header.truncated)


def _decode(path: str, notice: ScanNotice) -> tuple[np.ndarray, ...]:
    """The planes, each (height, width) uint16; ScanRefused when the decoder fails or disagrees."""
    if notice.format == "dicos":
        planes = read_dicos_pixels(path)
    elif notice.format == "tiff" and notice.planes == 2:
        # one page at a time: imreadmulti's pages are copied into numpy by the binding, so reading both
        # at once would briefly hold the pixels twice
        pages = [cv2.imreadmulti(path, start=i, count=1, flags=cv2.IMREAD_UNCHANGED) for i in range(2)]
        planes = tuple(page[0] for ok, page in pages if ok and len(page) == 1)
    else:
        image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if image is None:
            planes = ()
        elif notice.format == "png" and notice.planes == 2:
            planes = (image[: notice.height], image[notice.height:])
        else:
            planes = (image,)
    if len(planes) != notice.planes:
        raise ScanRefused("decode", f"{notice.format} could not be decoded into {notice.planes} plane(s)")
    for plane in planes:
        if plane.dtype != np.uint16 or plane.shape != (notice.height, notice.width):
            raise ScanRefused("decode", f"decoded {notice.format} plane is {plane.dtype} {plane.shape}, expected "
                                        f"uint16 ({notice.height}, {notice.width})")
    return planes


def load_scan(path: str | Path, notice: ScanNotice, limits: ScanLimits | None = None) -> ContainerScan:
    """Verify the file at `path` against `notice` and decode it; `ScanRefused` (ValueError) saying why."""
    limits = limits or ScanLimits()
    path = os.fspath(path)
    if notice.size_bytes > limits.max_file_bytes:
        raise ScanRefused("too_large", f"notice announces {notice.size_bytes} bytes, over the limit of "
                                       f"{limits.max_file_bytes}")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise ScanRefused("missing", f"scan file {path} cannot be opened: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        before = os.fstat(f.fileno())
        if not stat.S_ISREG(before.st_mode):
            raise ScanRefused("not_regular", f"scan file {path} is not a regular file")
        if before.st_size != notice.size_bytes:
            cut = before.st_size < notice.size_bytes
            raise ScanRefused("truncated" if cut else "size", f"scan file is {before.st_size} bytes, the notice says "
                                                              f"{notice.size_bytes}{': truncated' if cut else ''}")
        started = time.perf_counter()
        digest, read = sha256_file(f)
        hash_s = time.perf_counter() - started
        if read != notice.size_bytes:
            raise ScanRefused("changed", f"scan file gave {read} bytes while hashed, {notice.size_bytes} expected")
        if digest != notice.sha256:
            raise ScanRefused("hash_mismatch", f"scan file SHA-256 is {digest}, the notice says {notice.sha256}")
        f.seek(0)
        found = sniff_format(f.read(132))
        if found != notice.format:
            raise ScanRefused("wrong_magic", f"scan file starts like {found or 'no known format'}, the notice says "
                                             f"{notice.format}")
        reader = {"png": read_png_header, "tiff": read_tiff_header, "dicos": read_dicos_header}[notice.format]
        _check_header(reader(f, before.st_size), notice, limits)
    started = time.perf_counter()
    try:
        planes = _decode(path, notice)
    except cv2.error as exc:  # OpenCV raises on some damaged files instead of returning None
        raise ScanRefused("decode", f"{notice.format} cannot be decoded: {exc}") from None
    decode_s = time.perf_counter() - started
    after = os.stat(path, follow_symlinks=False)
    if (after.st_ino, after.st_size, after.st_mtime_ns) != (before.st_ino, before.st_size, before.st_mtime_ns):
        raise ScanRefused("changed", f"scan file {path} was replaced or modified while it was read")
    logger.debug("scan %s verified (%s, %d bytes) in %.3f s, decoded in %.3f s", notice.scan_id, notice.sha256,
                 notice.size_bytes, hash_s, decode_s)
    return ContainerScan(notice, path, planes, hash_s, decode_s)
