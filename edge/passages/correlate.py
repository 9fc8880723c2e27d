"""Which passage a reading belongs to.

In order: (1) a passage of the last `match_window_s` that shares a key with it (plate, container,
lock or card, its declaration's keys included), unless that passage is over and the same device
reads the same plate on another pass (the vehicle is back: a new visit); (2) an unused, unexpired
declaration that shares a key: the lane's newest passage that nothing names yet (a vehicle whose
plate was not read) if the reading names no plate, which takes the declaration, else a new passage
held against it; (3) a reading that names a vehicle (a plate) nobody declared: a new, undeclared
passage; (4) any other reading (a lock, container or card that matches nothing) joins the lane's
newest passage not yet acted on (released or held) of the last `join_window_s`, where it becomes a
mismatch against that vehicle's declaration (a reading that comes just after its device's deadline
still joins the vehicle at the lane); (5) else a new, undeclared passage.
A lane serves one vehicle after another, which is what makes (4) right. Only the devices at the
lane (those a passage waits for) open passages and join by lane order; another (a lock's transit
uplink, reporting from the road) joins a passage by a shared key only.
"""

from __future__ import annotations

from edge.passages.config import PassagesConfig
from edge.passages.observation import Observation, norm, plate_norm
from edge.passages.rows import bind, timeline
from edge.store import Txn


def find_passage(txn: Txn, observation: Observation, now: float, config: PassagesConfig,
                 by_lane_order: bool = True) -> int | None:
    """The existing passage this observation joins, or None. Without `by_lane_order` (a device
    that is not at the lane) only a shared key joins it to a passage."""
    keys = observation.keys()
    if keys:
        marks = ",".join("?" * len(keys))
        row = txn.execute(
            f"SELECT p.id, p.state FROM passages p JOIN passage_keys k ON k.passage_id=p.id WHERE k.key IN ({marks}) "
            "AND p.arrived_at >= ? ORDER BY p.id DESC LIMIT 1", (*keys, now - config.match_window_s)).fetchone()
        if row is not None and not (by_lane_order and _comes_again(txn, int(row[0]), row[1], observation)):
            return int(row[0])
        if not by_lane_order or observation.plate:
            return None
        if _declaration_for(txn, keys, now, config) is not None:
            return _plateless_at_lane(txn, now, config)  # None: a new passage held against the declaration
    if not by_lane_order:
        return None
    row = txn.execute(
        "SELECT id FROM passages WHERE state IN ('open', 'analysing', 'clear', 'flagged') AND arrived_at >= ? "
        "ORDER BY id DESC LIMIT 1", (now - config.join_window_s,)).fetchone()
    return int(row[0]) if row is not None else None


def _plateless_at_lane(txn: Txn, now: float, config: PassagesConfig) -> int | None:
    """The lane's newest passage not yet acted on, of the last `join_window_s`, that nothing names (no
    plate, no declaration, no key at all): the vehicle whose plate was not read, which a declared card,
    lock or container read just after it belongs to (it then takes that declaration) rather than a
    passage of its own."""
    row = txn.execute(
        "SELECT id FROM passages p WHERE state IN ('open', 'analysing', 'clear', 'flagged') AND arrived_at >= ? "
        "AND declaration_id IS NULL AND plate = '' AND NOT EXISTS (SELECT 1 FROM passage_keys k "
        "WHERE k.passage_id = p.id) ORDER BY id DESC LIMIT 1", (now - config.join_window_s,)).fetchone()
    return int(row[0]) if row is not None else None


def _comes_again(txn: Txn, passage_id: int, state: str, observation: Observation) -> bool:
    """A vehicle back at the lane: its passage is over (released or held) and the device that
    reads its plate reports another pass of it (another `ref`), so this is a new visit."""
    if state not in ("released", "held", "reviewed") or not observation.plate:
        return False
    return txn.execute(
        "SELECT 1 FROM passage_observations WHERE passage_id=? AND device_id=? AND ref != ? AND pending = 0 LIMIT 1",
        (passage_id, observation.device_id, observation.ref)).fetchone() is not None


def open_passage(txn: Txn, observation: Observation, now: float, config: PassagesConfig) -> int:
    """A new passage from its first observation, held against a declaration its keys match, if any."""
    cur = txn.execute(
        "INSERT INTO passages (state, plate, containers, arrived_at, deadline_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        ("open", plate_norm(observation.plate), ",".join(norm(c) for c in observation.containers), now, now, now))
    passage_id = int(cur.lastrowid or 0)
    timeline(txn, passage_id, now, "arrival", f"first reading from {observation.device_id}")
    declaration_id = _declaration_for(txn, observation.keys(), now, config)
    if declaration_id is not None:
        bind(txn, passage_id, declaration_id, now)
    return passage_id


def _declaration_for(txn: Txn, keys: list[str], now: float, config: PassagesConfig) -> str | None:
    """The oldest unused, unexpired declaration sharing a key (a truck declared for two trips makes the
    first one first)."""
    if not keys:
        return None
    marks = ",".join("?" * len(keys))
    row = txn.execute(
        f"SELECT d.id FROM declarations d JOIN declaration_keys k ON k.declaration_id=d.id WHERE k.key IN ({marks}) "
        "AND d.passage_id IS NULL AND d.declared_at >= ? ORDER BY d.declared_at, d.received_at LIMIT 1",
        (*keys, now - config.declaration_valid_h * 3600)).fetchone()
    return str(row[0]) if row is not None else None


def adopt_declaration(txn: Txn, passage_id: int, observation: Observation, now: float, config: PassagesConfig) -> bool:
    """A passage opened without a declaration takes the one a later reading's keys match."""
    if txn.execute("SELECT declaration_id FROM passages WHERE id=?", (passage_id,)).fetchone()[0] is not None:
        return False
    declaration_id = _declaration_for(txn, observation.keys(), now, config)
    if declaration_id is None:
        return False
    bind(txn, passage_id, declaration_id, now)
    return True
