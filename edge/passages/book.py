"""The passage tables, worked on inside the store's transactions (on the store thread).

`follow` runs inside a device reading's own transaction, so a reading and its place in a passage
are stored together or not at all: an edge killed between the two cannot exist, and a reading
stored twice (same bytes) is not followed twice. `tick` decides passages whose deadline passed,
`act` records an officer's release or hold, `load_declaration` keeps a declaration. Each returns
the ids of the passages it changed, for the runtime to publish after the commit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edge.passages.config import PassagesConfig
from edge.passages.correlate import adopt_declaration, find_passage, open_passage
from edge.passages.decide import Check, Rules, decide
from edge.passages.declarations import Declaration, store_declaration
from edge.passages.rows import bind, declaration_of, seen_in, timeline
from edge.passages.observation import Observation, ReadingView
from edge.passages.reasons import held_anew, release_needs_note
from edge.store import Txn

log = logging.getLogger(__name__)

WAITING = ("open", "analysing")
DECIDED = ("clear", "flagged")
FINAL = ("released", "held", "reviewed")
GONE = ("released", "held")  # a reading after these is late; a `reviewed` vehicle is still at the lane
Observe = Callable[[Txn, ReadingView], list[Observation]]


@dataclass(frozen=True)
class LaneDeviceRole:
    """What the book needs of one configured device: its name, what its readings mean, its check."""

    name: str
    observe: Observe
    check: Check | None = None


class ActionRefused(ValueError):
    """An officer's action that the passage's state does not allow; the message says why."""


class PassageBook:
    """See the module docstring."""

    def __init__(self, config: PassagesConfig, devices: Mapping[str, LaneDeviceRole]) -> None:
        self.config = config
        self.devices = dict(devices)
        self.rules = Rules(
            deadlines={d: s for d, s in config.deadlines.items()}, holds=config.holds,
            names={d: role.name or d for d, role in self.devices.items()},
            checks={d: role.check for d, role in self.devices.items() if role.check is not None})

    # ------------------------------------------------------------ inside a reading's transaction

    def follow(self, txn: Txn, view: ReadingView) -> list[int]:
        """Place what one stored reading says into its passage(s), and re-decide them."""
        role = self.devices.get(view.device_id)
        if role is None:
            return []
        changed: list[int] = []
        for observation in role.observe(txn, view):
            passage_id = self._place(txn, observation, view)
            if passage_id is not None and passage_id not in changed:
                changed.append(passage_id)
        for passage_id in changed:
            if not self.evaluate(txn, passage_id, view.received_at):
                # what the lane saw changed though the decision did not (an image after the decision): a new
                # revision all the same, or the page keeps the old one and the hub answers "superseded"
                txn.execute("UPDATE passages SET version=version+1, updated_at=? WHERE id=?",
                            (view.received_at, passage_id))
        return changed

    def arrives_with(self, device_id: str) -> bool:
        """Whether this device is at the lane (it is waited for), so its reading can open a passage and
        join the vehicle there; any other (a lock's transit uplink) only joins a passage by its keys."""
        return not self.config.deadlines or device_id in self.config.deadlines

    def _place(self, txn: Txn, observation: Observation, view: ReadingView) -> int | None:
        """The passage the observation went into (None: it changed nothing, or has no passage)."""
        now = view.received_at
        at_lane = self.arrives_with(observation.device_id)
        passage_id = find_passage(txn, observation, now, self.config, by_lane_order=at_lane)
        if passage_id is None:
            if not at_lane:
                return None
            passage_id = open_passage(txn, observation, now, self.config)
        else:
            adopt_declaration(txn, passage_id, observation, now, self.config)
        state = txn.execute("SELECT state FROM passages WHERE id=?", (passage_id,)).fetchone()[0]
        late = state in GONE
        data = json.dumps(observation.as_dict(), default=str)
        previous = txn.execute(
            "SELECT pending, observation_json FROM passage_observations WHERE passage_id=? AND device_id=? AND ref=?",
            (passage_id, observation.device_id, observation.ref)).fetchone()
        if previous is not None and (previous[1] == data or (not previous[0] and observation.pending)):
            return None  # the same again (a lock reporting every 30 s), or a re-sent pass after its analysis
        txn.execute(
            "INSERT INTO passage_observations (passage_id, device_id, ref, reading_id, at, pending, late, observation_json) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (passage_id, device_id, ref) DO UPDATE SET "
            "reading_id=excluded.reading_id, at=excluded.at, pending=excluded.pending, late=excluded.late, "
            "observation_json=excluded.observation_json",
            (passage_id, observation.device_id, observation.ref, view.reading_id, now, int(observation.pending),
             int(late), data))
        for key in observation.keys():
            txn.execute("INSERT OR IGNORE INTO passage_keys (key, passage_id) VALUES (?, ?)", (key, passage_id))
        name = self.rules.names.get(observation.device_id, observation.device_id)
        timeline(txn, passage_id, now, "late reading" if late else "reading", f"{name}: {observation.said}")
        return passage_id

    # ------------------------------------------------------------ decisions

    def evaluate(self, txn: Txn, passage_id: int, now: float) -> bool:
        """Re-decide one passage; True if anything shown of it changed."""
        row = txn.execute("SELECT state, arrived_at, declaration_id, reasons_json, waiting_for FROM passages WHERE id=?",
                          (passage_id,)).fetchone()
        state, arrived_at, declaration_id, old_reasons, old_waiting = row
        declaration = declaration_of(txn, declaration_id)
        decision = decide(declaration, seen_in(txn, passage_id), arrived_at, now, self.rules)
        reasons_json = json.dumps(decision.reasons, default=str)
        if state == "reviewed" and (anew := held_anew(decision.reasons, json.loads(old_reasons or "[]"))):
            timeline(txn, passage_id, now, "flagged", f"held again after the review: {', '.join(sorted(anew))}",
                     "machine")
            # the hub's verdict judged what it was sent, not this: kept for the record, marked as given before
            txn.execute("UPDATE passages SET state='flagged', reasons_json=?, reason_word=?, version=version+1, "
                        "verdict_json=json_set(verdict_json, '$.held_again_at', ?), updated_at=? WHERE id=?",
                        (reasons_json, decision.word, now, now, passage_id))
            return True
        if state in FINAL:
            if reasons_json != old_reasons:
                txn.execute("UPDATE passages SET reasons_json=?, version=version+1, updated_at=? WHERE id=?",
                            (reasons_json, now, passage_id))
            return reasons_json != old_reasons
        new_state = decision.state
        waiting = ",".join(decision.waiting_for)
        fields: dict[str, Any] = {"state": new_state, "reasons_json": reasons_json, "reason_word": decision.word,
                                  "deadline_at": decision.next_deadline, "waiting_for": waiting}
        if new_state in DECIDED and state not in DECIDED:
            fields["decided_at"] = now
            words = "; ".join(r["words"] for r in decision.reasons if r["holds"]) or "no reason to hold"
            timeline(txn, passage_id, now, new_state, words, "machine")
        elif new_state in DECIDED and new_state != state:
            timeline(txn, passage_id, now, new_state, "decision changed by a later reading", "machine")
        if new_state == "clear" and self.config.auto_release:
            fields.update(state="released", acted_at=now, acted_by="machine")
            timeline(txn, passage_id, now, "released", "released directly after machine inspection", "machine")
        if fields["state"] == state and reasons_json == old_reasons and waiting == old_waiting:
            txn.execute("UPDATE passages SET deadline_at=? WHERE id=?", (decision.next_deadline, passage_id))
            return False
        sets = ", ".join(f"{k}=?" for k in fields)
        txn.execute(f"UPDATE passages SET {sets}, version=version+1, updated_at=? WHERE id=?",
                    (*fields.values(), now, passage_id))
        return True

    def tick(self, txn: Txn, now: float) -> list[int]:
        """Decide the passages whose deadline has passed."""
        due = [row[0] for row in txn.execute(
            "SELECT id FROM passages WHERE state IN ('open', 'analysing') AND deadline_at <= ? ORDER BY id", (now,))]
        return [passage_id for passage_id in due if self.evaluate(txn, passage_id, now)]

    def act(self, txn: Txn, passage_id: int, action: str, user: str, note: str, confirmed: bool, now: float,
            seen_version: int | None = None) -> list[int]:
        """An officer's release or hold. Releasing a flagged or held vehicle needs a confirmation and a
        note; one the hub's reviewer cleared (`reviewed`, a clear verdict) does not, unless it is held
        for more than the hub judged (a lock, a driver, a plate: not the scan). With `seen_version`
        (the version the officer's page showed) a passage changed since is refused: look again."""
        row = txn.execute("SELECT state, verdict_json, reasons_json, version FROM passages WHERE id=?",
                          (passage_id,)).fetchone()
        if row is None:
            raise KeyError(passage_id)
        state = row[0]
        if seen_version is not None and seen_version != row[3]:  # a verdict or a reading came in meanwhile
            raise ActionRefused(f"passage {passage_id} changed while it was shown (now {state}): look at it again")
        note = note.strip()
        if action == "release":
            if state in WAITING:
                raise ActionRefused(f"passage {passage_id} is still {state}: wait for its decision or hold it")
            if state == "released":
                raise ActionRefused(f"passage {passage_id} is already released")
            verdict = json.loads(row[1]) if row[1] else None
            if release_needs_note(state, verdict, json.loads(row[2] or "[]")) and not (confirmed and note):
                raise ActionRefused(f"releasing a {state} vehicle needs a confirmation and a note")
            new_state = "released"
        elif action == "hold":
            if state == "held":
                raise ActionRefused(f"passage {passage_id} is already held")
            new_state = "held"
        else:
            raise ActionRefused(f"unknown action {action!r} (release or hold)")
        txn.execute("UPDATE passages SET state=?, acted_at=?, acted_by=?, note=?, waiting_for='', "
                    "decided_at=COALESCE(decided_at, ?), "
                    "version=version+1, updated_at=? WHERE id=?", (new_state, now, user, note, now, now, passage_id))
        timeline(txn, passage_id, now, new_state, note or f"{action} by the officer", user)
        return [passage_id]

    # ------------------------------------------------------------ declarations

    def load_declaration(self, txn: Txn, declaration: Declaration, source: str, now: float) -> tuple[str, list[int]]:
        """Keep a declaration; an open passage that its keys match and that has none takes it."""
        outcome = store_declaration(txn, declaration, source, now)
        changed: list[int] = []
        if outcome in ("new", "replaced"):
            placeholders = ",".join("?" * len(declaration.keys()))
            rows = txn.execute(
                f"SELECT DISTINCT p.id FROM passages p JOIN passage_keys k ON k.passage_id=p.id WHERE k.key IN "
                f"({placeholders}) AND p.declaration_id IS NULL AND p.state IN ('open','analysing','clear','flagged') "
                "AND p.arrived_at >= ? ORDER BY p.id DESC LIMIT 1", (*declaration.keys(), now - self.config.match_window_s),
            ).fetchall()
            for (passage_id,) in rows:
                bind(txn, passage_id, declaration.id, now)
                self.evaluate(txn, passage_id, now)
                changed.append(passage_id)
        return outcome, changed
