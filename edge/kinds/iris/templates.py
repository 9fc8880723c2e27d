"""The iris kind's own tables (migration "iris:1") and the functions that read and write them.

- `iris_templates`: a card's enrolled templates (`matching.Template.to_bytes()`, 1024 bytes:
  code then mask), when and by whom they were enrolled. Matching takes the best over them.
- `iris_captures`: one row per stored capture (its reading id): the card, whether it passed the
  quality gate, the outcome and distance, and the SHA-256 of its code and mask in the media
  store. Written by the capture's deriver in the reading's transaction; enrolment picks a
  card's last good captures from it.

The functions take anything with sqlite3's `execute` (a connection, or a deriver's `Txn`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from edge.kinds.iris.matching import Template
from edge.migrations import Migration

MIGRATIONS = (
    Migration("iris:1", """
CREATE TABLE IF NOT EXISTS iris_templates (
    id INTEGER PRIMARY KEY,
    card_id TEXT NOT NULL,
    template BLOB NOT NULL,
    enrolled_at REAL NOT NULL,
    enrolled_by TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS iris_templates_card ON iris_templates (card_id);
CREATE TABLE IF NOT EXISTS iris_captures (
    reading_id INTEGER PRIMARY KEY REFERENCES readings (id),
    device_id TEXT NOT NULL,
    card_id TEXT NOT NULL,
    captured_at TEXT NOT NULL,
    quality_passed INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    distance REAL,
    code_sha256 TEXT NOT NULL,
    mask_sha256 TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS iris_captures_card ON iris_captures (card_id, quality_passed, reading_id);
"""),
)


class Executes(Protocol):
    """A sqlite3 connection or cursor-like object (`edge.store.Txn` is one)."""

    def execute(self, sql: str, params: Any = ..., /) -> Any: ...


@dataclass(frozen=True)
class Enrolled:
    """One stored template row."""

    id: int
    card_id: str
    template: Template
    enrolled_at: float
    enrolled_by: str
    source: str


@dataclass(frozen=True)
class GoodCapture:
    """A stored capture that passed the quality gate: where its code and mask are in the media store."""

    reading_id: int
    device_id: str
    captured_at: str
    code_sha256: str
    mask_sha256: str


def add_template(db: Executes, card_id: str, template: Template, enrolled_at: float, enrolled_by: str,
                 source: str = "") -> int:
    """Store one template for a card; its row id."""
    cur = db.execute(
        "INSERT INTO iris_templates (card_id, template, enrolled_at, enrolled_by, source) VALUES (?, ?, ?, ?, ?)",
        (card_id, template.to_bytes(), enrolled_at, enrolled_by, source),
    )
    return int(cur.lastrowid or 0)


def replace_templates(db: Executes, card_id: str, templates: list[Template], enrolled_at: float, enrolled_by: str,
                      source: str = "") -> list[int]:
    """A (re-)enrolment: the card's templates are these and no others (call inside one transaction)."""
    db.execute("DELETE FROM iris_templates WHERE card_id=?", (card_id,))
    return [add_template(db, card_id, t, enrolled_at, enrolled_by, source) for t in templates]


def list_templates(db: Executes, card_id: str | None = None) -> list[Enrolled]:
    """A card's templates (all cards' with None), oldest first."""
    where, params = ("WHERE card_id=?", (card_id,)) if card_id is not None else ("", ())
    rows = db.execute(f"SELECT id, card_id, template, enrolled_at, enrolled_by, source FROM iris_templates {where} "
                      "ORDER BY id", params).fetchall()
    return [Enrolled(int(r[0]), r[1], Template.from_bytes(bytes(r[2])), float(r[3]), r[4], r[5]) for r in rows]


def card_templates(db: Executes, card_id: str) -> list[Template]:
    """What the matcher compares a capture of `card_id` with."""
    return [row.template for row in list_templates(db, card_id)]


def record_capture(db: Executes, reading_id: int, device_id: str, card_id: str, captured_at: str, passed: bool,
                   outcome: str, distance: float | None, code_sha256: str, mask_sha256: str) -> None:
    """The outcome of one stored capture (in its reading's transaction)."""
    db.execute(
        "INSERT INTO iris_captures (reading_id, device_id, card_id, captured_at, quality_passed, outcome, distance, "
        "code_sha256, mask_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (reading_id, device_id, card_id, captured_at, int(passed), outcome, distance, code_sha256, mask_sha256),
    )


def good_captures(db: Executes, card_id: str, limit: int, device_id: str | None = None) -> list[GoodCapture]:
    """A card's last `limit` captures that passed the quality gate, newest first."""
    sql = ("SELECT reading_id, device_id, captured_at, code_sha256, mask_sha256 FROM iris_captures "
           "WHERE card_id=? AND quality_passed=1")
    params: list[Any] = [card_id]
    if device_id is not None:
        sql += " AND device_id=?"
        params.append(device_id)
    rows = db.execute(sql + " ORDER BY reading_id DESC LIMIT ?", (*params, limit)).fetchall()
    return [GoodCapture(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]
