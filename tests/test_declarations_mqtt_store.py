"""An MQTT declaration is acknowledged only once stored: a store that cannot write (another
connection holds SQLite's write lock) leaves it unacknowledged and retried; a payload nested too
deep for the JSON parser is refused and counted, not an unhandled error."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from pathlib import Path

from edge.live import LiveBus
from edge.passages.config import PassagesConfig
from edge.passages.service import PassageService
from edge.store import AsyncStore
from edge.store_schema import store_migrations
from tests.uplink_lane import roles

DECLARATION = json.dumps({"id": "D-LOCK", "plate": "新F12345"}).encode()


def _service(tmp_path: Path) -> tuple[AsyncStore, PassageService]:
    store = AsyncStore(tmp_path / "edge.sqlite3", store_migrations())
    return store, PassageService(PassagesConfig(deadlines={"uvss": 10}), "lane1", store, LiveBus(), lambda *_: None,
                                 roles())


def test_a_declaration_that_cannot_be_stored_is_not_acknowledged_until_it_is(tmp_path: Path) -> None:
    store, service = _service(tmp_path)
    acked = threading.Event()

    async def run() -> tuple[bool, int]:
        service.bind_loop(asyncio.get_running_loop())
        other = sqlite3.connect(str(tmp_path / "edge.sqlite3"), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # e.g. a backup or an operator's sqlite3 shell holds the write lock
        service.on_mqtt_declaration(DECLARATION, acked.set)
        deadline = time.monotonic() + 30
        while service.stats.declarations_store_errors == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        acked_while_locked = acked.is_set()
        other.execute("ROLLBACK")
        other.close()
        while not acked.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        rows = await store.call(lambda s: s.read("SELECT id FROM declarations"))
        return acked_while_locked, len(rows)

    try:
        acked_while_locked, stored = asyncio.run(run())
    finally:
        store.close()
    assert service.stats.declarations_store_errors >= 1
    assert not acked_while_locked, "acknowledged although nothing was stored"
    assert acked.is_set() and stored == 1 and service.stats.declarations_accepted == 1


def test_a_payload_nested_too_deep_is_refused_counted_and_acknowledged(tmp_path: Path) -> None:
    store, service = _service(tmp_path)
    acked = threading.Event()

    async def run() -> None:
        service.bind_loop(asyncio.get_running_loop())
        service.on_mqtt_declaration(b"[" * 100_000, acked.set)
        deadline = time.monotonic() + 10
        while not acked.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    try:
        asyncio.run(run())
    finally:
        store.close()
    assert acked.is_set()
    assert (service.stats.declarations_refused, service.stats.declarations_accepted) == (1, 0)
