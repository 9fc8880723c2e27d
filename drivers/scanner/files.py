"""Writing a scan file the way a scanner must: `<name>.part` first, renamed to `<name>` when complete.

The watched-folder rule for vendors: write the whole file under the temporary name, flush and
fsync it, then rename it to its final name in the same folder (atomic on POSIX). The edge never
opens `*.part` files and hands a renamed file over at once. The same layouts the loader reads:
TIFF uncompressed, one page per plane; PNG 16-bit grey, two planes stacked top (high) to bottom
(low); DICOS DX for processing, one frame per plane.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from drivers.scanner.dicos import write_dicos
from drivers.scanner.notice import EXTENSIONS, PART_SUFFIX

log = logging.getLogger(__name__)


def file_name_for(scan_id: str, fmt: str) -> str:
    """The file name a scan gets in the folder: `<scan id>` plus the format's first extension."""
    return scan_id.replace(":", "-") + EXTENSIONS[fmt][0]


def encode_to(path: Path, planes: Sequence[np.ndarray], fmt: str, *, scan_id: str, scan_time: datetime,
              device: str, containers: Sequence[str] = (), plate: str | None = None, png_level: int = 1) -> None:
    """Write `planes` to `path` (any name; no rename here) in `fmt`'s layout."""
    if fmt == "dicos":
        write_dicos(path, planes, scan_id=scan_id, scan_time=scan_time, device=device, containers=containers,
                    plate=plate)
        return
    # encoded in memory, then written to `path`: cv2 picks its encoder by extension, which a .part lacks
    if fmt == "tiff":
        params = [cv2.IMWRITE_TIFF_COMPRESSION, 1]
        ok, data = cv2.imencodemulti(".tiff", list(planes), params) if len(planes) == 2 else \
            cv2.imencode(".tiff", planes[0], params)
    elif fmt == "png":
        image = planes[0] if len(planes) == 1 else np.vstack(planes)
        ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, png_level])
    else:
        raise ValueError(f"unknown scan format {fmt!r}")
    if not ok:
        raise OSError(f"cv2 could not encode {fmt} for {path}")
    with open(path, "wb") as f:
        f.write(memoryview(data))


def sha256_path(path: Path) -> tuple[str, int]:
    """(hex SHA-256, size) of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def write_into_folder(folder: Path, name: str, planes: Sequence[np.ndarray], fmt: str, **kwargs: object) -> Path:
    """Write under `name.part`, fsync, rename to `name` (the folder rule); returns the final path."""
    final = folder / name
    part = folder / (name + PART_SUFFIX)
    try:
        encode_to(part, planes, fmt, **kwargs)  # type: ignore[arg-type]
        with open(part, "rb+") as f:
            os.fsync(f.fileno())
        os.rename(part, final)
    finally:
        if part.exists():
            part.unlink()
    try:  # make the rename durable too (best effort: not every filesystem lets a folder be fsynced)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        log.debug("folder %s could not be fsynced after the rename (%s): the rename may not survive a power cut",
                  folder, exc)
    return final
