"""SQLite store: WAL mode, duplicates by hash stored once, a reading and its events in one
transaction, state survives a reopen, and an old database is migrated with its data kept."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from edge.migrations import CORE, Migration
from edge.store import AsyncStore, Derived, Store, Txn


def opened_event(txn: Txn, reading_id: int) -> Derived:
    return Derived(events=[txn.add_event("L1", "opened", "lock opened", "2026-11-30T09:00:00+08:00", reading_id)])


def test_wal_and_dedupe_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = Store(path)
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.upsert_device("lock-a", "smart_lock", "serial", "/dev/x", "")
    first = store.record_reading("lock-a", 1.0, None, "0x0200", "abc", {"x": 1}, {"state": "sealed"}, opened_event,
                                 "smart_lock")
    again = store.record_reading("lock-a", 2.0, None, "0x0200", "abc", {"x": 1}, {"state": "sealed"}, opened_event,
                                 "smart_lock")
    assert first.reading_id is not None and again.reading_id is None
    assert [e.event for e in first.derived.events] == ["opened"] and again.derived.events == []
    assert store.count("readings") == 1 and store.count("events") == 1
    store.close()

    reopened = Store(path)
    assert reopened.applied == [], "nothing left to migrate"
    assert reopened.last_states() == {"lock-a": {"state": "sealed"}}
    assert [(e.kind, e.subject, e.event) for e in reopened.recent_events()] == [("smart_lock", "L1", "opened")]
    assert reopened.device_rows()[0]["last_seen"] == 2.0
    reopened.close()


def test_a_reading_whose_derivation_fails_is_not_stored(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    store.upsert_device("lock-a", "smart_lock", "serial", "/dev/x", "")

    def half_done(txn: Txn, reading_id: int) -> Derived:
        txn.add_event("L1", "opened", "", None, reading_id)
        raise RuntimeError("derivation broke")

    with pytest.raises(RuntimeError, match="derivation broke"):
        store.record_reading("lock-a", 1.0, None, "0x0200", "abc", {}, {"state": "opened"}, half_done, "smart_lock")
    assert store.count("readings") == 0 and store.count("events") == 0, "all or nothing"
    assert store.last_states() == {}
    retried = store.record_reading("lock-a", 2.0, None, "0x0200", "abc", {}, {"state": "opened"}, opened_event, "smart_lock")
    assert retried.reading_id is not None, "the resend is stored, not taken for a duplicate"
    store.close()


def test_a_late_reading_keeps_the_newer_state(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    store.upsert_device("lock-a", "smart_lock", "serial", "/dev/x", "")
    store.record_reading("lock-a", 1.0, None, "r", "new", {}, {"state": "sealed"}, None, "smart_lock")
    store.record_reading("lock-a", 2.0, None, "r", "old", {}, {"state": "opened"},
                         lambda txn, rid: Derived(newest=False), "smart_lock")
    assert store.last_states() == {"lock-a": {"state": "sealed"}}
    assert store.device_rows()[0]["last_seen"] == 2.0
    store.close()


OLD_SCHEMA_ROWS = """
INSERT INTO devices (id, kind, transport, address, name, state_json) VALUES ('lock-a', 'smart_lock', 'serial', '/dev/x', '', '{"state": "opened"}');
INSERT INTO readings (id, device_id, received_at, device_time, message, sha256, payload_json) VALUES (1, 'lock-a', 1.0, NULL, '0x0200', 'abc', '{}');
INSERT INTO lock_events (id, device_id, lock_id, event, detail, device_time, received_at, reading_id) VALUES (7, 'lock-a', 'SEAL-1', 'opened', 'lock opened', '2026-11-30T09:00:00+08:00', 1.5, 1);
"""


def test_a_store_from_before_migrations_is_migrated_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as con:  # the schema as shipped before migrations existed
        con.executescript(CORE[0].sql + OLD_SCHEMA_ROWS)
    kind_table = Migration("smart_lock:1", "CREATE TABLE IF NOT EXISTS lock_history (reading_id INTEGER PRIMARY KEY);")
    store = Store(path, [kind_table])
    assert store.applied == ["core:1", "core:2", "core:3", "smart_lock:1"]
    assert [(e.id, e.kind, e.subject, e.event, e.device_time) for e in store.recent_events()] == [
        (7, "smart_lock", "SEAL-1", "opened", "2026-11-30T09:00:00+08:00")]
    assert store.last_states() == {"lock-a": {"state": "opened"}} and store.count("readings") == 1
    with pytest.raises(ValueError, match="unknown table"):
        store.count("lock_events")
    store.close()
    assert Store(path, [kind_table]).applied == []


def test_a_failing_migration_names_itself_and_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    Store(path).close()
    broken = Migration("smart_lock:9", "CREATE TABLE t (x INTEGER); INSERT INTO nowhere VALUES (1);")
    with pytest.raises(RuntimeError, match="smart_lock:9 failed"):
        Store(path, [broken])
    with sqlite3.connect(path) as con:
        tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        done = [row[0] for row in con.execute("SELECT name FROM schema_migrations")]
    assert "t" not in tables and "smart_lock:9" not in done


def test_async_store_runs_off_loop(tmp_path: Path) -> None:
    store = AsyncStore(tmp_path / "a.sqlite3")

    async def main() -> int:
        await store.call(Store.upsert_device, "d", "smart_lock", "mqtt", "t", "")
        return await store.call(Store.count, "devices")

    assert asyncio.run(main()) == 1
    store.close()


def test_read_is_select_only_and_works_from_another_thread(tmp_path: Path) -> None:
    import threading

    store = AsyncStore(tmp_path / "r.sqlite3")
    got: list[object] = []
    worker = threading.Thread(target=lambda: got.append(store.read_blocking("SELECT COUNT(*) FROM readings")))
    worker.start()
    worker.join(10)
    assert got == [[(0,)]]
    with pytest.raises(ValueError, match="SELECT statements only"):
        store.read_blocking("DELETE FROM readings")
    store.close()
