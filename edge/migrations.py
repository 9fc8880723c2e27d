"""The store's schema as an ordered list of named migrations, so an edge upgraded in the field
keeps its data.

Each migration runs once, in its own transaction, and is recorded in `schema_migrations`. The
core's come first, then each kind's (a kind names its own, e.g. "smart_lock:1"), so a kind adds
its tables without the store knowing it. The first core migration is the schema as it was before
migrations existed (every statement `IF NOT EXISTS`), so an old database simply joins the chain.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)
_NAME = re.compile(r"^[a-z][a-z0-9_]*:[0-9]+$")


@dataclass(frozen=True)
class Migration:
    """One step of the schema: a unique name ("core:2", "smart_lock:1") and its SQL script."""

    name: str
    sql: str


CORE: tuple[Migration, ...] = (
    Migration("core:1", """
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
"""),
    # Events of every kind in one table: what it is about (`subject`: a lock id, a container
    # number, a card id) instead of a lock id; the lock's events are carried over.
    Migration("core:2", """
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    event TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    device_time TEXT,
    received_at REAL NOT NULL,
    reading_id INTEGER REFERENCES readings (id)
);
CREATE INDEX events_time ON events (received_at);
CREATE INDEX events_reading ON events (reading_id, event);
INSERT INTO events (id, device_id, kind, subject, event, detail, device_time, received_at, reading_id)
    SELECT id, device_id, 'smart_lock', lock_id, event, detail, device_time, received_at, reading_id FROM lock_events;
DROP TABLE lock_events;
"""),
    # Who may use the lane terminal (edge/users.py), and their sessions: a session's token is
    # kept only as its SHA-256, so a copy of the database logs nobody in.
    Migration("core:3", """
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('officer','supervisor')),
    password_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE sessions (
    token_sha256 TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    csrf TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_used REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
"""),
)


def migrate(db: sqlite3.Connection, migrations: Sequence[Migration]) -> list[str]:
    """Apply, in order, every migration not applied yet; return the names applied now."""
    names = [m.name for m in migrations]
    if len(set(names)) != len(names) or not all(_NAME.match(name) for name in names):
        raise ValueError(f"migration names must be unique and look like 'kind:1': {names}")
    db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    done = {row[0] for row in db.execute("SELECT name FROM schema_migrations")}
    applied: list[str] = []
    for migration in migrations:
        if migration.name in done:
            continue
        script = "BEGIN IMMEDIATE;\n" + migration.sql + "\nINSERT INTO schema_migrations (name, applied_at) VALUES " \
            f"('{migration.name}', {time.time()!r});\nCOMMIT;"
        try:
            db.executescript(script)
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise RuntimeError(f"store migration {migration.name} failed: {exc}") from exc
        log.info("store: applied migration %s", migration.name)
        applied.append(migration.name)
    return applied
