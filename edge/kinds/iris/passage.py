"""What a capture means for the passage: the driver's card, and whether the iris matched it.
A later capture replaces an earlier one (`ref` "driver"): a driver asked to look again after a
poor capture is judged on the new one. A mismatch is never replaced (`ref` "driver-mismatch-<reading
id>"): someone else presenting the card is for the officer to clear, whatever a later capture says."""

from __future__ import annotations

from typing import Any

from edge.passages.observation import Finding, Observation, ReadingView
from edge.store import Txn


def observe(config: Any, txn: Txn, view: ReadingView) -> list[Observation]:
    state = view.state or {}
    card, outcome = state.get("card_id"), state.get("outcome")
    if view.message != "capture" or not card or not outcome:
        return []
    distance = state.get("distance")
    at = f" (distance {distance:.2f})" if distance is not None else ""
    evidence = {"card": card, "outcome": outcome, "distance": distance, "reading_id": view.reading_id}
    findings = {
        "mismatch": (Finding("iris_mismatch", f"the driver's iris does not match card {card}{at}", evidence),),
        "poor_capture": (Finding("iris_poor", "iris capture too poor to judge: "
                                 + "; ".join(state.get("failed") or ["quality gate failed"]), evidence),),
        "undecided": (Finding("iris_poor", "iris capture too poor to judge: too few iris bits visible", evidence),),
        "not_enrolled": (Finding("iris_not_enrolled", f"card {card} has no enrolled iris", evidence),),
    }.get(outcome, ())
    ref = f"driver-mismatch-{view.reading_id}" if outcome == "mismatch" else "driver"
    said = f"card {card}: {outcome.replace('_', ' ')}{at}"
    return [Observation(device_id=view.device_id, kind="iris", ref=ref, said=said, card_id=card, findings=findings)]
