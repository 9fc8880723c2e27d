"""What the edge makes of one stored capture: the quality gate, then the card's templates, one event.

`judge_capture` is the capture reading's `Deriver`: inside the reading's store transaction it
runs the lane's quality gate, looks up the card's enrolled templates (`templates.py`), matches,
records the outcome in `iris_captures` and raises exactly one event with the card id as its
subject: `poor_capture` (the failing components, in the officer's words), `not_enrolled`,
`match` / `mismatch` (with the distance) or `undecided` (too few bits visible in both codes).
A resent capture (the same bytes) is not stored again, so it raises nothing twice.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from edge.kinds.iris.matching import Decision, MatchConfig, match
from edge.kinds.iris.quality import QualityThresholds, QualityVerdict, check_quality
from edge.kinds.iris.templates import card_templates, record_capture
from edge.store import Derived, Deriver, Txn

log = logging.getLogger(__name__)

OUTCOMES = ("match", "mismatch", "poor_capture", "not_enrolled", "undecided")
_DECIDED = {Decision.ACCEPT: "match", Decision.REJECT: "mismatch", Decision.UNDECIDED: "undecided"}


def failure_words(verdict: QualityVerdict) -> list[str]:
    """Each failing component as a short phrase ("sharpness 12 is below the minimum of 40"), the
    part of quality.py's reason before its advice."""
    return [failure.reason.partition(":")[0].strip() for failure in verdict.failures]


def judge_capture(state: dict[str, Any], code: np.ndarray, mask: np.ndarray, quality: dict[str, float | None],
                  hashes: tuple[str, str], device_time: str, thresholds: QualityThresholds,
                  rule: MatchConfig) -> Deriver:
    """The deriver of one capture; it completes `state` (what the page shows) with the outcome."""
    card = str(state["card_id"])

    def derive(txn: Txn, reading_id: int) -> Derived:
        verdict = check_quality(quality, thresholds)
        distance: float | None = None
        if not verdict.passed:
            outcome, detail = "poor_capture", verdict.summary()
            state["failed"] = failure_words(verdict)
            state["failed_components"] = list(verdict.failed_components)
        elif not (templates := card_templates(txn, card)):
            outcome = "not_enrolled"
            detail = f"card {card} has no enrolled iris template: enrol the card holder first (kouan iris enrol)"
        else:
            result = match(code, mask, templates, rule)
            outcome, detail = _DECIDED[result.decision], result.reason
            if result.best is not None:
                distance = round(result.best.distance, 4)
                state.update(bits=result.best.bits, shift=result.best.shift, templates=len(templates))
        state.update(outcome=outcome, distance=distance, quality_passed=verdict.passed)
        record_capture(txn, reading_id, txn.device_id, card, device_time, verdict.passed, outcome, distance, *hashes)
        event = txn.add_event(card, outcome, detail, device_time, reading_id)
        log.debug("iris %s: card %s %s", txn.device_id, card, outcome)
        return Derived(newest=True, events=[event])

    return derive


def summary(state: dict[str, Any]) -> str:
    """The device row on the lane page: "card CARD123: match 0.21", "card CARD999: poor capture (...)"."""
    card, outcome = state.get("card_id"), state.get("outcome")
    if not card or not outcome:
        return ""
    distance = state.get("distance")
    if outcome in ("match", "mismatch") and distance is not None:
        return f"card {card}: {outcome} {distance:.2f}"
    if outcome == "poor_capture":
        return f"card {card}: poor capture ({'; '.join(state.get('failed') or ['quality gate failed'])})"
    if outcome == "not_enrolled":
        return f"card {card}: not enrolled"
    if outcome == "undecided":
        return f"card {card}: undecided (too few iris bits visible), capture again"
    return f"card {card}: {outcome}"
