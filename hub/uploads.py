"""Resumable image uploads: chunks appended at the hub's offset, checked whole, then kept.

An upload in progress is the file `<root>/partial/<sha>.part` (the bytes so far) and its `uploads`
row (the size and media type claimed, and the offset recorded after each chunk was fsynced).
Every step takes an exclusive `flock` on `<root>/partial/<sha>.lock`, so several hub processes
sharing the root and the database see one upload. The offset a restart reports is the part file's
real length trimmed to the recorded offset: a chunk written but not yet recorded when the hub was
killed is sent again.

After the last byte the file's SHA-256 must be the one it was opened under and the file must be
the image it claims (hub/image_check.py). The SHA-256 is the running hash of the chunks this process
appended when the row's `generation` (rewritten with every change to the row's offset or the part
file, by any process) is still the one it wrote with its last chunk; otherwise (another process
appended, the upload started over, this process was restarted) the file is read back from disk
(hub/upload_hash.py). only then is it moved into the blob store and recorded
(`ingest.record_blob`, in the transaction that deletes the `uploads` row). A refusal deletes the
partial upload, so a corrected re-send starts clean.
A kill between the move and the record leaves a stored blob without a record; the next HEAD or
POST finds it and records it (for the lane whose upload it was).

Scope: an open upload is its edge's alone (another edge's HEAD and PATCH answer 404, as for no upload;
its POST is told to retry later, `UploadBusy`), and a finished blob is held for the lanes whose edges
uploaded it (`ingest.record_blob`). For an edge of any other lane the hub answers as if it had no such
bytes: the edge uploads them itself, and when they hash right its lane becomes a holder (one file kept).
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, update

from hub import ingest
from hub.accounts import EdgeInfo
from hub.blobs import BlobStore, check_sha, sha256_file
from hub.db.engine import Database
from hub.db.models import Edge, Upload
from hub.image_check import ImageFacts, ImageRefused, check_image, media_type_of
from hub.metrics import HubMetrics
from hub.upload_hash import RunningHashes, new_generation

log = logging.getLogger(__name__)

ABANDONED_S = 600.0  # an upload untouched this long (the edge retries at least every minute) is abandoned
BUSY_RETRY_S = 30  # the Retry-After of UploadBusy


@dataclass(frozen=True)
class UploadLimits:
    """What the hub accepts: bytes per file, pixels a side, samples per image."""

    max_bytes: int
    max_side: int
    max_pixels: int


@dataclass(frozen=True)
class UploadState:
    """Where one upload stands."""

    sha256: str
    size: int
    offset: int
    complete: bool


class UploadError(Exception):
    """Base of the refusals below."""


class OffsetMismatch(UploadError):
    """A chunk sent for another offset than the hub's (409; the edge resumes from `offset`)."""

    def __init__(self, offset: int, sent: int) -> None:
        super().__init__(f"the upload is at offset {offset}, the chunk was sent for offset {sent}")
        self.offset = offset


class TooLarge(UploadError):
    """A file over the hub's byte limit (413)."""


class NoUpload(UploadError):
    """A chunk for an upload nobody opened, or another edge did (404)."""


class UploadBusy(UploadError):
    """Another edge is uploading these bytes (503 with Retry-After: the edge's uplink retries, nothing is lost)."""


class UploadRefused(UploadError):
    """The upload is refused and dropped (422): `code` as the wire Refusal's."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail = code, detail


def _drop_cached(fd: int, offset: int, length: int) -> None:
    """Let the kernel drop a durable chunk's pages from its cache: the hub writes each image once and
    seldom reads it again, so keeping it cached only evicts what is read (and a freed page is reused for
    the next chunk, where a new one costs a fault)."""
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


@dataclass
class _Partial:
    """An upload's row, as read under its lock."""

    size: int
    media_type: str
    offset: int
    generation: str
    edge_id: int
    updated_at: float


