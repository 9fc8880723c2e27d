"""An edge's uplink on an event loop thread of its own, for the tests against a real hub: the
lane's store, media store, passage service (with the stand-in kind of tests/uplink_lane.py) and
`Uplink`, wired as the runtime wires them, without devices or MQTT."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import httpx

from edge.ingest import Reading
from edge.live import LiveBus
from edge.media import MediaStore
from edge.passages.config import PassagesConfig
from edge.passages.service import PassageService
from edge.store import AsyncStore, Derived, Store, Txn
from edge.store_schema import store_migrations
from edge.uplink.config import UplinkConfig
from edge.uplink.link import Uplink
from tests.uplink_lane import LANE, roles, table_rows

T = TypeVar("T")


class EdgeUplink:
    """Start with `start()`, drive with `reading()`, look with `passage()` / `rows()`, end with `stop()`."""

    def __init__(self, root: Path, hub_url: str, token: str, lane: str = LANE,
                 transport: httpx.AsyncBaseTransport | None = None, **uplink: Any) -> None:
        self.root = root
        self.transport = transport  # the uplink's HTTP transport (default httpx's own)
        self.lane = lane
        self.config = UplinkConfig(hub_url=hub_url, token=token, **{"backoff_base_s": 0.2, "backoff_cap_s": 1.0,
                                                                    "poll_s": 0.1, "timeout_s": 10.0, **uplink})
        self.passages_config = PassagesConfig(deadlines={"uvss": 10})
        self.media = MediaStore(root / "media")
        self.published: list[int] = []
        self.bus = LiveBus()  # the passage service's live stream (what a lane terminal page follows)
        self.store: AsyncStore | None = None
        self.service: PassageService | None = None
        self.uplink: Uplink | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="edge-uplink", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    def start(self, uplink: bool = True) -> EdgeUplink:
        async def start() -> None:
            self.store = AsyncStore(self.root / "edge.sqlite3", store_migrations())
            self.uplink = Uplink(self.config, self.lane, self.store, self.media, self.passages_config.holds,
                                 changed=self._changed, transport=self.transport)
            self.service = PassageService(self.passages_config, self.lane, self.store, self.bus, lambda *_: None,
                                          roles(), outbox=self.uplink.enqueue)
            if uplink:
                self.uplink.start()

        self.run(start())
        return self

    def _changed(self, ids: list[int]) -> None:
        self.published.extend(ids)
        assert self.service is not None
        self.service.changed(ids)

    def stop(self) -> None:
        async def stop() -> None:
            if self.uplink is not None:
                await self.uplink.stop()
            if self.service is not None:
                await self.service.stop()
            if self.store is not None:
                self.store.close()

        self.run(stop())

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def reading(self, payload: dict[str, Any]) -> list[int]:
        """One under-vehicle reading through the passage service, in its own store transaction."""
        assert self.store is not None and self.service is not None
        service = self.service
        sha = hashlib.sha256(json.dumps([payload, time.time()], sort_keys=True).encode()).hexdigest()
        reading = Reading("uvss", "pass", sha, payload, state={}, kind="under_vehicle")
        followed: list[int] = []

        def derive(txn: Txn, reading_id: int) -> Derived:
            followed.extend(service.follow(txn, reading, reading_id, Derived()))
            return Derived()

        self.run(self.store.call(Store.record_reading, "uvss", reading.received_at, None, "pass", sha, payload, {},
                                 derive))
        return followed

    def passage(self, passage_id: int) -> dict[str, Any]:
        assert self.service is not None
        found = self.run(self.service.detail(passage_id))
        assert found is not None
        return found

    def rows(self, table: str = "outbox") -> list[dict[str, Any]]:
        return table_rows(self.root / "edge.sqlite3", table)

    def status(self) -> dict[str, Any]:
        assert self.uplink is not None
        return self.run(self.uplink.status())

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        assert self.store is not None
        return self.run(self.store.call(Store.transact, fn, *args))
