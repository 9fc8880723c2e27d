"""The uplink's tables in the lane's store, a named migration after the passages'.

- `outbox`: what the hub has not confirmed yet, one row per blob (key = its SHA-256) or passage
  (key = its id; a newer revision replaces the pending one, keeping `created_at` so its age is
  honest), with the retry state (`attempts`, `next_at`, `last_error`) kept across restarts.
- `outbox_refused`: rows the hub refused for good (4xx other than an offset conflict), with its
  Refusal: kept, counted and shown, never dropped.
- `sent_blobs`: images the hub confirmed whole, so a later revision does not send them again.
- `uplink_state`: key/value; `verdict_cursor` is the last verdict applied.
"""

from __future__ import annotations

from edge.migrations import Migration

MIGRATIONS = (
    Migration("uplink:1", """
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('blob', 'passage')),
    key TEXT NOT NULL,
    passage_id INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    doc_json TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    UNIQUE (kind, key)
);
CREATE INDEX outbox_due ON outbox (next_at, created_at);
CREATE TABLE outbox_refused (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    passage_id INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    doc_json TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL,
    refused_at REAL NOT NULL,
    status INTEGER NOT NULL,
    code TEXT NOT NULL,
    detail TEXT NOT NULL,
    missing_json TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX outbox_refused_key ON outbox_refused (kind, key);
CREATE TABLE sent_blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    sent_at REAL NOT NULL
);
CREATE TABLE uplink_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""),
)
