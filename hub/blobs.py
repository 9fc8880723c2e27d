"""Where whole, checked images live, content-addressed by SHA-256.

`BlobStore` is what the hub needs of a store, with no paths in it, so an S3-compatible store can
stand in later. `DiskBlobStore` keeps `<root>/<aa>/<bb>/<sha256>` (the hash's first two byte pairs
as folders, like the edge's media store): a file goes in through a temporary file in the same
file system, fsynced, then renamed, so a killed process leaves the whole file or none.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

log = logging.getLogger(__name__)
CHUNK = 1 << 20
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class BlobError(ValueError):
    """A malformed hash, or bytes that are not what their hash says."""


@dataclass(frozen=True)
class Stored:
    """One stored blob: its hash, size, and whether this call stored it (False: it was there)."""

    sha256: str
    size: int
    new: bool


class BlobStore(Protocol):
    """Whole images by SHA-256."""

    def has(self, sha256: str) -> bool:
        """Whether the blob is stored."""
        ...

    def size(self, sha256: str) -> int | None:
        """The blob's length in bytes, None when it is not stored."""
        ...

    def open(self, sha256: str) -> BinaryIO:
        """The blob for reading (BlobError when it is not stored)."""
        ...

    def put_file(self, source: Path, sha256: str) -> Stored:
        """Take `source` (the caller's local file, already hashed) in as blob `sha256`; `source` is
        gone afterwards whatever the outcome."""
        ...

    def local_file(self, sha256: str) -> AbstractContextManager[Path]:
        """A local file of the blob while the context lasts, for decoders that need a path (a disk
        store's own file; a remote store's temporary copy). BlobError when it is not stored."""
        ...


def check_sha(sha256: str) -> str:
    """`sha256` if it is 64 lower-case hex digits, else BlobError."""
    if not _HEX64.match(sha256):
        raise BlobError(f"not a SHA-256 in lower-case hex: {sha256!r}")
    return sha256


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DiskBlobStore:
    """Blobs as files under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        check_sha(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def size(self, sha256: str) -> int | None:
        try:
            return self.path(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def open(self, sha256: str) -> BinaryIO:
        try:
            return self.path(sha256).open("rb")
        except FileNotFoundError:
            raise BlobError(f"no stored blob {sha256}") from None

    @contextmanager
    def local_file(self, sha256: str) -> Iterator[Path]:
        path = self.path(sha256)
        if not path.is_file():
            raise BlobError(f"no stored blob {sha256}")
        yield path

    def put_file(self, source: Path, sha256: str) -> Stored:
        final = self.path(sha256)
        try:
            size = source.stat().st_size
            if final.is_file():
                return Stored(sha256, size, new=False)
            final.parent.mkdir(parents=True, exist_ok=True)
            if source.stat().st_dev == final.parent.stat().st_dev:
                with source.open("rb+") as handle:
                    os.fsync(handle.fileno())
                os.replace(source, final)
            else:
                self._copy_in(source, final, sha256)
            _fsync_dir(final.parent)
            log.debug("blobs: stored %s (%d bytes)", sha256, size)
            return Stored(sha256, size, new=True)
        finally:
            source.unlink(missing_ok=True)

    def _copy_in(self, source: Path, final: Path, sha256: str) -> None:
        """Copy across file systems, hashing on the way (the bytes must still be `sha256`)."""
        digest = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=".incoming-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != sha256:
                raise BlobError(f"bytes hash to {digest.hexdigest()}, not {sha256}")
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)

