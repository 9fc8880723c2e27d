"""The upload worker: drains the outbox to the hub, oldest first, blobs before the passages that
name them.

Up to `[uplink] parallel_uploads` images go up at once, started in the outbox's order, so the hub's
finishing of one file (hash, image check, the store's fsyncs) overlaps the next one's transfer; the
bandwidth cap's one bucket covers them all together. Passages go one at a time in the outbox's order,
each only once every image it names is confirmed.

An image goes up in chunks: HEAD says what the hub holds (so a restart of either side resumes
from the hub's offset rather than from zero), POST opens the upload when it has none, each PATCH
streams one chunk from the media store file through the bandwidth cap (never the whole file in
memory). A passage document is PUT by its canonical SHA-256 once its images are confirmed.

Failures that may pass (no link, a timeout, 5xx) keep the row with its attempts and a `next_at`
after a full-jitter backoff, and the whole worker pauses likewise before its next try; refusals
for good move the row to `outbox_refused` with the hub's reason (counted, logged, shown).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from contract.uplink import Refusal, canonical_json, canonical_sha256
from edge.media import MediaError, MediaStore
from edge.store import AsyncStore, Store
from edge.uplink import outbox
from edge.uplink.client import HubClient, MissingImages, OffsetConflict, Refused, Unreachable
from edge.uplink.config import UplinkConfig
from edge.uplink.outbox import OutboxRow
from edge.uplink.pacing import TokenBucket, backoff_s
from edge.uplink.stats import UplinkStats

log = logging.getLogger(__name__)
PIECE = 128 * 1024  # what one read from the file and one take from the bucket move, under a bandwidth cap
PIECE_UNCAPPED = 1024 * 1024  # the same with no cap: fewer reads, each a hop to a worker thread
BATCH = 20
MAX_OFFSET_CONFLICTS = 5


class _Round:
    """One drain round's shared state: the upload slots, what was sent, whether the hub was unreachable."""

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self.slots = slots
        self.sent = 0
        self.unreachable = False

    def count(self, reached: bool) -> None:
        if reached:
            self.sent += 1
        else:
            self.unreachable = True


