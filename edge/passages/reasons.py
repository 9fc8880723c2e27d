"""The reasons a passage can have: a code, a word for the passage list, and whether it holds the
vehicle by default. The lane's configuration moves any code between hold and inform."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReasonKind:
    code: str
    word: str  # the reason in a word (or two), for the passage list
    holds: bool  # by default: True holds the vehicle for the officer, False only informs


REASON_KINDS: dict[str, ReasonKind] = {r.code: r for r in (
    # the lock on the cargo (smart_lock)
    ReasonKind("lock_opened", "lock opened", True),
    ReasonKind("lock_tampered", "lock tampered", True),
    ReasonKind("lock_low_battery", "lock battery", False),
    # the declaration (the passage layer's own checks)
    ReasonKind("vehicle_not_declared", "not declared", True),
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
    ReasonKind("foreign_object", "object under vehicle", True),
    ReasonKind("not_empty", "not empty", True),
    ReasonKind("empty_unknown", "empty unknown", True),
    ReasonKind("image_not_analysed", "not analysed", True),
    ReasonKind("no_reference", "first pass", False),
    ReasonKind("undercarriage_mismatch", "other undercarriage", True),
    ReasonKind("scan_referred", "central review", True),
    ReasonKind("scan_refused", "scan refused", True),
    # devices
    ReasonKind("device_missing", "device silent", True),
    ReasonKind("device_fault", "device fault", False),
    ReasonKind("late_reading", "late reading", False),
)}


def reason_kind(code: str) -> ReasonKind:
    """The kind of a reason; a code no table knows (a kind's newer finding) holds, to be safe."""
    return REASON_KINDS.get(code) or ReasonKind(code, code.replace("_", " "), True)
