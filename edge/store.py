"""The lane's local store: SQLite in WAL mode for devices, readings, lock history and lock events.

One connection, owned by one worker thread (`AsyncStore`), so SQLite writes never run on the
event loop and never race. Readings are keyed by the SHA-256 of their raw bytes, so a frame a
device retransmits (or an MQTT QoS 1 duplicate) is stored once and counted as a duplicate.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from edge.lock_events import place_report

log = logging.getLogger(__name__)
T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    transport TEXT NOT NULL,
    address TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    connected INTEGER NOT NULL DEFAULT 0,
    last_seen REAL,
    last_error TEXT NOT NULL DEFAULT '',
    state_json TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    received_at REAL NOT NULL,
    device_time TEXT,
    message TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    UNIQUE (device_id, sha256)
);
CREATE INDEX IF NOT EXISTS readings_device_time ON readings (device_id, received_at);
CREATE TABLE IF NOT EXISTS lock_events (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    lock_id TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    device_time TEXT,
    received_at REAL NOT NULL,
    reading_id INTEGER REFERENCES readings (id)
);
CREATE INDEX IF NOT EXISTS lock_events_time ON lock_events (received_at);
CREATE TABLE IF NOT EXISTS lock_history (
    reading_id INTEGER PRIMARY KEY REFERENCES readings (id),
    device_id TEXT NOT NULL,
    order_time REAL NOT NULL,
    serial INTEGER NOT NULL,
    state_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS lock_history_order ON lock_history (device_id, order_time, serial, reading_id);
"""
# lock_history: each lock report's state in the lock's own order (order_time: its device time in
# seconds since the epoch; serial: its message serial), so events follow the lock, not arrival.


@dataclass(frozen=True)
class LockEventRow:
    """One lock event as stored and shown."""

    id: int
    device_id: str
    lock_id: str
    event: str
    detail: str
    device_time: str | None
    received_at: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "device_id": self.device_id, "lock_id": self.lock_id, "event": self.event,
            "detail": self.detail, "device_time": self.device_time, "received_at": self.received_at,
        }


@dataclass(frozen=True)
class LockReport:
    """A lock report placed in its lock's order: the reading, the events it raised or moved."""

    reading_id: int | None  # None: the same bytes were stored before
    newest: bool  # the latest report in the lock's order, so its state is the lock's state now
    events: list[LockEventRow]
    moved: list[LockEventRow]  # raised before; an earlier report now shows when they happened


