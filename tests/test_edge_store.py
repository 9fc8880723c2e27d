"""SQLite store: WAL mode, duplicates by hash stored once, state survives a reopen."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from edge.store import AsyncStore, Store


def test_wal_and_dedupe_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = Store(path)
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.upsert_device("lock-a", "smart_lock", "serial", "/dev/x", "")
    first = store.record_reading("lock-a", 1.0, None, "0x0200", "abc", {"x": 1}, {"state": "sealed"})
    again = store.record_reading("lock-a", 2.0, None, "0x0200", "abc", {"x": 1}, {"state": "sealed"})
    assert first is not None and again is None
    assert store.count("readings") == 1
    store.add_lock_event("lock-a", "L1", "opened", "lock opened", None, 3.0, first)
    store.close()

    reopened = Store(path)
    assert reopened.last_states() == {"lock-a": {"state": "sealed"}}
    assert [e.event for e in reopened.recent_lock_events()] == ["opened"]
    assert reopened.device_rows()[0]["last_seen"] == 2.0
    reopened.close()


def test_async_store_runs_off_loop(tmp_path: Path) -> None:
    store = AsyncStore(tmp_path / "a.sqlite3")

    async def main() -> int:
        await store.call(Store.upsert_device, "d", "smart_lock", "mqtt", "t", "")
        return await store.call(Store.count, "devices")

    assert asyncio.run(main()) == 1
    store.close()
