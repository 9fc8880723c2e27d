"""The uplink as the runtime holds it: the outbox, the upload worker, the verdict follower and a
watch that keeps the outbox's depth current for the metrics and the terminal."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from edge.media import MediaStore
from edge.store import AsyncStore, Store, Txn
from edge.uplink import outbox
from edge.uplink.client import HubClient
from edge.uplink.config import UplinkConfig
from edge.uplink.outbox import Outbox
from edge.uplink.pacing import TokenBucket
from edge.uplink.stats import UplinkStats
from edge.uplink.verdicts import VerdictFollower
from edge.uplink.worker import UploadWorker

log = logging.getLogger(__name__)
WATCH_S = 1.0


class Uplink:
    """See the module docstring. `changed(ids)` publishes passages a verdict changed."""

    def __init__(self, config: UplinkConfig, lane_id: str, store: AsyncStore, media: MediaStore,
                 holds: Callable[[str], bool], changed: Callable[[list[int]], None],
                 transport: httpx.AsyncBaseTransport | None = None,
                 watchers: Sequence[Callable[[Txn, list[int]], object]] = ()) -> None:
        self.config = config
        self.store = store
        self.outbox = Outbox(lane_id, media, holds)
        self.stats = UplinkStats()
        self.client = HubClient(config.hub_url, config.bearer(), config.timeout_s, transport)
        self.bucket = TokenBucket(config.bandwidth_bytes_s)
        self.worker = UploadWorker(config, store, media, self.client, self.stats, self.bucket)
        self.verdicts = VerdictFollower(config, lane_id, store, self.client, self.outbox, self.stats, changed,
                                        watchers=watchers)
        self._tasks: list[asyncio.Task[Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def enqueue(self, txn: Txn, ids: list[int]) -> None:
        """For the passage service: queue these passages inside its transaction (store thread), and wake
        the worker; its next read runs on the same store thread, so after this transaction ends."""
        if self.outbox.enqueue_passages(txn, ids) and self._loop is not None:
            self._loop.call_soon_threadsafe(self.worker.wake.set)

    def start(self) -> list[asyncio.Task[Any]]:
        self._loop = asyncio.get_running_loop()
        self._tasks = [asyncio.create_task(self.worker.run(), name="uplink-worker"),
                       asyncio.create_task(self.verdicts.run(), name="uplink-verdicts"),
                       asyncio.create_task(self._watch(), name="uplink-watch")]
        log.info("uplink to %s: running", self.config.hub_url)
        return self._tasks

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.aclose()

    async def refresh(self) -> None:
        """Read the outbox's depth and refusals into the stats."""
        depth, codes = await self.store.call(Store.transact, _depth_and_codes)
        s = self.stats
        s.depth, s.depth_blobs, s.depth_passages = depth.rows, depth.blobs, depth.passages
        s.oldest_created_at, s.refused, s.refused_by_code = depth.oldest_created_at, depth.refused, codes

    async def _watch(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:
                log.exception("uplink: the outbox's depth could not be read")
            await asyncio.sleep(WATCH_S)

    async def status(self) -> dict[str, Any]:
        """What the lane terminal shows of the uplink (GET /api/uplink)."""
        await self.refresh()
        refused = await self.store.call(Store.transact, outbox.refused_items, 10)
        s, now = self.stats, time.time()
        return {
            "configured": True, "hub_url": self.config.hub_url, "depth": s.depth, "blobs": s.depth_blobs,
            "passages": s.depth_passages,
            "oldest_age_s": None if s.oldest_created_at is None else round(max(0.0, now - s.oldest_created_at), 3),
            "refused": s.refused, "refused_items": refused, "hub_reachable": s.hub_reachable,
            "last_error": s.last_error, "last_error_at": s.last_error_at, "last_ok_at": s.last_ok_at,
            "verdict_cursor": s.cursor, "verdicts_received": s.verdicts_received, "bytes_sent": s.bytes_sent,
        }


def _depth_and_codes(txn: Txn) -> tuple[outbox.Depth, dict[str, int]]:
    return outbox.depth(txn), outbox.refused_codes(txn)
