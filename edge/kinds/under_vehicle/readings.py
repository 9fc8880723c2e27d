"""The two readings of a pass: the pass itself (header + image hash) and the model's analysis of it.

Each carries the camera's state (what the lane page shows) and a `Deriver` that raises its event
inside the reading's store transaction: `vehicle_pass` for a pass; `object_flagged` or
`pass_clear` for an analysis (`analysis_failed` when the image could not be scored,
`pass_not_compared` when it does not register onto the plate's last clean pass and no model judged it,
`pass_partly_compared` when it registered over part of its rows only and no model judged it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from drivers.under_vehicle import PassHeader
from edge.ingest import Reading
from edge.store import Derived, Txn

KIND_NAME = "under_vehicle"
PASS_MESSAGE = "pass"
ANALYSIS_MESSAGE = "analysis"


def pass_state(header: PassHeader, analysis: str) -> dict[str, Any]:
    """What the page shows of a pass; `analysis` ("pending", "off", "model not loaded") is replaced by the
    model's result once its analysis is stored."""
    return {
        "plate": header.plate,
        "pass_id": header.pass_id,
        "speed_kmh": header.speed_kmh,
        "direction": header.direction,
        "end_time": header.end_time.isoformat(),
        "width": header.width,
        "height": header.height,
        "image_sha256": header.sha256,
        "analysis": analysis,
    }


def pass_payload(header: PassHeader) -> dict[str, Any]:
    """The stored payload: the header's fields (its `sha256` is the image's media key), nothing large."""
    return {**header.model_dump(mode="json"), "media_sha256": header.sha256}


def pass_reading(device_id: str, header: PassHeader, analysis: str, on_new: Callable[[], None],
                 on_stored: Callable[[], None]) -> Reading:
    """The reading for one pass, keyed by its image's SHA-256 (a re-sent pass is stored once).

    `on_new` runs on the store thread, inside the transaction, only when the pass is new.
    """
    state = pass_state(header, analysis)

    def derive(txn: Txn, reading_id: int) -> Derived:
        on_new()
        detail = f"{header.speed_kmh:.0f} km/h {header.direction}, image {header.width}x{header.height} px"
        event = txn.add_event(header.plate or "", "vehicle_pass", detail, state["end_time"], reading_id)
        return Derived(events=[event])

    return Reading(device_id, PASS_MESSAGE, header.sha256, pass_payload(header), device_time=state["end_time"],
                   state=state, derive=derive, kind=KIND_NAME, on_stored=on_stored)


def analysis_key(image_sha256: str, model: str, version: str) -> str:
    """An analysis reading's key: one per image and model version, so a repeated analysis is stored once."""
    return hashlib.sha256(f"{ANALYSIS_MESSAGE}\0{image_sha256}\0{model}\0{version}".encode()).hexdigest()


def analysis_reading(device_id: str, state: dict[str, Any], payload: dict[str, Any]) -> Reading:
    """The reading for the model's result on one stored pass image (`payload`; "error" when it failed).

    Its state is the pass's state with the result; it becomes the camera's state only while that
    pass is still the newest one (an analysis finished after the next pass changes no state).
    """
    summary = {key: payload.get(key) for key in ("model", "version", "score", "flagged", "error")}
    summary["regions"] = len(payload.get("regions", []))
    comparison = payload.get("comparison") or {}
    if comparison:
        summary["compared"] = comparison.get("reference_sha256") is not None
        summary["registered"] = bool(comparison.get("registered", summary["compared"]))
        summary["changed"] = bool(comparison.get("flagged"))
        summary["regions"] += len(comparison.get("regions", []))
    flagged = bool(payload.get("flagged")) or bool(comparison.get("flagged"))
    new_state = {**state, "analysis": summary}
    image = str(payload["image_sha256"])
    plate = str(state.get("plate") or "")

    def derive(txn: Txn, reading_id: int) -> Derived:
        newest = txn.device_state().get("image_sha256") == image
        if payload.get("error"):
            name, detail = "analysis_failed", str(payload["error"])[:200]
        elif flagged:
            name, detail = "object_flagged", _detail(payload, comparison) + f", {summary['regions']} regions"
        elif summary.get("compared") and not summary.get("registered") and not payload.get("model"):
            name, detail = "pass_not_compared", _detail(payload, comparison)
        elif summary.get("registered") and not comparison.get("full", True) and not payload.get("model"):
            name, detail = "pass_partly_compared", _detail(payload, comparison)
        else:
            name, detail = "pass_clear", _detail(payload, comparison)
        return Derived(newest=newest, events=[txn.add_event(plate, name, detail, state.get("end_time"), reading_id)])

    key = analysis_key(image, str(payload.get("model")), str(payload.get("version"))
                       + (f"+compare:{comparison.get('reference_sha256')}" if comparison else ""))
    return Reading(device_id, ANALYSIS_MESSAGE, key, payload, device_time=state.get("end_time"), state=new_state,
                   derive=derive, kind=KIND_NAME, from_device=False)  # the edge's own finding, not the camera


