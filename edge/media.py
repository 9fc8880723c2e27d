"""Images, scans and DICOS files on disk, content-addressed by SHA-256.

A file is stored once under `<root>/<aa>/<bb>/<sha256>` (the first two byte pairs of the hash
as folders, so no folder grows huge); rows elsewhere hold only the hash. Writes go to a
temporary file in the same folder, are fsynced, then renamed into place, so a killed process
leaves either the whole file or none. A caller that gives the hash it was told (a device's
notice, an upload) gets a refusal if the bytes disagree; a stored file is re-checked on read
when asked. Files stream in chunks: a 60 MB scan is never held twice in memory.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)
CHUNK = 1 << 20
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class MediaError(ValueError):
    """Bytes that are not what they were said to be, or a hash that names nothing stored."""


@dataclass(frozen=True)
class Stored:
    """One stored file: its hash, size, and whether it was new."""

    sha256: str
    size: int
    new: bool


class MediaStore:
    """Content-addressed files under one root folder."""

    def __init__(self, root: Path, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.root = root
        self.max_bytes = max_bytes
        root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if not _HEX64.match(sha256):
            raise MediaError(f"not a SHA-256 in hex: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put_bytes(self, data: bytes, expected_sha256: str | None = None) -> Stored:
        """Store `data`; refused (nothing written) when it is over the limit or its hash is not the expected one."""
        return self._put([data], expected_sha256)

    def put_file(self, source: Path, expected_sha256: str | None = None) -> Stored:
        """Store a copy of `source`, hashed while it is copied."""
        with source.open("rb") as handle:
            return self._put(_chunks(handle), expected_sha256)

    def open(self, sha256: str, verify: bool = False) -> BinaryIO:
        """The stored file, for reading; with `verify`, its bytes are hashed first and must match."""
        path = self.path(sha256)
        if not path.is_file():
            raise MediaError(f"no stored file {sha256}")
        if verify:
            with path.open("rb") as handle:
                actual = _sha256_of(_chunks(handle))
            if actual != sha256:
                raise MediaError(f"stored file {sha256} is corrupt: its bytes hash to {actual}")
        return path.open("rb")

    def remove_leftovers(self, min_age_s: float = 3600.0) -> tuple[int, int]:
        """Delete the partial copies a killed process left in `tmp/` (files, bytes). Only files untouched
        for `min_age_s`: another process on the same folder (a `kouan` command beside the edge) may be
        writing one now, and a copy in progress is written to all the time."""
        cutoff = time.time() - min_age_s
        count = size = 0
        for path in (self.root / "tmp").glob("incoming-*"):
            try:
                stat = path.stat()
                if stat.st_mtime < cutoff:
                    path.unlink()
                    count, size = count + 1, size + stat.st_size
            except OSError as exc:  # gone meanwhile, or not ours to delete: say so, go on
                log.warning("media: leftover %s not removed: %s", path, exc)
        if count:
            log.warning("media: removed %d partial copies (%d bytes) a stopped process left in %s", count, size,
                        self.root / "tmp")
        return count, size

    def move_to(self, sha256: str, other: MediaStore) -> bool:
        """Move a stored file into `other`: copied there (hash-checked) before it is removed here.
        False when this store does not hold it."""
        path = self.path(sha256)
        if not path.is_file():
            return False
        other.put_file(path, sha256)
        path.unlink()
        return True

    def _put(self, chunks: Iterable[bytes], expected: str | None) -> Stored:
        if expected is not None:
            expected = expected.lower()
            self.path(expected)  # refuses a malformed hash before anything is written
        digest, size = hashlib.sha256(), 0
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="incoming-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise MediaError(f"file is over the limit of {self.max_bytes} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            actual = digest.hexdigest()
            if expected is not None and actual != expected:
                raise MediaError(f"bytes hash to {actual}, not the {expected} they were sent with")
            final = self.path(actual)
            if final.is_file():
                return Stored(actual, size, new=False)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
            log.debug("media: stored %s (%d bytes)", actual, size)
            return Stored(actual, size, new=True)
        finally:
            tmp.unlink(missing_ok=True)


def _chunks(handle: BinaryIO) -> Iterable[bytes]:
    while chunk := handle.read(CHUNK):
        yield chunk


def _sha256_of(chunks: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def copy_out(store: MediaStore, sha256: str, target: Path) -> None:
    """Write a stored file to `target`, checked against its hash on the way."""
    with store.open(sha256, verify=True) as source, target.open("wb") as out:
        shutil.copyfileobj(source, out, CHUNK)
