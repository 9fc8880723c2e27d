"""The detector's state as the page shows it, and the events a scan or a status change raises.

Pure functions of the state dicts (kept with each reading), so the rules are tested without a
device: `scan_events` for a completed scan, `status_events` for a change of device status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drivers.empty_box import EmptyBoxReading, Verdict, validate_container

VERDICT_WORDS = {Verdict.UNKNOWN.value: "unknown", Verdict.EMPTY.value: "empty", Verdict.NOT_EMPTY.value: "not empty"}
DECLARED_WORDS = {True: "declared empty", False: "declared loaded", None: "declaration not known"}


@dataclass(frozen=True)
class Raised:
    """One event a reading raises: its name and its detail in the officer's words."""

    event: str
    detail: str


def status_fields(reading: EmptyBoxReading) -> dict[str, Any]:
    """The device's own condition (not a scan's)."""
    return {"status": reading.status.name.lower(), "error_code": reading.error_code, "error": reading.error}


def scan_fields(reading: EmptyBoxReading) -> dict[str, Any]:
    """One completed scan, as the registers give it."""
    return {
        "sequence": reading.sequence,
        "container": reading.container,
        "container_check_ok": reading.container_check_ok,
        "declared_empty": reading.declared_empty,
        "verdict": reading.verdict.value,
        "verdict_words": VERDICT_WORDS[reading.verdict.value],
        "confidence": reading.confidence,
        "image_kind": reading.image.name.lower(),
        "scan_time": reading.scan_time.isoformat() if reading.scan_time else None,
    }


def summary(state: dict[str, Any]) -> str:
    """The device row: "CSQU3054383: declared empty, device says not empty (0.93)", and a fault if any."""
    parts = []
    if state.get("sequence"):
        confidence = state.get("confidence")
        parts.append(f"{state.get('container') or 'no container number'}: "
                     f"{DECLARED_WORDS.get(state.get('declared_empty'), 'declaration not known')}, "
                     f"device says {state.get('verdict_words', 'unknown')}"
                     + (f" ({confidence:.2f})" if confidence is not None else ""))
    if state.get("status") == "fault":
        parts.append(f"fault: {state.get('error') or 'unknown'}")
    return "; ".join(parts)


def scan_events(scan: dict[str, Any]) -> list[Raised]:
    """What the officer needs to know of one completed scan."""
    raised: list[Raised] = []
    sequence, number = scan["sequence"], scan.get("container")
    if number is not None and scan.get("container_check_ok") is False:
        try:
            validate_container(number)
        except ValueError as exc:
            raised.append(Raised("container_number_invalid", f"{exc}; scan {sequence}"))
    verdict, declared, confidence = scan["verdict"], scan.get("declared_empty"), scan.get("confidence")
    said = f" ({confidence:.2f})" if confidence is not None else ""
    if verdict == Verdict.UNKNOWN.value:
        raised.append(Raised("verdict_unknown", f"{DECLARED_WORDS[declared]}, the device gave no verdict; scan {sequence}"))
    elif declared is True and verdict == Verdict.NOT_EMPTY.value:
        raised.append(Raised("not_empty", f"declared empty, device says not empty{said}; scan {sequence}"))
    elif declared is True and verdict == Verdict.EMPTY.value:
        raised.append(Raised("empty_confirmed", f"declared empty, device says empty{said}; scan {sequence}"))
    return raised


def status_events(previous: dict[str, Any], now: dict[str, Any]) -> list[Raised]:
    """A fault, once per fault (the same fault still standing after an edge restart raises nothing)."""
    if now.get("status") != "fault":
        return []
    if previous.get("status") == "fault" and previous.get("error_code") == now.get("error_code"):
        return []
    return [Raised("fault", f"{now.get('error') or 'unknown error'} (error code {now.get('error_code')})")]
