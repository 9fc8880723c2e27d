"""The passage tables, a named migration after the core's."""

from __future__ import annotations

from edge.migrations import Migration

MIGRATIONS = (
    Migration("passages:1", """
CREATE TABLE declarations (
    id TEXT PRIMARY KEY,
    plate TEXT NOT NULL,
    raw_json TEXT NOT NULL,
    source TEXT NOT NULL,
    declared_at REAL NOT NULL,
    received_at REAL NOT NULL,
    passage_id INTEGER
);
CREATE TABLE declaration_keys (
    key TEXT NOT NULL,
    declaration_id TEXT NOT NULL REFERENCES declarations (id),
    PRIMARY KEY (key, declaration_id)
);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    plate TEXT NOT NULL DEFAULT '',
    containers TEXT NOT NULL DEFAULT '',
    declaration_id TEXT REFERENCES declarations (id),
    arrived_at REAL NOT NULL,
    deadline_at REAL,
    decided_at REAL,
    acted_at REAL,
    acted_by TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    reason_word TEXT NOT NULL DEFAULT '',
    reasons_json TEXT NOT NULL DEFAULT '[]',
    verdict_json TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    updated_at REAL NOT NULL
);
CREATE INDEX passages_waiting ON passages (state, deadline_at);
CREATE TABLE passage_keys (
    key TEXT NOT NULL,
    passage_id INTEGER NOT NULL REFERENCES passages (id),
    PRIMARY KEY (key, passage_id)
);
CREATE INDEX passage_keys_passage ON passage_keys (passage_id);
CREATE TABLE passage_observations (
    id INTEGER PRIMARY KEY,
    passage_id INTEGER NOT NULL REFERENCES passages (id),
    device_id TEXT NOT NULL,
    ref TEXT NOT NULL,
    reading_id INTEGER NOT NULL REFERENCES readings (id),
    at REAL NOT NULL,
    pending INTEGER NOT NULL,
    late INTEGER NOT NULL DEFAULT 0,
    observation_json TEXT NOT NULL,
    UNIQUE (passage_id, device_id, ref)
);
CREATE TABLE passage_timeline (
    id INTEGER PRIMARY KEY,
    passage_id INTEGER NOT NULL REFERENCES passages (id),
    at REAL NOT NULL,
    what TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX passage_timeline_passage ON passage_timeline (passage_id, id);
"""),
    # which devices an open passage still waits for, shown in the list ("waiting for iris")
    Migration("passages:2", """
ALTER TABLE passages ADD COLUMN waiting_for TEXT NOT NULL DEFAULT '';
"""),
)