class _Lock:
    """An exclusive flock on one upload's lock file; once dropped, the file goes when the lock is let go."""

    def __init__(self) -> None:
        self.dropped = False

    def drop(self) -> None:
        self.dropped = True


class Uploads:
    """The resumable uploads of one hub (all its processes share `root`)."""

    def __init__(self, root: Path, blobs: BlobStore, limits: UploadLimits, database: Database,
                 metrics: HubMetrics) -> None:
        self.partial = root / "partial"
        self.partial.mkdir(parents=True, exist_ok=True)
        self.blobs, self.limits, self.database, self.metrics = blobs, limits, database, metrics
        self.hashes = RunningHashes()

    # -- the three protocol steps -------------------------------------------------------------

    def status(self, sha256: str, edge: EdgeInfo) -> UploadState | None:
        """HEAD: held for the edge's lane, the edge's own upload in progress (a full partial file is finished
        now), or None (unknown to this edge: nothing, or another lane's blob, or another edge's upload)."""
        check_sha(sha256)
        done = self._held(sha256, edge)
        if done is not None:
            return done
        with self.database.read_session() as s:
            row = s.get(Upload, sha256)
            if row is None or row.edge_id != edge.id:
                return None
        with self._locked(sha256) as lock:
            partial = self._load(sha256, lock)
            if partial is None or partial.edge_id != edge.id:
                return None
            if partial.offset == partial.size:
                return self._finish(sha256, partial, edge, lock)
            return UploadState(sha256, partial.size, partial.offset, False)

    def open(self, sha256: str, size: int, media_type: str, edge: EdgeInfo) -> UploadState:
        """POST: open an upload, or answer the state of the edge's own one already open or done.

        While another edge's upload of the same bytes is open the answer is `UploadBusy` (its upload is
        left alone; one silent for ABANDONED_S is abandoned and started over for this edge).
        """
        check_sha(sha256)
        if size > self.limits.max_bytes:
            self.metrics.uploads_refused.labels(code="too_large").inc()
            raise TooLarge(f"the file is {size} bytes, over the hub's limit of {self.limits.max_bytes}")
        done = self._held(sha256, edge)
        if done is not None:
            return done
        with self._locked(sha256) as lock:
            partial = self._load(sha256, lock)
            if partial is not None and partial.edge_id != edge.id:
                silent = time.time() - partial.updated_at
                if silent < ABANDONED_S:
                    log.info("upload %s: edge %s must wait, edge id %d's upload is open (%d of %d bytes)", sha256,
                             edge.name, partial.edge_id, partial.offset, partial.size)
                    raise UploadBusy(f"another edge is uploading {sha256}; retry later")
                log.warning("upload %s of edge id %d silent for %.0f s: abandoned, started over for %s", sha256,
                            partial.edge_id, silent, edge.name)
                partial = None
            if partial is not None and (partial.size, partial.media_type) != (size, media_type):
                log.warning("upload %s re-opened by %s as %d bytes %s (was %d bytes %s): starting over",
                            sha256, edge.name, size, media_type, partial.size, partial.media_type)
                partial = None
            if partial is None:
                partial = _Partial(size, media_type, 0, new_generation(), edge.id, time.time())
                self.hashes.forget(sha256)
                self._part(sha256).write_bytes(b"")
                self._save(sha256, partial, edge, new=True)
                lock.dropped = False
                log.info("upload %s opened by %s: %d bytes %s", sha256, edge.name, size, media_type)
            if partial.offset == partial.size:
                return self._finish(sha256, partial, edge, lock)
            return UploadState(sha256, partial.size, partial.offset, False)

    def append(self, sha256: str, offset: int, chunk: bytes | bytearray, edge: EdgeInfo) -> UploadState:
        """PATCH: append `chunk` at exactly the edge's own upload's offset; after the last byte, finish it."""
        check_sha(sha256)
        done = self._held(sha256, edge)
        if done is not None:
            if offset != done.size:
                raise OffsetMismatch(done.size, offset)
            return done
        with self._locked(sha256) as lock:
            partial = self._load(sha256, lock)
            if partial is None or partial.edge_id != edge.id:  # another edge's: told as if there were none
                raise NoUpload(f"no upload of {sha256} is open for edge {edge.name}: POST it first")
            if offset != partial.offset:
                raise OffsetMismatch(partial.offset, offset)
            if offset + len(chunk) > partial.size:
                self._drop(sha256, lock)
                raise self._refused("overrun", f"the chunk runs to byte {offset + len(chunk)}, past the "
                                               f"{partial.size} bytes the upload was opened with")
            if chunk:
                running = self.hashes.take(sha256, partial.generation, offset)
                with self._part(sha256).open("r+b") as out:
                    out.seek(offset)
                    out.write(chunk)
                    out.truncate()
                    out.flush()
                    os.fsync(out.fileno())
                    _drop_cached(out.fileno(), offset, len(chunk))
                if running is not None:
                    running.digest.update(chunk)
                partial.offset += len(chunk)
                partial.generation = new_generation()
                self._save(sha256, partial, edge)
                if running is not None:  # only once the row holds the offset and generation it stands for
                    running.offset, running.generation = partial.offset, partial.generation
                    self.hashes.keep(sha256, running)
                self.metrics.upload_bytes.inc(len(chunk))
            if partial.offset == partial.size:
                return self._finish(sha256, partial, edge, lock)
            return UploadState(sha256, partial.size, partial.offset, False)

    # -- finishing ----------------------------------------------------------------------------

    def _finish(self, sha256: str, partial: _Partial, edge: EdgeInfo, lock: _Lock) -> UploadState:
        part = self._part(sha256)
        running = self.hashes.take(sha256, partial.generation, partial.offset)
        if running is not None and running.offset == partial.size:
            actual = running.hexdigest()
        else:
            actual = sha256_file(part)
            self.metrics.upload_hash_readbacks.inc()
        if actual != sha256:
            self._drop(sha256, lock)
            raise self._refused("hash_mismatch", f"the {partial.size} bytes received hash to {actual}, "
                                                 f"not {sha256}")
        try:
            facts = check_image(part, partial.media_type, self.limits.max_side, self.limits.max_pixels)
        except ImageRefused as exc:
            self._drop(sha256, lock)
            raise self._refused(exc.code, exc.detail) from None
        stored = self.blobs.put_file(part, sha256)
        self._record(sha256, stored.size, partial.media_type, facts, edge, finished=True)
        self._drop(sha256, lock)
        self.metrics.uploads.inc()
        log.info("upload %s complete from %s: %d bytes %s, %d x %d x %d, %d-bit", sha256, edge.name,
                 stored.size, partial.media_type, facts.width, facts.height, facts.planes, facts.bits)
        return UploadState(sha256, stored.size, stored.size, True)

    def _record(self, sha256: str, size: int, media_type: str, facts: ImageFacts, edge: EdgeInfo,
                finished: bool = False) -> None:
        with self.database.session() as s:
            ingest.record_blob(s, sha256, size, media_type, facts.width, facts.height, facts.bits,
                               facts.planes, edge, time.time())
            if finished:
                s.execute(delete(Upload).where(Upload.sha256 == sha256))

    def _held(self, sha256: str, edge: EdgeInfo) -> UploadState | None:
        """The state of a blob kept for the edge's lane, else None; one stored but never recorded (a kill)
        is recorded now, for the edge whose upload it was (the caller, when no upload row names one)."""
        size = self.blobs.size(sha256)
        with self.database.read_session() as s:  # a look only: no write lock for every chunk
            recorded = sha256 in ingest.held_blobs(s, [sha256])
            mine = sha256 in ingest.held_for_lane(s, [sha256], edge.lane)
        if size is None:
            if recorded:
                log.error("blob %s is recorded but its file is missing from the blob store: taking it again", sha256)
            return None
        if not recorded:
            with self.blobs.local_file(sha256) as path:
                with path.open("rb") as head:
                    media_type = media_type_of(head.read(132)) or ""
                try:
                    facts = check_image(path, media_type, self.limits.max_side, self.limits.max_pixels)
                except ImageRefused as exc:
                    log.error("stored blob %s without a record does not pass the image check (%s)", sha256, exc)
                    return None
            uploader = self._uploader(sha256) or edge
            self._record(sha256, size, media_type, facts, uploader, finished=True)
            log.warning("blob %s was stored but not recorded (the hub was stopped between): recorded now for "
                        "edge %s", sha256, uploader.name)
            mine = uploader.lane == edge.lane
        return UploadState(sha256, size, size, True) if mine else None

    def _uploader(self, sha256: str) -> EdgeInfo | None:
        """The edge whose upload row `sha256` has, if any."""
        with self.database.read_session() as s:
            row = s.get(Upload, sha256)
            edge = None if row is None else s.get(Edge, row.edge_id)
            return None if edge is None else EdgeInfo(edge.id, edge.name, edge.lane, edge.port)

    def _refused(self, code: str, detail: str) -> UploadRefused:
        self.metrics.uploads_refused.labels(code=code).inc()
        log.warning("upload refused (%s): %s", code, detail)
        return UploadRefused(code, detail)

    # -- files --------------------------------------------------------------------------------

    def _part(self, sha256: str) -> Path:
        return self.partial / f"{sha256}.part"

    def _load(self, sha256: str, lock: _Lock) -> _Partial | None:
        """The upload's row with its offset made true: the part file's length, trimmed to the row's."""
        with self.database.read_session() as s:
            row = s.get(Upload, sha256)
            partial = None if row is None else _Partial(row.size, row.media_type, row.offset, row.generation,
                                                        row.edge_id, row.updated_at)
        part = self._part(sha256)
        if partial is None:
            part.unlink(missing_ok=True)  # a part file whose row never committed
            lock.drop()
            return None
        try:
            length = part.stat().st_size
        except FileNotFoundError:
            length = 0
            part.write_bytes(b"")
        if length != partial.offset:
            if length > partial.offset:
                os.truncate(part, partial.offset)
            log.info("upload %s: resumed at offset %d (file %d, recorded %d)", sha256, min(length, partial.offset),
                     length, partial.offset)
            partial.offset = min(length, partial.offset)
            partial.generation = new_generation()
            with self.database.session() as s:
                s.execute(update(Upload).where(Upload.sha256 == sha256)
                          .values(offset=partial.offset, generation=partial.generation, updated_at=time.time()))
        return partial

    def _save(self, sha256: str, partial: _Partial, edge: EdgeInfo, new: bool = False) -> None:
        now = time.time()
        with self.database.session() as s:
            if new:
                s.execute(delete(Upload).where(Upload.sha256 == sha256))
                s.add(Upload(sha256=sha256, size=partial.size, media_type=partial.media_type, offset=partial.offset,
                             generation=partial.generation, edge_id=edge.id, started_at=now, updated_at=now))
            else:
                s.execute(update(Upload).where(Upload.sha256 == sha256)
                          .values(offset=partial.offset, generation=partial.generation, updated_at=now))

    def _drop(self, sha256: str, lock: _Lock) -> None:
        self.hashes.forget(sha256)
        with self.database.session() as s:
            s.execute(delete(Upload).where(Upload.sha256 == sha256))
        self._part(sha256).unlink(missing_ok=True)
        lock.drop()

    @contextmanager
    def _locked(self, sha256: str) -> Iterator[_Lock]:
        """Hold the upload's lock file; retried when another process removed it while we waited."""
        path = self.partial / f"{sha256}.lock"
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    current = os.stat(path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    current = False
            except BaseException:
                os.close(fd)
                raise
            if current:
                break
            os.close(fd)
        lock = _Lock()
        try:
            yield lock
        finally:
            if lock.dropped:
                path.unlink(missing_ok=True)
            os.close(fd)