class UploadWorker:
    """See the module docstring."""

    def __init__(self, config: UplinkConfig, store: AsyncStore, media: MediaStore, client: HubClient,
                 stats: UplinkStats, bucket: TokenBucket, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = store
        self.media = media
        self.client = client
        self.stats = stats
        self.bucket = bucket
        self.clock = clock
        self.failures = 0  # consecutive failures to reach the hub
        self.wake = asyncio.Event()

    async def _tx(self, fn: Callable[..., object], *args: object) -> object:
        return await self.store.call(Store.transact, fn, *args)

    async def run(self) -> None:
        """Drain for ever (cancel to stop); never raises out of a round."""
        while True:
            try:
                pause = await self.drain_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("uplink: the upload round failed; trying again")
                pause = self.config.backoff_cap_s
            if pause > 0:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), pause)

    async def drain_once(self) -> float:
        """Send what is due; how long to wait before the next round.

        Every due blob gets a task at once, in order, each waiting for one of the `parallel_uploads`
        slots; the passages are walked in order meanwhile, each waiting for its blobs' tasks. Once a
        send finds the hub unreachable nothing new starts: the uploads in flight end, and the round
        returns the backoff."""
        rows: list[OutboxRow] = await self._tx(outbox.due, self.clock(), BATCH)  # type: ignore[assignment]
        drain = _Round(asyncio.Semaphore(max(1, self.config.parallel_uploads)))
        async with asyncio.TaskGroup() as group:
            blobs = {item.key: group.create_task(self._blob_in_slot(item, drain))
                     for item in rows if item.kind == "blob"}
            for item in rows:
                if item.kind != "blob" and not await self._passage_in_turn(item, blobs, drain):
                    break
        if drain.unreachable:
            self.failures += 1
            return backoff_s(self.failures, self.config.backoff_base_s, self.config.backoff_cap_s)
        return 0.0 if drain.sent else self.config.poll_s

    async def _blob_in_slot(self, item: OutboxRow, drain: _Round) -> None:
        async with drain.slots:
            if not drain.unreachable:
                drain.count(await self.send(item))

    async def _passage_in_turn(self, item: OutboxRow, blobs: dict[str, asyncio.Task[None]], drain: _Round) -> bool:
        """Send one passage once its images are confirmed; False when the round stops (hub unreachable)."""
        try:
            shas = [image.sha256 for image in item.passage().images]
        except ValueError as exc:  # not the document it was queued as: nothing to send, kept as refused
            await self._refuse(item, 0, Refusal(code="unreadable", detail=f"the queued document: {exc}"[:2000]),
                               self.clock())
            return True
        for sha in shas:
            if sha in blobs:
                await asyncio.wait([blobs[sha]])  # its outcome is the TaskGroup's to raise
        if drain.unreachable:
            return False
        if shas and await self._tx(outbox.pending_blobs, shas):
            return True  # its images first: they are queued too, and go in a later round
        drain.count(await self.send(item))
        return not drain.unreachable

    async def send(self, item: OutboxRow) -> bool:
        """One row to the hub; False when the hub could not be reached (the row waits its backoff)."""
        now = self.clock()
        try:
            if item.kind == "blob":
                await self._upload_blob(item)
            else:
                await self._put_passage(item)
        except Unreachable as exc:
            delay = backoff_s(item.attempts + 1, self.config.backoff_base_s, self.config.backoff_cap_s)
            self.stats.failed(str(exc), now)
            first = self.failures == 0  # the worker's first failure since the hub last took something
            log.log(logging.WARNING if first else logging.DEBUG, "uplink: %s %s not sent (attempt %d, next in "
                    "%.1f s): %s%s", item.kind, item.key, item.attempts + 1, delay, exc,
                    "; further failures until the hub answers are logged at DEBUG" if first else "")
            await self._tx(outbox.retry, item, delay, str(exc), now)
            return False
        except MissingImages as exc:
            await self._missing(item, exc, now)
        except Refused as exc:
            await self._refuse(item, exc.status, exc.refusal, now)
        else:
            self._answered()
        self.failures = 0
        return True

    def _answered(self) -> None:
        if self.stats.succeeded(self.clock()):
            log.info("uplink: the hub answers again (%s)", self.config.hub_url)

    async def _refuse(self, item: OutboxRow, status: int, refusal: Refusal, now: float) -> None:
        log.error("uplink: the hub refused %s %s (passage %s revision %s) for good: %s %s: %s; kept in "
                  "outbox_refused", item.kind, item.key, item.passage_id, item.revision, status, refusal.code,
                  refusal.detail)
        await self._tx(outbox.refuse, item, status, refusal.code, refusal.detail, refusal.missing, now)
        self.stats.refused_now += 1
        self._answered()
        self.stats.failed(f"refused {item.kind} {item.key}: {refusal.code}: {refusal.detail}", now, reachable=None)

    async def _missing(self, item: OutboxRow, exc: MissingImages, now: float) -> None:
        """The hub lacks images of the passage: sent again when the edge has them, else refused."""
        missing = list(exc.refusal.missing)
        refused: dict[str, str] = await self._tx(outbox.refused_blobs, missing)  # type: ignore[assignment]
        gone = [sha for sha in missing if sha not in refused and not self.media.has(sha)]
        if refused or gone:
            why = "; ".join([f"{sha} refused ({reason})" for sha, reason in refused.items()]
                            + [f"{sha} not in the edge's media store" for sha in gone])
            await self._refuse(item, 409, exc.refusal.model_copy(update={"detail": f"{exc.refusal.detail} ({why})"}),
                               now)
            return
        queued = await self._tx(outbox.requeue_blobs, item, missing, now)
        log.warning("uplink: the hub lacks images %s of passage %s: sending them again", queued, item.passage_id)
        delay = backoff_s(item.attempts + 1, self.config.backoff_base_s, self.config.backoff_cap_s)
        await self._tx(outbox.retry, item, delay, f"hub lacks images {missing}", now)

    # ---------------------------------------------------------------- one blob

    async def _upload_blob(self, item: OutboxRow) -> None:
        try:
            create = item.blob()
        except ValueError as exc:
            raise Refused(0, Refusal(code="unreadable", detail=f"the queued blob: {exc}"[:2000])) from exc
        sha = item.key
        try:
            path = self.media.path(sha)
            size = path.stat().st_size
        except (OSError, MediaError) as exc:
            raise Refused(0, Refusal(code="missing_locally", detail=f"the edge's media store has no file {sha}: {exc}")) from exc
        if size != create.size:
            raise Refused(0, Refusal(code="changed_locally", detail=f"the file is {size} bytes, queued as {create.size}"))
        held = await self.client.head_blob(sha)
        if held is None or held[0] >= held[1]:
            status = await self.client.open_blob(sha, create)
            if status.complete:
                return await self._blob_done(item, size, "the hub had it")
            offset = status.offset
        else:
            offset = held[0]
        resumed_at, conflicts = offset, 0
        while True:
            if offset >= size:
                raise Unreachable(f"the hub holds all {size} bytes of {sha} but has not finished it yet")
            length = min(self.config.chunk_bytes, size - offset)
            try:
                status = await self.client.patch_blob(sha, offset, length, self._pieces(path, offset, length))
            except OffsetConflict as exc:
                conflicts += 1
                if conflicts > MAX_OFFSET_CONFLICTS:
                    raise Unreachable(f"the hub's offset of {sha} keeps moving ({exc.offset})") from exc
                offset = exc.offset
                continue
            if status.complete:
                return await self._blob_done(item, size, f"from offset {resumed_at}" if resumed_at else "whole")
            if status.offset <= offset:
                raise Unreachable(f"the hub did not advance blob {sha} past {offset}")
            offset = status.offset

    async def _blob_done(self, item: OutboxRow, size: int, how: str) -> None:
        await self._tx(outbox.confirm_blob, item, size, self.clock())
        self.stats.blobs_sent += 1
        log.info("uplink: image %s (%d bytes) confirmed by the hub (%s)", item.key, size, how)

    async def _pieces(self, path: Path, offset: int, length: int) -> AsyncIterator[bytes]:
        """`length` bytes of the file from `offset`, a piece at a time, at the bandwidth cap."""
        handle = await asyncio.to_thread(path.open, "rb")
        try:
            await asyncio.to_thread(handle.seek, offset)
            left, most = length, PIECE if self.bucket.rate > 0 else PIECE_UNCAPPED
            while left > 0:
                piece = await asyncio.to_thread(handle.read, min(most, left))
                if not piece:
                    raise OSError(f"{path} ended {left} bytes early")
                await self.bucket.take(len(piece))
                self.stats.bytes_sent += len(piece)
                left -= len(piece)
                yield piece
        finally:
            handle.close()

    # ---------------------------------------------------------------- one passage

    async def _put_passage(self, item: OutboxRow) -> None:
        upload = item.passage()
        document = canonical_json(upload)
        self.stats.bytes_sent += len(document)
        ack = await self.client.put_passage(canonical_sha256(upload), document)
        current = await self._tx(outbox.confirm_passage, item)
        self.stats.passages_sent += 1
        log.info("uplink: passage %s revision %s confirmed by the hub (%s%s)%s", item.passage_id, item.revision,
                 ack.status, f", review item {ack.review_item}" if ack.review_item else "",
                 "" if current else "; a newer revision waits")
