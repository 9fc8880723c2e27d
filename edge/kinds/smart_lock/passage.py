"""What a lock report means for the passage of the vehicle that carries the lock.

Each report is an observation of its lock (`ref` is the lock id, so the latest report stands):
a lock open or tampered with now is a reason at once. Its openings and tampering earlier in the
transit window are gathered as facts; `check` keeps those after the vehicle declared, which
were opened or tampered with in transit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from edge.passages.observation import Declared, Finding, Observation, ReadingView, norm
from edge.store import Txn

ALARMS = ("opened", "tampered")


def observe(config: Any, txn: Txn, view: ReadingView) -> list[Observation]:
    state = view.state or {}
    lock_id = state.get("lock_id")
    if not lock_id or "state" not in state:
        return []
    findings: list[Finding] = []
    said = f"{state['state']}" + (f", battery {state['battery_pct']}%" if state.get("battery_pct") is not None else "")
    if state["state"] == "opened":
        findings.append(Finding("lock_opened", f"lock {lock_id} is open", {"reading_id": view.reading_id}))
    elif state["state"] == "tampered":
        how = ", ".join(w for w, on in (("rope cut", state.get("rope_cut")), ("shell opened", state.get("shell_opened"))) if on)
        findings.append(Finding("lock_tampered", f"lock {lock_id} tampered with" + (f": {how}" if how else ""),
                                {"reading_id": view.reading_id}))
    rows = txn.execute(
        "SELECT id, event, detail, device_time, received_at FROM events WHERE kind='smart_lock' AND subject=? "
        "AND event IN ('opened', 'tampered') AND received_at >= ? AND (reading_id IS NULL OR reading_id != ?) "
        "ORDER BY id", (lock_id, view.received_at - config.transit_window_h * 3600, view.reading_id)).fetchall()
    history = [{"event_id": r[0], "event": r[1], "detail": r[2], "device_time": r[3], "received_at": r[4]} for r in rows]
    return [Observation(device_id=view.device_id, kind="smart_lock", ref=norm(lock_id), said=f"lock {lock_id}: {said}",
                        lock_id=lock_id, findings=tuple(findings), facts={"history": history})]


def check(observation: Observation, declared: Declared) -> list[Finding]:
    """The lock's openings and tampering after the declaration: in transit. When the declaration gave
    no time of its own, those before the lane received it may be in transit too: they inform
    (`lock_opened_before_declaration`, which a site may make hold), as the lock may also have been
    opened before it was sealed."""
    found = []
    for item in observation.facts.get("history", ()):
        when = _when(item["device_time"])
        verb = "opened" if item["event"] == "opened" else "tampered with"
        evidence = {"event_id": item["event_id"], "detail": item["detail"]}
        if item["received_at"] >= declared.declared_at:
            code = "lock_opened" if item["event"] == "opened" else "lock_tampered"
            found.append(Finding(code, f"lock {observation.lock_id} was {verb} in transit{when}", evidence))
        elif not declared.declared_at_known:
            found.append(Finding("lock_opened_before_declaration", f"lock {observation.lock_id} was {verb}{when}, "
                                 "before the lane had the declaration, which gives no time: in transit or before "
                                 "sealing", evidence))
    return found


def _when(device_time: str | None) -> str:
    if not device_time:
        return ""
    try:
        return f" at {datetime.fromisoformat(device_time):%Y-%m-%d %H:%M}"
    except ValueError:
        return f" at {device_time}"