class Store:
    """Synchronous store; use it from one thread only (see AsyncStore)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One explicit transaction (the connection is in autocommit mode, so `with db:` alone is not one)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def upsert_device(self, device_id: str, kind: str, transport: str, address: str, name: str) -> None:
        """Register a configured device (keeps its last-seen time and state across restarts)."""
        self._db.execute(
            "INSERT INTO devices (id, kind, transport, address, name) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET kind=excluded.kind, transport=excluded.transport, "
            "address=excluded.address, name=excluded.name",
            (device_id, kind, transport, address, name),
        )

    def set_connection(self, device_id: str, connected: bool, error: str) -> None:
        self._db.execute(
            "UPDATE devices SET connected=?, last_error=? WHERE id=?", (int(connected), error, device_id)
        )

    def record_reading(
        self, device_id: str, received_at: float, device_time: str | None, message: str, sha256: str,
        payload: dict[str, Any], state: dict[str, Any] | None,
    ) -> int | None:
        """Store a reading; return its row id, or None when the same bytes were stored before."""
        with self._transaction():
            row_id = self._insert_reading(device_id, received_at, device_time, message, sha256, payload)
            if row_id is None or state is None:
                self._db.execute("UPDATE devices SET last_seen=? WHERE id=?", (received_at, device_id))
            else:
                self._db.execute(
                    "UPDATE devices SET last_seen=?, state_json=? WHERE id=?",
                    (received_at, json.dumps(state, default=str), device_id),
                )
            return row_id

    def record_lock_report(
        self, device_id: str, received_at: float, device_time: str | None, message: str, sha256: str,
        payload: dict[str, Any], state: dict[str, Any], order: tuple[float, int], low_battery_pct: int | None,
    ) -> LockReport:
        """Store a lock report and, in the same transaction, the events its place in the lock's order
        implies (`edge.lock_events.place_report`). `order` is (device time as epoch s, serial)."""
        with self._transaction():
            reading_id = self._insert_reading(device_id, received_at, device_time, message, sha256, payload)
            if reading_id is None:
                self._db.execute("UPDATE devices SET last_seen=? WHERE id=?", (received_at, device_id))
                return LockReport(None, False, [], [])
            key = (device_id, order[0], order[1], reading_id)
            before = self._db.execute(
                "SELECT state_json FROM lock_history WHERE device_id=? AND (order_time, serial, reading_id) < (?, ?, ?) "
                "ORDER BY order_time DESC, serial DESC, reading_id DESC LIMIT 1", key,
            ).fetchone()
            after = self._db.execute(
                "SELECT reading_id, state_json FROM lock_history WHERE device_id=? AND (order_time, serial, reading_id) > (?, ?, ?) "
                "ORDER BY order_time, serial, reading_id LIMIT 1", key,
            ).fetchone()
            previous = json.loads(before[0]) if before else self._state_before_history(device_id)
            following = json.loads(after[1]) if after else None
            self._db.execute(
                "INSERT INTO lock_history (reading_id, device_id, order_time, serial, state_json) VALUES (?, ?, ?, ?, ?)",
                (reading_id, device_id, order[0], order[1], json.dumps(state, default=str)),
            )
            placed = place_report(previous, state, following, low_battery_pct)
            lock_id = str(state.get("lock_id", ""))
            events = [self.add_lock_event(device_id, lock_id, e.event, e.detail, device_time, received_at, reading_id)
                      for e in placed.at_report]
            moved: list[LockEventRow] = []
            if after is not None:
                next_id = int(after[0])
                next_time, next_lock = self._db.execute(
                    "SELECT r.device_time, h.state_json FROM readings r JOIN lock_history h ON h.reading_id = r.id "
                    "WHERE r.id=?", (next_id,),
                ).fetchone()
                next_lock_id = str(json.loads(next_lock).get("lock_id", ""))
                events += [self.add_lock_event(device_id, next_lock_id, e.event, e.detail, next_time, received_at, next_id)
                           for e in placed.at_next]
                moved = [row for name in placed.moved if (row := self._move_event(next_id, name, reading_id, device_time))]
            newest = after is None
            self._db.execute(
                "UPDATE devices SET last_seen=?" + (", state_json=?" if newest else "") + " WHERE id=?",
                (received_at, json.dumps(state, default=str), device_id) if newest else (received_at, device_id),
            )
            return LockReport(reading_id, newest, events, moved)

    def _insert_reading(
        self, device_id: str, received_at: float, device_time: str | None, message: str, sha256: str,
        payload: dict[str, Any],
    ) -> int | None:
        cur = self._db.execute(
            "INSERT OR IGNORE INTO readings (device_id, received_at, device_time, message, sha256, payload_json) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (device_id, received_at, device_time, message, sha256, json.dumps(payload, default=str)),
        )
        return int(cur.lastrowid or 0) if cur.rowcount else None

    def _state_before_history(self, device_id: str) -> dict[str, Any] | None:
        """A device with no lock history yet may still have a last state (a store from before the
        history was kept): it stands before every report, so an upgrade re-announces nothing."""
        if self._db.execute("SELECT 1 FROM lock_history WHERE device_id=? LIMIT 1", (device_id,)).fetchone():
            return None
        row = self._db.execute("SELECT state_json FROM devices WHERE id=?", (device_id,)).fetchone()
        state = json.loads(row[0]) if row else {}
        return state or None

    def _move_event(self, from_reading: int, event: str, to_reading: int, device_time: str | None) -> LockEventRow | None:
        row = self._db.execute(
            "SELECT id FROM lock_events WHERE reading_id=? AND event=? ORDER BY id LIMIT 1", (from_reading, event),
        ).fetchone()
        if row is None:
            return None
        self._db.execute("UPDATE lock_events SET reading_id=?, device_time=? WHERE id=?", (to_reading, device_time, row[0]))
        found = self._db.execute(
            "SELECT id, device_id, lock_id, event, detail, device_time, received_at FROM lock_events WHERE id=?", (row[0],),
        ).fetchone()
        return LockEventRow(*found)

    def touch(self, device_id: str, seen_at: float) -> None:
        """Mark a device as heard from (heartbeats and other non-reading traffic)."""
        self._db.execute("UPDATE devices SET last_seen=? WHERE id=?", (seen_at, device_id))

    def add_lock_event(
        self, device_id: str, lock_id: str, event: str, detail: str, device_time: str | None,
        received_at: float, reading_id: int | None,
    ) -> LockEventRow:
        cur = self._db.execute(
            "INSERT INTO lock_events (device_id, lock_id, event, detail, device_time, received_at, reading_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (device_id, lock_id, event, detail, device_time, received_at, reading_id),
        )
        return LockEventRow(int(cur.lastrowid or 0), device_id, lock_id, event, detail, device_time, received_at)

    def recent_lock_events(self, limit: int = 100) -> list[LockEventRow]:
        rows = self._db.execute(
            "SELECT id, device_id, lock_id, event, detail, device_time, received_at FROM lock_events "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [LockEventRow(*row) for row in rows]

    def device_rows(self) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT id, kind, transport, address, name, connected, last_seen, last_error, state_json FROM devices ORDER BY id"
        ).fetchall()
        keys = ("id", "kind", "transport", "address", "name", "connected", "last_seen", "last_error", "state")
        out = []
        for row in rows:
            item = dict(zip(keys, row))
            item["connected"] = bool(item["connected"])
            item["state"] = json.loads(item["state"])
            out.append(item)
        return out

    def last_states(self) -> dict[str, dict[str, Any]]:
        """Each device's last known state, so a restarted edge does not re-announce old events."""
        return {row["id"]: row["state"] for row in self.device_rows() if row["state"]}

    def count(self, table: str) -> int:
        if table not in ("readings", "lock_events", "lock_history", "devices"):
            raise ValueError(f"unknown table {table}")
        return int(self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


class AsyncStore:
    """The store behind one worker thread, awaited from the event loop."""

    def __init__(self, path: Path) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kouan-store")
        self._store: Store = self._executor.submit(Store, path).result()
        self._closed = threading.Event()

    @property
    def path(self) -> Path:
        return self._store.path

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(store, *args)` on the store thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, self._store, *args)

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._executor.submit(self._store.close).result()
            self._executor.shutdown(wait=True)
