"""Turns a lock's successive states into the events the lane officer must see.

A state is a plain dict (what `edge.kinds.smart_lock.state` keeps per device): `lock_id`, `state`
("sealed" | "opened" | "tampered"), `rope_cut`, `shell_opened`, `battery_pct`. Only changes
make events, so a lock reporting "sealed" every 30 s says it once. Changes are taken in the
lock's own order, not the order reports arrive in (`place_report`), so a report retransmitted
after an edge restart, or re-sent in a blind-area batch, cannot make the lock flap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LockEvent:
    """One thing that happened to a lock."""

    event: str  # "sealed" | "opened" | "tampered" | "battery_low" | "first_seen"
    detail: str


def _tamper_detail(state: dict[str, Any]) -> str:
    parts = []
    if state.get("rope_cut"):
        parts.append("rope cut")
    if state.get("shell_opened"):
        parts.append("shell opened")
    return ", ".join(parts) or "tamper alarm"


def derive_lock_events(previous: dict[str, Any] | None, current: dict[str, Any], low_battery_pct: int | None) -> list[LockEvent]:
    """Events implied by going from `previous` (None = never seen) to `current`."""
    events: list[LockEvent] = []
    state = current.get("state")
    battery = current.get("battery_pct")
    if previous is None:
        events.append(LockEvent("first_seen", f"lock {current.get('lock_id', '?')} {state}, battery {battery}%"))
        if state == "tampered":
            events.append(LockEvent("tampered", _tamper_detail(current)))
        if low_battery_pct is not None and battery is not None and battery <= low_battery_pct:
            events.append(LockEvent("battery_low", f"battery {battery}%"))
        return events

    newly_tampered = (current.get("rope_cut") and not previous.get("rope_cut")) or (
        current.get("shell_opened") and not previous.get("shell_opened")
    )
    if state != previous.get("state") or newly_tampered:
        if state == "tampered":
            events.append(LockEvent("tampered", _tamper_detail(current)))
        elif state == "opened":
            events.append(LockEvent("opened", "lock opened"))
        elif state == "sealed":
            events.append(LockEvent("sealed", "lock sealed"))
        else:
            events.append(LockEvent(str(state), "state changed"))
    if current.get("lock_id") != previous.get("lock_id") and previous.get("lock_id"):
        events.append(LockEvent("lock_changed", f"lock id {previous.get('lock_id')} -> {current.get('lock_id')}"))
    old_battery = previous.get("battery_pct")
    if (
        low_battery_pct is not None and battery is not None and battery <= low_battery_pct
        and (old_battery is None or old_battery > low_battery_pct)
    ):
        events.append(LockEvent("battery_low", f"battery {battery}%"))
    return events


@dataclass(frozen=True)
class Placed:
    """What inserting one report into a lock's ordered history means for its events.

    `at_report`: new events that the report itself shows; `at_next`: new events shown by the
    report that follows it in the lock's order; `moved`: names of events already raised at the
    next report that the inserted one shows happened earlier (their time moves back to it).
    """

    at_report: list[LockEvent]
    at_next: list[LockEvent]
    moved: list[str]


def place_report(
    before: dict[str, Any] | None, report: dict[str, Any], after: dict[str, Any] | None,
    low_battery_pct: int | None,
) -> Placed:
    """Events implied by a report that lands between `before` and `after` in the lock's order.

    The events of a lock are those of each consecutive pair of its reports, taken in the lock's
    order (device time, then serial). Before the report arrived, `before -> after` was a pair and
    its events were raised at `after`; now `before -> report -> after` replaces it. Whatever the
    new pairs imply beyond what was raised is new; an event raised at `after` that the report
    now shows first is moved, not raised twice. A report that arrives late but changes nothing
    (a retransmission, or a state its neighbours already had) gives nothing; a change that
    happened while the edge was down gives one event at the report that shows it.
    """
    at_report = derive_lock_events(before, report, low_battery_pct)
    if after is None:
        return Placed(at_report, [], [])
    raised = [event.event for event in derive_lock_events(before, after, low_battery_pct)]
    at_next: list[LockEvent] = []
    for event in derive_lock_events(report, after, low_battery_pct):
        if event.event in raised:
            raised.remove(event.event)  # still true of `after`: raised already
        else:
            at_next.append(event)
    moved: list[str] = []
    new_at_report: list[LockEvent] = []
    for event in at_report:
        if event.event in raised:
            raised.remove(event.event)
            moved.append(event.event)
        else:
            new_at_report.append(event)
    return Placed(new_at_report, at_next, moved)
