"""The lane's local store: SQLite in WAL mode for devices, readings and the events they raise.

One connection, owned by one worker thread (`AsyncStore`), so SQLite writes never run on the
event loop and never race. Readings are keyed by the SHA-256 of their raw bytes, so a frame a
device retransmits (or an MQTT QoS 1 duplicate) is stored once and counted as a duplicate.
The schema is a chain of migrations (`edge/migrations.py`): the core's, then each kind's.

The store names no device kind. A reading may carry a `Deriver` from its kind: it runs on the
store thread inside the reading's own transaction, reads and writes the kind's tables through
a `Txn`, and says which events the reading raised, so a reading and its events are stored
together or not at all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from edge.migrations import CORE, Migration, migrate

log = logging.getLogger(__name__)
T = TypeVar("T")

_EVENT_COLUMNS = "id, device_id, kind, subject, event, detail, device_time, received_at"


@dataclass(frozen=True)
class EventRow:
    """One event as stored and shown: what happened, to what (`subject`), when."""

    id: int
    device_id: str
    kind: str
    subject: str
    event: str
    detail: str
    device_time: str | None
    received_at: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "device_id": self.device_id, "kind": self.kind, "subject": self.subject,
            "event": self.event, "detail": self.detail, "device_time": self.device_time,
            "received_at": self.received_at,
        }


@dataclass
class Derived:
    """What a kind's deriver made of a stored reading."""

    newest: bool = True  # the latest in the device's own order: its state is the device's state now
    events: list[EventRow] = field(default_factory=list)
    moved: list[EventRow] = field(default_factory=list)  # raised before, their time now corrected


@dataclass(frozen=True)
class Recorded:
    """A reading's outcome: its row id (None: the same bytes were stored before) and what it derived."""

    reading_id: int | None
    derived: Derived


class Txn:
    """The open transaction a deriver works in: the kind's own tables, and events."""

    def __init__(self, db: sqlite3.Connection, device_id: str, kind: str, received_at: float) -> None:
        self._db = db
        self.device_id, self.kind, self.received_at = device_id, kind, received_at

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, params)

    def device_state(self) -> dict[str, Any]:
        """The device's state as last stored (for a kind whose own history is empty)."""
        row = self._db.execute("SELECT state_json FROM devices WHERE id=?", (self.device_id,)).fetchone()
        return json.loads(row[0]) if row else {}

    def reading_time(self, reading_id: int) -> str | None:
        row = self._db.execute("SELECT device_time FROM readings WHERE id=?", (reading_id,)).fetchone()
        return row[0] if row else None

    def add_event(self, subject: str, event: str, detail: str, device_time: str | None, reading_id: int) -> EventRow:
        cur = self._db.execute(
            "INSERT INTO events (device_id, kind, subject, event, detail, device_time, received_at, reading_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self.device_id, self.kind, subject, event, detail, device_time, self.received_at, reading_id),
        )
        return EventRow(int(cur.lastrowid or 0), self.device_id, self.kind, subject, event, detail, device_time,
                        self.received_at)

    def move_event(self, from_reading: int, event: str, to_reading: int, device_time: str | None) -> EventRow | None:
        """Re-attribute the first `event` raised at `from_reading` to the earlier `to_reading`."""
        row = self._db.execute(
            "SELECT id FROM events WHERE reading_id=? AND event=? ORDER BY id LIMIT 1", (from_reading, event),
        ).fetchone()
        if row is None:
            return None
        self._db.execute("UPDATE events SET reading_id=?, device_time=? WHERE id=?", (to_reading, device_time, row[0]))
        found = self._db.execute(f"SELECT {_EVENT_COLUMNS} FROM events WHERE id=?", (row[0],)).fetchone()
        return EventRow(*found)


# Runs inside a reading's transaction, given the reading's row id.
Deriver = Callable[[Txn, int], Derived]


class Store:
    """Synchronous store; use it from one thread only (see AsyncStore)."""

    def __init__(self, path: Path, migrations: Sequence[Migration] = ()) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self.applied = migrate(self._db, [*CORE, *migrations])

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
        payload: dict[str, Any], state: dict[str, Any] | None, derive: Deriver | None = None, kind: str = "",
        from_device: bool = True,
    ) -> Recorded:
        """Store a reading, and in the same transaction what its kind derives from it; a reading
        whose bytes were stored before changes nothing (reading_id None). Only a reading that came
        from the device (`from_device`) moves its last-seen time."""
        with self._transaction():
            cur = self._db.execute(
                "INSERT OR IGNORE INTO readings (device_id, received_at, device_time, message, sha256, payload_json) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (device_id, received_at, device_time, message, sha256, json.dumps(payload, default=str)),
            )
            reading_id = int(cur.lastrowid or 0) if cur.rowcount else None
            derived = Derived(newest=False)
            if reading_id is not None:
                derived = derive(Txn(self._db, device_id, kind, received_at), reading_id) if derive else Derived()
            if reading_id is not None and derived.newest and state is not None:
                self._db.execute("UPDATE devices SET state_json=? WHERE id=?", (json.dumps(state, default=str), device_id))
            if from_device:
                self._db.execute("UPDATE devices SET last_seen=? WHERE id=?", (received_at, device_id))
            return Recorded(reading_id, derived)

    def transact(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(txn, *args)` in one transaction of its own (for work that is not a device's
        reading: a timer, an officer's action); all of it is stored, or none."""
        with self._transaction():
            return fn(Txn(self._db, "", "", time.time()), *args)

    def touch(self, device_id: str, seen_at: float) -> None:
        """Mark a device as heard from (heartbeats and other non-reading traffic)."""
        self._db.execute("UPDATE devices SET last_seen=? WHERE id=?", (seen_at, device_id))

    def recent_events(self, limit: int = 100) -> list[EventRow]:
        rows = self._db.execute(f"SELECT {_EVENT_COLUMNS} FROM events ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [EventRow(*row) for row in rows]

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
        """Each device's last known state, so a restarted edge shows it before the device speaks."""
        return {row["id"]: row["state"] for row in self.device_rows() if row["state"]}

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read-only query, for a kind's adapters to find what they left in their own tables."""
        if not sql.lstrip().upper().startswith("SELECT"):
            raise ValueError("Store.read runs SELECT statements only")
        return self._db.execute(sql, params).fetchall()

    def execute_write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """One INSERT, UPDATE or DELETE on a module's own tables, committed on its own (for the
        modules that keep state beside the readings, e.g. edge/users.py)."""
        if sql.lstrip().upper().startswith("SELECT"):
            raise ValueError("Store.execute_write writes; use Store.read for a SELECT")
        return self._db.execute(sql, params)

    def execute_writes(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Several writes in one transaction: all of them, or none if one fails."""
        with self._transaction():
            for sql, params in statements:
                self._db.execute(sql, params)

    def count(self, table: str) -> int:
        known = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if table not in known:
            raise ValueError(f"unknown table {table}")
        return int(self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


class AsyncStore:
    """The store behind one worker thread, awaited from the event loop."""

    def __init__(self, path: Path, migrations: Sequence[Migration] = ()) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kouan-store")
        self._store: Store = self._executor.submit(Store, path, migrations).result()
        self._closed = threading.Event()

    @property
    def path(self) -> Path:
        return self._store.path

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(store, *args)` on the store thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, self._store, *args)

    def read_blocking(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """`Store.read` from a device's own thread (never from the event loop: it waits)."""
        return self._executor.submit(Store.read, self._store, sql, params).result()

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._executor.submit(self._store.close).result()
            self._executor.shutdown(wait=True)
