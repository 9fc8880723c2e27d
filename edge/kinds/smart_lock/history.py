"""A lock's reports in the lock's own order (device time, then serial), and the events each
report's place in that order implies (`events.place_report`). Each lock a device reports has
its own order: a reader at the lane sees one lock after another.

It runs as the reading's `Deriver`, inside the store transaction that stores the reading, so
the reading, its place in the history and its events are stored together or not at all.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from edge.kinds.smart_lock.events import place_report
from edge.migrations import Migration
from edge.store import Derived, Deriver, Txn

log = logging.getLogger(__name__)

MIGRATIONS = (
    Migration("smart_lock:1", """
CREATE TABLE IF NOT EXISTS lock_history (
    reading_id INTEGER PRIMARY KEY REFERENCES readings (id),
    device_id TEXT NOT NULL,
    order_time REAL NOT NULL,
    serial INTEGER NOT NULL,
    state_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS lock_history_order ON lock_history (device_id, order_time, serial, reading_id);
"""),
    # A reader at the lane sees one lock after another: each lock has its own order.
    Migration("smart_lock:2", """
ALTER TABLE lock_history ADD COLUMN lock_id TEXT NOT NULL DEFAULT '';
UPDATE lock_history SET lock_id = COALESCE(json_extract(state_json, '$.lock_id'), '');
CREATE INDEX lock_history_lock_order ON lock_history (device_id, lock_id, order_time, serial, reading_id);
"""),
)


def lock_order(device_time: str | None, serial: int | None, received_at: float, device_id: str = "") -> tuple[float, int]:
    """Where a lock report stands in its lock's own order: device time (epoch s), then serial.

    A report without a device time stands at its arrival. Serial numbers wrap at 0xFFFF; they
    only break ties within one second of device time, where a wrap does not happen in practice.
    """
    moment = received_at
    if device_time:
        try:
            moment = datetime.fromisoformat(device_time).timestamp()
        except ValueError:
            log.warning("lock %s: device time %r unreadable; ordered by arrival", device_id, device_time)
    return moment, int(serial or 0)


def in_lock_order(state: dict[str, Any], device_time: str | None, low_battery_pct: int | None) -> Deriver:
    """The deriver for one lock report (its serial is in `state`)."""

    def derive(txn: Txn, reading_id: int) -> Derived:
        order = lock_order(device_time, state.get("serial"), txn.received_at, txn.device_id)
        lock_id = str(state.get("lock_id", ""))
        key = (txn.device_id, lock_id, order[0], order[1], reading_id)
        before = txn.execute(
            "SELECT state_json FROM lock_history WHERE device_id=? AND lock_id=? AND (order_time, serial, reading_id) "
            "< (?, ?, ?) ORDER BY order_time DESC, serial DESC, reading_id DESC LIMIT 1", key,
        ).fetchone()
        after = txn.execute(
            "SELECT reading_id, state_json FROM lock_history WHERE device_id=? AND lock_id=? AND (order_time, serial, "
            "reading_id) > (?, ?, ?) ORDER BY order_time, serial, reading_id LIMIT 1", key,
        ).fetchone()
        previous = json.loads(before[0]) if before else _state_before_history(txn, lock_id)
        following = json.loads(after[1]) if after else None
        txn.execute(
            "INSERT INTO lock_history (reading_id, device_id, lock_id, order_time, serial, state_json) "
            "VALUES (?, ?, ?, ?, ?, ?)", (reading_id, txn.device_id, lock_id, order[0], order[1], json.dumps(state, default=str)),
        )
        placed = place_report(previous, state, following, low_battery_pct)
        derived = Derived(newest=after is None)
        derived.events = [txn.add_event(lock_id, e.event, e.detail, device_time, reading_id) for e in placed.at_report]
        if after is not None:
            next_id, next_state = int(after[0]), json.loads(after[1])
            next_time = txn.reading_time(next_id)
            derived.events += [txn.add_event(str(next_state.get("lock_id", "")), e.event, e.detail, next_time, next_id)
                               for e in placed.at_next]
            derived.moved = [row for name in placed.moved
                             if (row := txn.move_event(next_id, name, reading_id, device_time)) is not None]
        return derived

    return derive


def _state_before_history(txn: Txn, lock_id: str) -> dict[str, Any] | None:
    """A lock with no history yet may still have a last state (a store from before the history
    was kept): it stands before every report, so an upgrade re-announces nothing."""
    if txn.execute("SELECT 1 FROM lock_history WHERE device_id=? AND lock_id=? LIMIT 1",
                   (txn.device_id, lock_id)).fetchone():
        return None
    state = txn.device_state()
    return state if state and str(state.get("lock_id", "")) == lock_id else None
