"""A verdict from the hub applied to the lane's passage, in one store transaction with its cursor:
the states it moves to, the timeline, the officer's release after a clear one, and none applied
twice. (End to end against the real hub: tests/test_uplink_hub.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from contract.uplink import PassageUpload, VerdictWire
from edge.passages.book import ActionRefused
from edge.store import Txn
from edge.uplink import outbox
from edge.uplink.verdicts import apply_verdict
from tests.uplink_lane import LANE, UplinkLane, pass_payload, png


@pytest.fixture
def lane(tmp_path: Path) -> Iterator[UplinkLane]:
    lane = UplinkLane(tmp_path)
    yield lane
    lane.close()


def verdict(cursor: int, passage_id: int, word: str, note: str = "", **extra: Any) -> VerdictWire:
    return VerdictWire(cursor=cursor, lane=extra.pop("lane", LANE), passage_id=passage_id, verdict=word, note=note,
                       reviewer="rev-ana", stage=extra.pop("stage", "review"),
                       decided_at=datetime(2026, 9, 21, 8, 30, tzinfo=UTC))


def apply(lane: UplinkLane, v: VerdictWire) -> Any:
    return lane.store.transact(apply_verdict, v, LANE, lane.outbox, lane.now)


def flagged(lane: UplinkLane, plate: str = "新F12345") -> int:
    (passage_id,) = lane.reading(pass_payload(plate, [png(lane.media, hash(plate) % 1000)]))
    assert lane.passage(passage_id)["state"] == "flagged"
    return passage_id


def test_a_clear_verdict_makes_a_flagged_passage_reviewed(lane: UplinkLane) -> None:
    passage_id = flagged(lane)
    version = lane.passage(passage_id)["version"]
    applied = apply(lane, verdict(3, passage_id, "clear", "nothing under it"))
    assert (applied.outcome, applied.passage_id) == ("applied", passage_id)
    p = lane.passage(passage_id)
    assert p["state"] == "reviewed" and p["version"] == version + 1
    assert p["verdict"]["verdict"] == "clear" and p["verdict"]["reviewer"] == "rev-ana" and p["verdict"]["cursor"] == 3
    assert p["timeline"][-1]["detail"] == "hub verdict: clear by rev-ana: nothing under it"
    assert p["timeline"][-1]["by"] == "hub:rev-ana"
    assert lane.store.transact(outbox.cursor) == 3
    # the new state is queued for the hub as the passage's next revision
    document = PassageUpload.model_validate_json([r for r in lane.rows() if r["kind"] == "passage"][0]["doc_json"])
    assert (document.state, document.revision) == ("reviewed", version + 1)
    # nobody declared this vehicle, which the hub's verdict on the images does not settle: a note is
    # still asked for (a passage held for images only is released without one: test_passages_book)
    assert {r["code"] for r in p["reasons"] if r["holds"]} == {"foreign_object", "vehicle_not_declared"}
    assert p["release_needs_note"] is True
    with pytest.raises(ActionRefused, match="needs a confirmation and a note"):
        lane.act(passage_id, "release")


def test_a_reviewed_passage_without_a_clear_verdict_still_needs_a_note(lane: UplinkLane) -> None:
    passage_id = flagged(lane)
    lane.store.transact(lambda txn: txn.execute("UPDATE passages SET state='reviewed' WHERE id=?", (passage_id,)))
    with pytest.raises(ActionRefused, match="needs a confirmation and a note"):
        lane.act(passage_id, "release")


def test_a_suspicious_verdict_holds_the_vehicle_for_inspection(lane: UplinkLane) -> None:
    passage_id = flagged(lane)
    apply(lane, verdict(1, passage_id, "suspicious", "dense block behind the axle"))
    p = lane.passage(passage_id)
    assert (p["state"], p["acted_by"]) == ("held", "hub:rev-ana")
    assert p["timeline"][-1]["detail"] == "hub verdict: suspicious by rev-ana: dense block behind the axle"
    with pytest.raises(ActionRefused):
        lane.act(passage_id, "release")  # a held vehicle's release needs the officer's note
    # a supervisor's re-check overturning it clears it
    apply(lane, verdict(2, passage_id, "clear", "re-checked: a spare wheel", stage="recheck"))
    p = lane.passage(passage_id)
    assert p["state"] == "reviewed" and p["verdict"]["stage"] == "recheck"
    assert "(supervisor's re-check)" in p["timeline"][-1]["detail"]


def test_a_suspicious_verdict_on_a_released_passage_is_recorded_loudly(lane: UplinkLane,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    passage_id = flagged(lane)
    lane.act(passage_id, "release", note="the driver showed the part", confirmed=True)
    apply(lane, verdict(1, passage_id, "suspicious", "object at the fuel tank"))
    p = lane.passage(passage_id)
    assert p["state"] == "released" and p["verdict"]["verdict"] == "suspicious"
    assert p["timeline"][-1]["what"] == "hub verdict after release"
    assert p["timeline"][-1]["detail"].startswith("SUSPICIOUS after release")
    assert any(r.levelname == "WARNING" and "already released" in r.getMessage() for r in caplog.records)


def test_a_verdict_is_applied_once_with_its_cursor(lane: UplinkLane) -> None:
    passage_id = flagged(lane)
    apply(lane, verdict(5, passage_id, "suspicious", "look"))
    timeline = lane.passage(passage_id)["timeline"]
    again = apply(lane, verdict(5, passage_id, "suspicious", "look"))
    older = apply(lane, verdict(4, passage_id, "clear"))
    assert (again.outcome, older.outcome) == ("repeat", "repeat")
    assert lane.passage(passage_id)["timeline"] == timeline and lane.passage(passage_id)["state"] == "held"


def test_a_failing_transaction_keeps_the_old_cursor_and_state(lane: UplinkLane) -> None:
    passage_id = flagged(lane)

    def apply_then_fail(txn: Txn) -> None:
        apply_verdict(txn, verdict(9, passage_id, "suspicious", "x"), LANE, lane.outbox, lane.now)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        lane.store.transact(apply_then_fail)
    assert lane.store.transact(outbox.cursor) == 0 and lane.passage(passage_id)["state"] == "flagged"


def test_a_verdict_for_no_passage_of_this_lane_moves_the_cursor_only(lane: UplinkLane) -> None:
    passage_id = flagged(lane)
    assert apply(lane, verdict(1, 999, "clear")).outcome == "unmatched"
    assert apply(lane, verdict(2, passage_id, "clear", lane="other-lane")).outcome == "unmatched"
    assert lane.store.transact(outbox.cursor) == 2 and lane.passage(passage_id)["state"] == "flagged"
    assert lane.passage(passage_id)["verdict"] is None
