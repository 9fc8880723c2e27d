"""The rules: from a passage's observations, its declaration and the clock, its state and reasons.

A pure function, so every rule is tested without a device. The kinds' findings (a lock opened,
an iris mismatch, an object under the vehicle) come with their observations; the checks against
the declaration and the deadlines are here. While an expected device has not reported and its
deadline has not passed, the passage is `open`; once all have reported but an image is still
being analysed, `analysing`; then `flagged` if any reason holds the vehicle, else `clear`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edge.passages.declarations import Declaration
from edge.passages.observation import Declared, Finding, Observation, norm, plate_norm
from edge.passages.reasons import reason_kind

Check = Callable[[Observation, Declared], list[Finding]]


@dataclass(frozen=True)
class Seen:
    """An observation in a passage; `late`: it came after the passage was acted on."""

    observation: Observation
    at: float
    late: bool = False


@dataclass(frozen=True)
class Rules:
    """What the lane configured: the devices waited for, who is called what, what holds."""

    deadlines: Mapping[str, float]
    holds: Callable[[str], bool]
    names: Mapping[str, str] = field(default_factory=dict)
    checks: Mapping[str, Check] = field(default_factory=dict)  # device id -> its kind's check


@dataclass
class Decision:
    state: str  # open | analysing | clear | flagged
    reasons: list[dict[str, Any]]
    waiting_for: list[str]
    next_deadline: float | None = None  # when a device waited for runs out of time

    @property
    def word(self) -> str:
        """The reason in a word for the passage list: the first that holds, else the first."""
        held = [r for r in self.reasons if r["holds"]]
        first = (held or self.reasons or [None])[0]
        return reason_kind(first["code"]).word if first else ""


def _reason(finding: Finding, rules: Rules, device_id: str | None, late: bool = False) -> dict[str, Any]:
    words = f"{finding.words} (after the decision)" if late else finding.words
    return {"code": finding.code, "words": words, "holds": rules.holds(finding.code) and not late,
            "evidence": finding.evidence, "device_id": device_id, "late": late}


KEY_WORDS = {"card": "driver card"}  # a correlation key's name as the officer reads it


def declaration_findings(declaration: Declaration | None, seen: Sequence[Seen]) -> list[tuple[Finding, str | None]]:
    """The checks against the advance declaration (or its absence)."""
    observations = [s.observation for s in seen]
    if declaration is None:
        plates = sorted({plate_norm(o.plate) for o in observations if o.plate})
        what = f"plate {plates[0]}" if plates else "this vehicle"
        return [(Finding("vehicle_not_declared", f"{what} has no advance declaration", {"plates": plates}), None)]
    declared = declaration.declared()
    found: list[tuple[Finding, str | None]] = []
    for o in observations:
        if o.plate and plate_norm(o.plate) not in (declared.plate, plate_norm(declaration.trailer)):
            found.append((Finding("vehicle_not_declared", f"plate {plate_norm(o.plate)} read, {declared.plate} declared",
                                  {"read": plate_norm(o.plate), "declared": declared.plate}), o.device_id))
        for number in o.containers:
            if number and norm(number) not in declared.containers:
                found.append((Finding("container_not_declared", f"container {norm(number)} is not on the declaration",
                                      {"container": norm(number)}), o.device_id))
        if o.lock_id and norm(o.lock_id) not in declared.locks:
            found.append((Finding("lock_not_declared", f"lock {norm(o.lock_id)} is not the declared lock"
                                  + (f" ({', '.join(sorted(declared.locks))})" if declared.locks else ""),
                                  {"lock": norm(o.lock_id), "declared": sorted(declared.locks)}), o.device_id))
        if o.card_id and declared.card_id and norm(o.card_id) != declared.card_id:
            found.append((Finding("driver_not_declared", f"driver card {norm(o.card_id)} presented, {declared.card_id} declared",
                                  {"card": norm(o.card_id), "declared": declared.card_id}), o.device_id))
    readers = [o for o in observations if o.facts.get("reads_plate") and not o.pending]
    if readers and not any(o.plate for o in observations):  # joined by another key: the plate is unconfirmed
        matched = sorted({KEY_WORDS.get(k := key.split(":")[0], k) for o in observations for key in o.keys()})
        found.append((Finding("declared_plate_not_read", f"declared plate {declared.plate} was not read; the vehicle "
                              f"was matched to its declaration by {', '.join(matched) or 'nothing'}",
                              {"declared": declared.plate, "matched_by": matched,
                               "readers": sorted(o.device_id for o in readers)}), None))
    read_locks = {norm(o.lock_id) for o in observations if o.lock_id}
    if read_locks:  # the lane reads locks: every declared one must have spoken
        for lock, container in sorted(declared.locks.items()):
            if lock not in read_locks:
                found.append((Finding("declared_lock_missing", f"declared lock {lock} on {container} was not read",
                                      {"lock": lock, "container": container}), None))
    scanned = _scanned(observations)
    if scanned:  # the lane scans containers one by one: every declared one must have been scanned
        for number in sorted(norm(n) for n in declared.containers):
            if number not in scanned:
                found.append((Finding("declared_container_missing", f"declared container {number} was not scanned",
                                      {"container": number}), None))
    return found


def _scanned(observations: Iterable[Observation]) -> set[str]:
    """The containers that reports (not still pending) name."""
    return {norm(n) for o in observations if not o.pending for n in o.containers if n}


def _more_to_scan(mine: Sequence[Seen], declared: Declared | None) -> bool:
    """A device that names containers and has not yet reported every declared one: it is not done."""
    scanned = _scanned(s.observation for s in mine)
    return bool(scanned) and declared is not None and any(norm(n) not in scanned for n in declared.containers)


def decide(declaration: Declaration | None, seen: Sequence[Seen], arrived_at: float, now: float,
           rules: Rules) -> Decision:
    """The passage's state and reasons now; see the module docstring."""
    reasons: list[dict[str, Any]] = []
    declared = declaration.declared() if declaration is not None else None
    for s in seen:
        for finding in s.observation.findings:
            reasons.append(_reason(finding, rules, s.observation.device_id, s.late))
        check = rules.checks.get(s.observation.device_id)
        if check is not None and declared is not None:
            reasons += [_reason(f, rules, s.observation.device_id, s.late) for f in check(s.observation, declared)]
    reasons += [_reason(f, rules, device) for f, device in declaration_findings(declaration, seen)]
    waiting: list[str] = []
    deadlines: list[float] = []
    for device_id, deadline_s in rules.deadlines.items():
        mine = [s for s in seen if s.observation.device_id == device_id]
        done = any(not s.observation.pending for s in mine)
        more = done and _more_to_scan(mine, declared)
        if done and not more:
            continue
        if now < arrived_at + deadline_s:
            waiting.append(device_id)
            deadlines.append(arrived_at + deadline_s)
        elif not more:  # past its deadline (a container never scanned is declared_container_missing instead)
            name = rules.names.get(device_id) or device_id
            reasons.append(_reason(
                Finding("image_not_analysed", f"{name}: image not analysed within {deadline_s:g} s",
                        {"device_id": device_id}) if mine else
                Finding("device_missing", f"{name} did not report within {deadline_s:g} s of arrival",
                        {"device_id": device_id, "deadline_s": deadline_s}), rules, device_id))
    reasons = _unique(reasons)
    if waiting:
        state = "analysing" if all(any(s.observation.device_id == d for s in seen) for d in waiting) else "open"
        return Decision(state, reasons, waiting, min(deadlines))
    return Decision("flagged" if any(r["holds"] for r in reasons) else "clear", reasons, [])


def _unique(reasons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same reason once, whichever devices gave it (the lane's lock reader and the lock's own
    uplink both read the wrong lock), holding reasons first."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in reasons:
        out.setdefault((r["code"], r["words"]), r)
    return sorted(out.values(), key=lambda r: (not r["holds"], r["late"]))
