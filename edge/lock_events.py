"""Turns a lock's successive states into the events the lane officer must see.

A state is a plain dict (what `edge.devices.smart_lock` keeps per device): `lock_id`, `state`
("sealed" | "opened" | "tampered"), `rope_cut`, `shell_opened`, `battery_pct`. Only changes
make events, so a lock reporting "sealed" every 30 s says it once.
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
