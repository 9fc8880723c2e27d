"""Small reads and writes of the passage tables that correlation and the book share."""

from __future__ import annotations

import json

from edge.passages.decide import Seen
from edge.passages.declarations import Declaration, load
from edge.passages.observation import Observation
from edge.store import Txn


def bind(txn: Txn, passage_id: int, declaration_id: str, now: float) -> None:
    """Hold a passage against a declaration (each declaration serves one vehicle)."""
    txn.execute("UPDATE passages SET declaration_id=? WHERE id=?", (declaration_id, passage_id))
    txn.execute("UPDATE declarations SET passage_id=? WHERE id=?", (passage_id, declaration_id))
    declaration = declaration_of(txn, declaration_id)
    if declaration is not None:
        for key in declaration.keys():
            txn.execute("INSERT OR IGNORE INTO passage_keys (key, passage_id) VALUES (?, ?)", (key, passage_id))
        txn.execute("UPDATE passages SET plate=?, containers=? WHERE id=?",
                    (declaration.declared().plate, ",".join(c.number for c in declaration.containers), passage_id))
    timeline(txn, passage_id, now, "declaration", f"held against declaration {declaration_id}")


def declaration_of(txn: Txn, declaration_id: str | None) -> Declaration | None:
    if declaration_id is None:
        return None
    row = txn.execute("SELECT raw_json, declared_at FROM declarations WHERE id=?", (declaration_id,)).fetchone()
    if row is None:
        return None
    declaration = load(row[0])
    declaration._received_at = row[1]  # the stored time: its own declared_at, else when it reached the lane
    return declaration


def seen_in(txn: Txn, passage_id: int) -> list[Seen]:
    rows = txn.execute("SELECT observation_json, at, late FROM passage_observations WHERE passage_id=? ORDER BY id",
                       (passage_id,)).fetchall()
    return [Seen(Observation.from_dict(json.loads(data)), at, bool(late)) for data, at, late in rows]


def timeline(txn: Txn, passage_id: int, at: float, what: str, detail: str, by: str = "") -> None:
    txn.execute("INSERT INTO passage_timeline (passage_id, at, what, detail, by) VALUES (?, ?, ?, ?, ?)",
                (passage_id, at, what, detail, by))