def _detail(payload: dict[str, Any], comparison: dict[str, Any]) -> str:
    """What each check said: "model score 0.91; changed since the last clean pass (score 3.2)"."""
    parts = [f"model score {payload['score']:.3g}"] if payload.get("model") else []
    if comparison:
        if comparison.get("reference_sha256") is None:
            parts.append("no earlier clean pass to compare with")
        elif not comparison.get("registered", True):
            parts.append("does not register onto the last clean pass: not compared")
        else:
            said = "changed since" if comparison.get("flagged") else "as"
            part = "" if comparison.get("full", True) else f" over {comparison.get('matched_fraction', 0):.0%} of its rows"
            parts.append(f"{said} the last clean pass{part} (score {comparison.get('score', 0):.3g})")
    return "; ".join(parts) or "no check configured"


def summary(state: dict[str, Any]) -> str:
    """The device row: plate, speed and what the model said, e.g. "新F12345: pass 42 km/h, clear (score 0.0004)"."""
    if not state.get("pass_id"):
        return ""
    head = f"{state.get('plate') or '(plate not read)'}: pass {state.get('speed_kmh', 0):.0f} km/h"
    analysis = state.get("analysis")
    if analysis == "pending":
        return f"{head}, analysing"
    if not isinstance(analysis, dict):
        return f"{head}, not analysed" + (f" ({analysis})" if analysis and analysis != "off" else "")
    if analysis.get("error"):
        return f"{head}, analysis failed"
    flagged = analysis.get("flagged") or analysis.get("changed")
    verdict = "flagged" if flagged else "clear"
    regions = f", {analysis.get('regions', 0)} regions" if flagged else ""
    how = "model score " + f"{analysis.get('score', 0):.2g}" if analysis.get("model") else ""
    if "compared" in analysis:
        how += ("; " if how else "") + ("changed since the last clean pass" if analysis.get("changed") else
                                        "no earlier clean pass" if not analysis["compared"] else
                                        "does not match the last clean pass" if not analysis.get("registered", True)
                                        else "compared with the last clean pass")
    return f"{head}, {verdict} ({how}{regions})"


def unanalysed_passes(read: Callable[[str, Sequence[Any]], list[tuple[Any, ...]]], device_id: str,
                      limit: int) -> list[tuple[PassHeader, dict[str, Any]]]:
    """The camera's last `limit` stored passes that have no analysis yet (the edge stopped before
    their turn), oldest first, as (header, state) to queue again."""
    rows = read("SELECT payload_json FROM readings WHERE device_id=? AND message=? ORDER BY id DESC LIMIT ?",
                (device_id, PASS_MESSAGE, limit))
    done = {row[0] for row in read(
        "SELECT json_extract(payload_json, '$.image_sha256') FROM readings WHERE device_id=? AND message=?",
        (device_id, ANALYSIS_MESSAGE))}
    out: list[tuple[PassHeader, dict[str, Any]]] = []
    for (payload_json,) in reversed(rows):
        fields = json.loads(payload_json)
        if fields.pop("media_sha256", None) in done:
            continue
        header = PassHeader.model_validate(fields)
        out.append((header, pass_state(header, "pending")))
    return out
