"""The reasons a passage can have: a code, a word for the passage list, whether it holds the
vehicle by default, and whether a hub reviewer's verdict settles it (it rests on the images the
hub reviews). The lane's configuration moves any code between hold and inform."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ReasonKind:
    code: str
    word: str  # the reason in a word (or two), for the passage list
    holds: bool  # by default: True holds the vehicle for the officer, False only informs
    hub_judges: bool = False  # it rests on images the hub reviews: a clear verdict settles it


REASON_KINDS: dict[str, ReasonKind] = {r.code: r for r in (
    # the lock on the cargo (smart_lock)
    ReasonKind("lock_opened", "lock opened", True),
    ReasonKind("lock_tampered", "lock tampered", True),
    ReasonKind("lock_low_battery", "lock battery", False),
    ReasonKind("lock_opened_before_declaration", "lock opened earlier", False),
    # the declaration (the passage layer's own checks)
    ReasonKind("vehicle_not_declared", "not declared", True),
    ReasonKind("declared_plate_not_read", "plate not read", False),
    ReasonKind("lock_not_declared", "wrong lock", True),
    ReasonKind("declared_lock_missing", "lock missing", True),
    ReasonKind("container_not_declared", "undeclared container", True),
    ReasonKind("declared_container_missing", "container missing", True),
    ReasonKind("driver_not_declared", "wrong driver", True),
    # the driver (iris)
    ReasonKind("iris_mismatch", "iris mismatch", True),
    ReasonKind("iris_poor", "poor iris capture", True),
    ReasonKind("iris_not_enrolled", "not enrolled", True),
    # images
    ReasonKind("foreign_object", "object under vehicle", True, hub_judges=True),
    ReasonKind("not_empty", "not empty", True, hub_judges=True),
    ReasonKind("empty_unknown", "empty unknown", True, hub_judges=True),
    ReasonKind("image_not_analysed", "not analysed", True, hub_judges=True),
    ReasonKind("no_reference", "first pass", False),
    ReasonKind("undercarriage_mismatch", "other undercarriage", True, hub_judges=True),
    ReasonKind("scan_referred", "central review", True, hub_judges=True),
    ReasonKind("scan_refused", "scan refused", True),
    # devices
    ReasonKind("device_missing", "device silent", True),
    ReasonKind("device_fault", "device fault", False),
    ReasonKind("late_reading", "late reading", False),
)}


def reason_kind(code: str) -> ReasonKind:
    """The kind of a reason; a code no table knows (a kind's newer finding) holds, to be safe."""
    return REASON_KINDS.get(code) or ReasonKind(code, code.replace("_", " "), True)


def holding(reasons: list[dict[str, Any]]) -> set[str]:
    """The codes of the reasons that hold (late ones do not)."""
    return {r["code"] for r in reasons if r.get("holds") and not r.get("late")}


def held_anew(reasons: list[dict[str, Any]], before: list[dict[str, Any]]) -> set[str]:
    """The codes of reasons that hold now and did not before: a new code, or one a device gave again for
    another image (a second pass flagged: an image nobody reviewed)."""
    def keys(items: list[dict[str, Any]]) -> set[tuple[str, Any, Any]]:
        return {(r["code"], r.get("device_id"), (r.get("evidence") or {}).get("image_sha256")) for r in items
                if r.get("holds") and not r.get("late")}
    return {code for code, _, _ in keys(reasons) - keys(before)}


def release_needs_note(state: str, verdict: dict[str, Any] | None, reasons: list[dict[str, Any]]) -> bool:
    """Whether an officer's release needs a confirmation and a note: a flagged or held vehicle, and a
    `reviewed` one unless the hub cleared it and it holds for nothing but what the hub judged."""
    if state == "reviewed":
        settled = all(reason_kind(code).hub_judges for code in holding(reasons))
        return not (verdict is not None and verdict.get("verdict") == "clear" and settled)
    return state in ("flagged", "held")
