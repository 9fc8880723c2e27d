"""The scanner's own table: notices waiting for their file (`scanner_pending`), and the derivers
that keep it inside each reading's store transaction and raise the scanner's events.

A notice's reading adds its row; the reading that settles it (scan stored, refused, file never
came) removes the row and raises the event in the same transaction. Each deriver also completes
the reading's state with the rows still waiting (`state["pending"]`), so the device's stored state
is what a restarted edge picks the waiting notices up from.
"""

from __future__ import annotations

import json
from typing import Any

from edge.migrations import Migration
from edge.store import Derived, Deriver, Txn

MAX_IN_STATE = 1000  # rows carried in the state; the config's max_pending is at most this

MIGRATIONS = (
    Migration("scanner:1", """
CREATE TABLE IF NOT EXISTS scanner_pending (
    device_id TEXT NOT NULL,
    scan_id TEXT NOT NULL,
    file_name TEXT NOT NULL,
    notice_json TEXT NOT NULL,
    noticed_at REAL NOT NULL,
    reading_id INTEGER REFERENCES readings (id),
    PRIMARY KEY (device_id, scan_id)
);
CREATE INDEX IF NOT EXISTS scanner_pending_time ON scanner_pending (device_id, noticed_at);
"""),
)


def _complete_state(txn: Txn, state: dict[str, Any], last: dict[str, Any] | None) -> None:
    """Fill `state` (in place: the store writes it after the deriver ran) from the table and the last outcome."""
    rows = txn.execute(
        "SELECT notice_json, noticed_at FROM scanner_pending WHERE device_id=? ORDER BY noticed_at, scan_id LIMIT ?",
        (txn.device_id, MAX_IN_STATE),
    ).fetchall()
    previous = txn.device_state()
    state.clear()
    state["last"] = last if last is not None else previous.get("last")
    image = (state["last"] or {}).get("media_sha256") or previous.get("image_sha256")
    if image:
        state["image_sha256"] = image  # the lane page shows the latest scan
    state["pending"] = [{"notice": json.loads(row[0]), "noticed_at": row[1]} for row in rows]


def noticed(wire: dict[str, Any], noticed_at: float, state: dict[str, Any]) -> Deriver:
    """The deriver of a notice's reading: it waits for its file in `scanner_pending`."""

    def derive(txn: Txn, reading_id: int) -> Derived:
        txn.execute(
            "INSERT OR IGNORE INTO scanner_pending (device_id, scan_id, file_name, notice_json, noticed_at, reading_id) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (txn.device_id, wire["scan_id"], wire["file_name"], json.dumps(wire), noticed_at, reading_id),
        )
        _complete_state(txn, state, None)
        return Derived()

    return derive


def settled(scan_id: str | None, subject: str, event: str, detail: str, device_time: str | None,
            last: dict[str, Any], state: dict[str, Any]) -> Deriver:
    """The deriver of an outcome: the notice (if any) no longer waits, and `event` is raised."""

    def derive(txn: Txn, reading_id: int) -> Derived:
        if scan_id is not None:
            txn.execute("DELETE FROM scanner_pending WHERE device_id=? AND scan_id=?", (txn.device_id, scan_id))
        row = txn.add_event(subject, event, detail, device_time, reading_id)
        _complete_state(txn, state, last)
        return Derived(events=[row])

    return derive
