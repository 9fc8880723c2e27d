"""The passage book on a real SQLite store: correlation, declarations, deadlines, decisions,
officers' actions, late and repeated readings, a restart. Observations come from a stand-in
kind that reads them from the reading's payload, so each rule is driven directly."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from contract.uplink import VerdictWire
from edge.kinds.iris.passage import observe as iris_observe
from edge.kinds.smart_lock.passage import check as lock_check
from edge.passages import queries
from edge.passages.book import ActionRefused, LaneDeviceRole, PassageBook
from edge.passages.config import PassagesConfig
from edge.passages.declarations import DeclarationError, parse
from edge.passages.observation import Finding, Observation, ReadingView
from edge.store import Derived, Store, Txn
from edge.store_schema import store_migrations
from edge.uplink.verdicts import apply_verdict

T0 = 1_790_000_000.0
DECLARATION = {"id": "D-1", "plate": "新F 12345", "driver_card": "CARD123", "cargo": "empty containers",
               "containers": [{"number": "CSQU3054383", "lock_id": "SEAL-0001", "declared_empty": True}]}


def _observe(txn: Txn, view: ReadingView) -> list[Observation]:
    return [Observation.from_dict({"device_id": view.device_id, "kind": "test", **o}) for o in view.payload["obs"]]


def _check(observation: Observation, declared: Any) -> list[Finding]:
    if observation.facts.get("verdict") == "not empty" and declared.containers.get(observation.containers[0]):
        return [Finding("not_empty", "declared empty, not empty")]
    return []


class Lane:
    """A store, a book with devices uvss/lock/iris/box, and a clock."""

    def __init__(self, path: Path, **config: Any) -> None:
        self.path = path
        config.setdefault("deadlines", {"uvss": 10, "lock": 10, "iris": 10, "box": 10})
        self.config = PassagesConfig(**config)
        self.store = Store(path, store_migrations())
        roles = {d: LaneDeviceRole(d.upper(), _observe, _check if d == "box" else None) for d in ("uvss", "lock", "iris", "box", "uplink")}
        self.book = PassageBook(self.config, roles)
        self.changed: list[int] = []
        self.now = T0

    def declare(self, data: dict[str, Any] = DECLARATION) -> str:
        outcome, changed = self.store.transact(self.book.load_declaration, parse(data, "test"), "test", self.now)
        self.changed += changed
        return outcome

    def reading(self, device: str, at: float, message: str = "r", state: dict[str, Any] | None = None,
                **obs: Any) -> int | None:
        """Store one reading at T0 + at whose observation is `obs` (or, for a device whose kind reads
        the state, whose state is `state`); the passages it changed."""
        self.now = T0 + at
        payload = {"obs": [{"ref": device, "said": "ok", **obs}], "state": state}
        sha = hashlib.sha256(json.dumps([device, message, payload], sort_keys=True).encode()).hexdigest()

        def derive(txn: Txn, reading_id: int) -> Derived:
            view = ReadingView(reading_id, device, "test", message, payload, state or {}, (), None, self.now, True)
            self.changed += self.book.follow(txn, view)
            return Derived()

        return self.store.record_reading(device, self.now, None, message, sha, payload, {}, derive).reading_id

    def tick(self, at: float) -> list[int]:
        self.now = T0 + at
        return self.store.transact(self.book.tick, self.now)

    def passage(self, passage_id: int | None = None) -> dict[str, Any]:
        if passage_id is None:
            passage_id = self.store.transact(queries.page, None, 1, None)["items"][0]["id"]
        found = self.store.transact(queries.detail, passage_id, {})
        assert found is not None
        return found

    def count(self) -> int:
        return self.store.count("passages")

    def codes(self, passage: dict[str, Any] | None = None) -> list[str]:
        return [r["code"] for r in (passage or self.passage())["reasons"]]


@pytest.fixture
def lane(tmp_path: Path) -> Lane:
    return Lane(tmp_path / "edge.sqlite3")


def _clean_vehicle(lane: Lane, start: float = 0.0, plate: str = "新F12345", card: str = "CARD123",
                   lock: str = "SEAL-0001", container: str = "CSQU3054383", verdict: str = "empty") -> None:
    lane.reading("uvss", start, plate=plate)
    lane.reading("iris", start + 1, card_id=card)
    lane.reading("lock", start + 2, lock_id=lock)
    lane.reading("box", start + 3, containers=[container], facts={"verdict": verdict})


def test_a_declared_vehicle_whose_devices_all_agree_is_released_directly(lane: Lane) -> None:
    assert lane.declare() == "new"
    _clean_vehicle(lane)
    passage = lane.passage()
    assert passage["state"] == "released" and passage["acted_by"] == "machine"
    assert passage["declaration_id"] == "D-1" and passage["plate"] == "新F12345"
    assert passage["reasons"] == [] and passage["decided_at"] == T0 + 3
    assert [o["device_id"] for o in passage["observations"]] == ["uvss", "iris", "lock", "box"]
    assert [t["what"] for t in passage["timeline"]][:2] == ["arrival", "declaration"]
    assert lane.count() == 1


def test_the_passage_waits_open_for_every_expected_device(lane: Lane) -> None:
    lane.declare()
    lane.reading("uvss", 0, plate="新F12345")
    lane.reading("iris", 1, card_id="CARD123")
    assert lane.passage()["state"] == "open" and lane.passage()["waiting_for"] == ["lock", "box"]
    lane.reading("lock", 2, lock_id="SEAL-0001")
    lane.reading("box", 3, containers=["CSQU3054383"], pending=True)
    assert lane.passage()["state"] == "analysing"  # every device spoke, one result still coming
    assert lane.passage()["waiting_for"] == ["box"]
    lane.reading("box", 4, containers=["CSQU3054383"], facts={"verdict": "empty"})
    assert lane.passage()["state"] == "released" and lane.passage()["waiting_for"] == []


def test_a_device_that_misses_its_deadline_is_the_reason(lane: Lane) -> None:
    lane.declare()
    lane.reading("uvss", 0, plate="新F12345")
    lane.reading("iris", 1, card_id="CARD123")
    lane.reading("box", 2, containers=["CSQU3054383"], facts={"verdict": "empty"})
    assert lane.tick(9.9) == []
    assert lane.tick(10.0) == [1]
    passage = lane.passage()
    assert passage["state"] == "flagged" and passage["reason"] == "device silent"
    assert lane.codes(passage) == ["device_missing"]
    assert "LOCK did not report within 10 s" in passage["reasons"][0]["words"]
    assert passage["decided_at"] == T0 + 10


TWO_EMPTY = {**DECLARATION, "id": "D-2", "containers": [
    {"number": "CSQU3054383", "lock_id": "SEAL-0001", "declared_empty": True},
    {"number": "MSCU1234566", "declared_empty": True}]}


def test_two_declared_containers_are_each_waited_for_and_the_second_one_holds(lane: Lane) -> None:
    lane.declare(TWO_EMPTY)
    _clean_vehicle(lane)  # the detector scans the first container: empty
    assert lane.passage()["state"] == "analysing" and lane.passage()["waiting_for"] == ["box"]
    lane.reading("box", 6, ref="scan-2", containers=["MSCU1234566"], facts={"verdict": "not empty"})
    passage = lane.passage()
    assert passage["state"] == "flagged" and lane.codes(passage) == ["not_empty"]
    assert not passage["reasons"][0]["late"] and passage["reasons"][0]["holds"]


def test_a_declared_container_never_scanned_holds_at_the_deadline(lane: Lane) -> None:
    lane.declare(TWO_EMPTY)
    _clean_vehicle(lane)
    assert lane.tick(10.0) == [1]
    passage = lane.passage()
    assert passage["state"] == "flagged" and lane.codes(passage) == ["declared_container_missing"]
    assert "MSCU1234566 was not scanned" in passage["reasons"][0]["words"]


@pytest.mark.parametrize("declared, read", [
    ("123ABC02", "123-ABC-02"),     # a foreign plate written with hyphens
    ("新F12345", "新F·12345"),       # a middle dot after the province and letter
    ("A123BC77", "А123ВС77"),       # Cyrillic А, В, С read for the Latin letters
    ("ＡＢ1234", "AB 1234"),          # full-width letters in the declaration
])
def test_a_plate_written_another_way_is_the_same_vehicle(lane: Lane, declared: str, read: str) -> None:
    lane.declare({**DECLARATION, "plate": declared})
    _clean_vehicle(lane, plate=read)
    assert lane.count() == 1 and lane.passage()["state"] == "released", lane.codes()


def test_the_trailer_plate_read_joins_its_declaration(lane: Lane) -> None:
    lane.declare({**DECLARATION, "trailer": "新F1234挂"})
    _clean_vehicle(lane, plate="新F1234挂")  # the under-vehicle camera read the trailer's plate
    assert lane.count() == 1 and lane.passage()["declaration_id"] == "D-1"
    assert lane.passage()["state"] == "released", lane.codes()


def _hub_clears(lane: Lane, at: float) -> None:
    verdict = VerdictWire(cursor=1, lane="L1", passage_id=1, verdict="clear", reviewer="rev", stage="review",
                          decided_at=datetime.now(UTC))
    lane.store.transact(apply_verdict, verdict, "L1", None, T0 + at)
    assert lane.passage()["state"] == "reviewed"


REFERRED = [{"code": "scan_referred", "words": "scan referred to central image review"}]


def _referred_vehicle(lane: Lane, iris_findings: list[dict[str, str]] | None = None) -> None:
    lane.declare()
    lane.reading("uvss", 0, plate="新F12345")
    lane.reading("iris", 1, card_id="CARD123", findings=iris_findings or [])
    lane.reading("lock", 2, lock_id="SEAL-0001")
    lane.reading("box", 3, containers=["CSQU3054383"], facts={"verdict": "empty"}, findings=REFERRED)
    assert lane.passage()["state"] == "flagged"


def test_after_the_hubs_clear_verdict_a_new_holding_reading_holds_again(lane: Lane) -> None:
    _referred_vehicle(lane)
    _hub_clears(lane, 30)
    lane.reading("lock", 40, lock_id="SEAL-0001",  # the vehicle is still at the lane; its lock is cut
                 findings=[{"code": "lock_tampered", "words": "lock SEAL-0001 tampered with: rope cut"}])
    passage = lane.passage()
    assert passage["state"] == "flagged" and "lock_tampered" in lane.codes(passage)
    assert next(r for r in passage["reasons"] if r["code"] == "lock_tampered")["holds"]
    with pytest.raises(ActionRefused, match="confirmation and a note"):
        lane.store.transact(lane.book.act, 1, "release", "officer1", "", False, T0 + 50)


def test_the_hubs_clear_verdict_waives_the_note_only_for_what_the_hub_judged(tmp_path: Path) -> None:
    mismatch = Lane(tmp_path / "mismatch.sqlite3")
    _referred_vehicle(mismatch, [{"code": "iris_mismatch", "words": "iris does not match the card"}])
    _hub_clears(mismatch, 30)
    with pytest.raises(ActionRefused, match="confirmation and a note"):
        mismatch.store.transact(mismatch.book.act, 1, "release", "officer1", "", False, T0 + 40)
    referred = Lane(tmp_path / "referred.sqlite3")
    _referred_vehicle(referred)
    _hub_clears(referred, 30)
    assert referred.store.transact(referred.book.act, 1, "release", "officer1", "", False, T0 + 40) == [1]
    assert referred.passage()["state"] == "released"


def test_a_release_of_a_passage_that_changed_while_it_was_shown_is_refused(lane: Lane) -> None:
    _referred_vehicle(lane)
    shown = lane.passage()["version"]  # the officer opens the release dialog on this
    verdict = VerdictWire(cursor=1, lane="L1", passage_id=1, verdict="suspicious", reviewer="rev", stage="review",
                          decided_at=datetime.now(UTC))
    lane.store.transact(apply_verdict, verdict, "L1", None, T0 + 30)  # meanwhile the hub holds it
    with pytest.raises(ActionRefused, match="changed while it was shown"):
        lane.store.transact(lane.book.act, 1, "release", "officer1", "papers fine", True, T0 + 40, shown)
    assert lane.passage()["state"] == "held"
    now = lane.passage()["version"]
    assert lane.store.transact(lane.book.act, 1, "release", "officer1", "inspected: nothing", True, T0 + 50, now) == [1]


def test_an_iris_mismatch_is_not_undone_by_a_later_matching_capture(tmp_path: Path) -> None:
    lane = Lane(tmp_path / "edge.sqlite3")
    roles = dict(lane.book.devices)  # the iris device observes through the iris kind's own passage code
    roles["iris"] = LaneDeviceRole("IRIS", lambda txn, view: iris_observe(None, txn, view))
    lane.book = PassageBook(lane.config, roles)
    lane.declare()
    lane.reading("uvss", 0, plate="新F12345")
    capture = {"card_id": "CARD123", "time": "2026-12-04T10:00:00+08:00", "eye": "left"}
    lane.reading("iris", 1, "capture", state={**capture, "outcome": "mismatch", "distance": 0.46})
    lane.reading("lock", 2, lock_id="SEAL-0001")
    lane.reading("box", 3, containers=["CSQU3054383"], facts={"verdict": "empty"})
    assert lane.passage()["state"] == "flagged" and lane.codes() == ["iris_mismatch"]
    lane.reading("iris", 20, "capture", state={**capture, "outcome": "match", "distance": 0.21})
    passage = lane.passage()
    assert passage["state"] == "flagged" and lane.codes(passage) == ["iris_mismatch"], passage["timeline"]
    assert [o["ref"] for o in passage["observations"] if o["device_id"] == "iris"] == ["driver-mismatch-2", "driver"]


OPENED_2H_BEFORE = [{"event_id": 1, "event": "opened", "detail": "opened", "device_time": None,
                     "received_at": T0 - 2 * 3600}]


def _lock_lane(tmp_path: Path, name: str) -> Lane:
    lane = Lane(tmp_path / f"{name}.sqlite3")
    roles = dict(lane.book.devices)  # the lock's history is judged by the smart_lock kind's own check
    roles["lock"] = LaneDeviceRole("LOCK", _observe, lock_check)
    lane.book = PassageBook(lane.config, roles)
    return lane


@pytest.mark.parametrize("declared_at, received_before_s, code, holds", [
    (T0 - 3 * 3600, 3600, "lock_opened", True),  # declared 3 h before, the opening 2 h before: in transit
    (None, 3600, "lock_opened_before_declaration", False),  # no time given; the lane had it 1 h before
    (None, 30 * 60, "lock_opened_before_declaration", False),
])
def test_a_lock_opened_before_the_lane_had_a_declaration_without_a_time_is_shown(
        tmp_path: Path, declared_at: float | None, received_before_s: float, code: str, holds: bool) -> None:
    lane = _lock_lane(tmp_path, f"lock-{received_before_s}-{declared_at}")
    lane.now = T0 - received_before_s
    when = None if declared_at is None else datetime.fromtimestamp(declared_at, UTC).isoformat()
    lane.declare({**DECLARATION, "declared_at": when})
    lane.reading("uvss", 0, plate="新F12345")
    lane.reading("iris", 1, card_id="CARD123")
    lane.reading("lock", 2, lock_id="SEAL-0001", facts={"history": OPENED_2H_BEFORE})
    lane.reading("box", 3, containers=["CSQU3054383"], facts={"verdict": "empty"})
    passage = lane.passage()
    (reason,) = passage["reasons"]
    assert (reason["code"], reason["holds"]) == (code, holds)
    assert passage["state"] == ("flagged" if holds else "released")


def test_a_vehicle_whose_plate_was_not_read_is_one_passage_with_its_declaration(lane: Lane) -> None:
    lane.declare()
    reads = {"reads_plate": True}
    lane.reading("uvss", 0, ref="pass-7", pending=True, facts=reads)  # the camera read no plate; analysis coming
    lane.reading("iris", 1, card_id="CARD123")  # the declared driver, lock and container
    lane.reading("lock", 2, lock_id="SEAL-0001")
    lane.reading("box", 3, containers=["CSQU3054383"], facts={"verdict": "empty"})
    lane.reading("uvss", 4, ref="pass-7", facts=reads)  # the analysis of the same pass: clean
    assert lane.count() == 1
    passage = lane.passage()
    assert passage["declaration_id"] == "D-1" and passage["state"] == "released", lane.codes(passage)
    assert sorted(o["device_id"] for o in passage["observations"]) == ["box", "iris", "lock", "uvss"]
    (reason,) = passage["reasons"]  # released, and the officer is told the plate itself was not checked
    assert (reason["code"], reason["holds"]) == ("declared_plate_not_read", False)
    assert reason["words"] == ("declared plate 新F12345 was not read; the vehicle was matched to its declaration "
                               "by container, driver card, lock")


def test_a_plate_read_by_no_reader_but_seen_by_another_is_not_a_reason(lane: Lane) -> None:
    lane.declare()
    lane.reading("uvss", 0, ref="pass-7", facts={"reads_plate": True})  # this camera read nothing ...
    lane.reading("iris", 1, card_id="CARD123", plate="新F12345")  # ... a reader at the gate did
    lane.reading("lock", 2, lock_id="SEAL-0001")
    lane.reading("box", 3, containers=["CSQU3054383"], facts={"verdict": "empty"})
    assert "declared_plate_not_read" not in lane.codes(lane.passage())


def test_a_declared_card_does_not_join_a_passage_another_key_names(lane: Lane) -> None:
    lane.reading("iris", 0, card_id="CARD999")  # an undeclared driver, still at the gate
    lane.declare()
    lane.reading("iris", 5, card_id="CARD123")  # the next, declared driver
    assert lane.count() == 2 and lane.passage()["declaration_id"] == "D-1"


def test_a_declared_time_without_its_utc_offset_is_refused() -> None:
    with pytest.raises(DeclarationError, match="declared_at"):
        parse({**DECLARATION, "declared_at": "2026-12-04T08:00:00"}, "test")
    assert parse({**DECLARATION, "declared_at": "2026-12-04T08:00:00+08:00"}, "test").declared_at is not None


def test_a_vehicle_nobody_declared_is_held(lane: Lane) -> None:
    _clean_vehicle(lane, plate="苏E88888")
    passage = lane.passage()
    assert passage["state"] == "flagged" and passage["declaration_id"] is None
    assert "vehicle_not_declared" in lane.codes(passage)
    assert "苏E88888 has no advance declaration" in passage["reasons"][0]["words"]


def test_the_wrong_lock_driver_and_container_are_each_a_reason(lane: Lane) -> None:
    lane.declare()
    _clean_vehicle(lane, card="CARD999", lock="SEAL-0666", container="MSKU1234565")
    assert lane.count() == 1  # the unknown keys joined the vehicle at the lane, not a passage of their own
    codes = lane.codes()
    assert {"driver_not_declared", "lock_not_declared", "container_not_declared", "declared_lock_missing"} <= set(codes)
    assert lane.passage()["state"] == "analysing"  # the detector may still scan the declared container
    lane.tick(10.0)
    assert lane.passage()["state"] == "flagged" and "declared_container_missing" in lane.codes()


def test_a_kind_check_against_the_declaration(lane: Lane) -> None:
    lane.declare()
    _clean_vehicle(lane, verdict="not empty")
    assert lane.codes() == ["not_empty"]


def test_a_reading_stored_twice_is_followed_once(lane: Lane) -> None:
    lane.declare()
    lane.reading("uvss", 0, plate="新F12345")
    assert lane.reading("uvss", 0, plate="新F12345") is None  # the same bytes: a duplicate
    assert len(lane.passage()["observations"]) == 1
    assert [t["what"] for t in lane.passage()["timeline"]].count("reading") == 1


def test_an_analysis_replaces_its_pass_and_a_resent_pass_does_not_undo_it(lane: Lane) -> None:
    lane.declare()
    lane.reading("uvss", 0, plate="新F12345", ref="pass-1", pending=True, said="analysing")
    lane.reading("uvss", 1, message="analysis", plate="新F12345", ref="pass-1", said="object",
                 findings=[{"code": "foreign_object", "words": "object under the vehicle", "evidence": {}}])
    lane.reading("uvss", 2, message="again", plate="新F12345", ref="pass-1", pending=True, said="analysing again")
    observations = lane.passage()["observations"]
    assert len(observations) == 1 and observations[0]["said"] == "object" and not observations[0]["pending"]


def test_release_and_hold_record_the_officer_and_a_flagged_release_needs_a_note(lane: Lane) -> None:
    _clean_vehicle(lane, plate="苏E88888")
    passage_id = lane.passage()["id"]
    with pytest.raises(ActionRefused, match="confirmation and a note"):
        lane.store.transact(lane.book.act, passage_id, "release", "officer7", "", True, T0 + 20)
    with pytest.raises(ActionRefused, match="confirmation and a note"):
        lane.store.transact(lane.book.act, passage_id, "release", "officer7", "checked papers", False, T0 + 20)
    lane.store.transact(lane.book.act, passage_id, "release", "officer7", "checked papers", True, T0 + 20)
    passage = lane.passage(passage_id)
    assert (passage["state"], passage["acted_by"], passage["note"]) == ("released", "officer7", "checked papers")
    assert passage["timeline"][-1] == {"at": T0 + 20, "what": "released", "detail": "checked papers", "by": "officer7"}
    lane.store.transact(lane.book.act, passage_id, "hold", "supervisor1", "", False, T0 + 21)
    assert lane.passage(passage_id)["state"] == "held"
    with pytest.raises(ActionRefused, match="already held"):
        lane.store.transact(lane.book.act, passage_id, "hold", "supervisor1", "", False, T0 + 22)


def test_an_open_passage_cannot_be_released_only_held(lane: Lane) -> None:
    lane.declare()
    lane.reading("uvss", 0, plate="新F12345")
    with pytest.raises(ActionRefused, match="still open"):
        lane.store.transact(lane.book.act, 1, "release", "officer7", "", False, T0 + 1)
    lane.store.transact(lane.book.act, 1, "hold", "officer7", "", False, T0 + 1)
    assert lane.passage()["state"] == "held"
    assert lane.tick(30) == []  # held: the deadline decides nothing more


def test_without_auto_release_a_clear_vehicle_waits_for_the_officer(tmp_path: Path) -> None:
    lane = Lane(tmp_path / "edge.sqlite3", auto_release=False)
    lane.declare()
    _clean_vehicle(lane)
    assert lane.passage()["state"] == "clear"
    lane.store.transact(lane.book.act, 1, "release", "officer7", "", False, T0 + 5)  # no note for a clear vehicle
    assert lane.passage()["state"] == "released"


def test_a_reading_after_the_release_is_recorded_late_and_changes_no_state(lane: Lane) -> None:
    lane.declare()
    _clean_vehicle(lane)
    lane.reading("box", 30, ref="again", containers=["CSQU3054383"], facts={"verdict": "not empty"})
    passage = lane.passage()
    assert passage["state"] == "released" and lane.count() == 1
    late = [r for r in passage["reasons"] if r["late"]]
    assert [r["code"] for r in late] == ["not_empty"] and not late[0]["holds"]
    assert passage["timeline"][-1]["what"] == "late reading"


def test_the_next_vehicle_makes_a_passage_of_its_own(lane: Lane) -> None:
    lane.declare()
    lane.declare({**DECLARATION, "id": "D-2", "plate": "苏E88888", "driver_card": "CARD777",
                  "containers": [{"number": "MSKU1234565", "lock_id": "SEAL-0002"}]})
    _clean_vehicle(lane)
    _clean_vehicle(lane, start=20, plate="苏E88888", card="CARD777", lock="SEAL-0002", container="MSKU1234565")
    first, second = lane.passage(1), lane.passage(2)
    assert (first["declaration_id"], second["declaration_id"]) == ("D-1", "D-2")
    assert first["state"] == second["state"] == "released"


def test_a_declaration_arriving_after_the_vehicle_is_taken_up(lane: Lane) -> None:
    lane.reading("uvss", 0, plate="新F12345")
    assert lane.passage()["declaration_id"] is None
    lane.declare()
    assert lane.passage()["declaration_id"] == "D-1" and lane.changed[-1] == 1


def test_declarations_resent_replaced_and_refused(lane: Lane) -> None:
    assert lane.declare() == "new"
    assert lane.declare() == "same"
    assert lane.declare({**DECLARATION, "cargo": "changed"}) == "replaced"
    _clean_vehicle(lane)
    assert lane.declare({**DECLARATION, "cargo": "too late"}) == "in use"
    with pytest.raises(DeclarationError, match=r"containers\.0\.number: .*check digit"):
        parse({**DECLARATION, "containers": [{"number": "CSQU3054384"}]}, "test")
    with pytest.raises(DeclarationError, match="surprise: Extra inputs are not permitted"):
        parse({**DECLARATION, "surprise": 1}, "test")


def test_a_half_built_passage_carries_on_after_a_restart(tmp_path: Path) -> None:
    lane = Lane(tmp_path / "edge.sqlite3")
    lane.declare()
    lane.reading("uvss", 0, plate="新F12345")
    lane.reading("iris", 1, card_id="CARD123")
    lane.store.close()
    again = Lane(tmp_path / "edge.sqlite3")
    again.reading("lock", 5, lock_id="SEAL-0001")
    again.reading("box", 6, containers=["CSQU3054383"], facts={"verdict": "empty"})
    passage = again.passage()
    assert again.count() == 1 and passage["state"] == "released"
    assert len(passage["observations"]) == 4


def test_reason_codes_can_be_moved_between_hold_and_inform(tmp_path: Path) -> None:
    lane = Lane(tmp_path / "edge.sqlite3", inform=["vehicle_not_declared"])
    _clean_vehicle(lane, plate="苏E88888")
    passage = lane.passage()
    assert passage["state"] == "released" and lane.codes(passage) == ["vehicle_not_declared"]
    assert passage["reasons"][0]["holds"] is False


def test_a_page_of_the_list_is_newest_first_with_a_cursor(lane: Lane) -> None:
    for n in range(7):
        lane.reading("uvss", n * 100, plate=f"P{n}")
    first = lane.store.transact(queries.page, None, 3, None)
    assert [p["id"] for p in first["items"]] == [7, 6, 5] and first["next"] == 5
    second = lane.store.transact(queries.page, first["next"], 3, None)
    assert [p["id"] for p in second["items"]] == [4, 3, 2]
    last = lane.store.transact(queries.page, second["next"], 3, None)
    assert [p["id"] for p in last["items"]] == [1] and last["next"] is None


def test_a_device_not_at_the_lane_joins_by_key_only_and_never_opens_a_passage(lane: Lane) -> None:
    lane.declare()
    lane.reading("uplink", 0, lock_id="SEAL-0001", said="opened on the road")  # transit: the truck is not here
    assert lane.count() == 0
    lane.reading("uvss", 10, plate="新F12345")
    lane.reading("uplink", 11, lock_id="SEAL-0777", said="another truck's lock")  # no shared key: not this vehicle
    lane.reading("uplink", 12, lock_id="SEAL-0001", said="sealed")
    passage = lane.passage()
    assert lane.count() == 1
    assert [(o["device_id"], o["lock_id"]) for o in passage["observations"]] == [("uvss", None), ("uplink", "SEAL-0001")]


def test_the_same_report_again_adds_nothing(lane: Lane) -> None:
    lane.declare()
    lane.reading("uvss", 0, plate="新F12345")
    lane.reading("lock", 1, lock_id="SEAL-0001", facts={"serial": 1})
    before = lane.passage()
    lane.changed.clear()
    lane.reading("lock", 2, lock_id="SEAL-0001", facts={"serial": 1}, message="report 2")  # a new reading, same meaning
    assert lane.changed == []
    assert lane.passage()["timeline"] == before["timeline"]


def test_a_vehicle_back_at_the_lane_after_its_release_makes_a_new_passage(lane: Lane) -> None:
    lane.declare()
    lane.declare({**DECLARATION, "id": "D-1b", "containers": [{"number": "MSKU1234565", "lock_id": "SEAL-0002"}]})
    _clean_vehicle(lane)
    assert lane.passage(1)["state"] == "released"
    lane.reading("uvss", 100, plate="新F12345", ref="pass-2")  # the same truck, its next trip, within the window
    lane.reading("iris", 101, message="capture 2", card_id="CARD123")
    assert lane.count() == 2
    second = lane.passage(2)
    assert second["declaration_id"] == "D-1b"
    assert [o["device_id"] for o in second["observations"]] == ["uvss", "iris"]
    assert len(lane.passage(1)["observations"]) == 4  # the first visit got nothing of the second


def test_the_same_reason_from_two_devices_is_given_once(lane: Lane) -> None:
    lane.declare()
    lane.reading("uvss", 0, plate="新F12345")
    lane.reading("lock", 1, lock_id="SEAL-0666")
    lane.reading("uplink", 2, lock_id="SEAL-0666")  # the lock's own uplink reads the same wrong lock
    assert lane.codes().count("lock_not_declared") == 1


def test_a_reading_just_after_its_deadline_still_joins_the_vehicle_at_the_lane(lane: Lane) -> None:
    lane.reading("uvss", 0, plate="苏E88888")  # nobody declared it: nothing else can match its keys
    lane.tick(10.5)
    assert lane.passage()["state"] == "flagged" and "device_missing" in lane.codes()
    lane.reading("iris", 11, card_id="CARD999")  # late, and its card matches nothing
    assert lane.count() == 1 and [o["device_id"] for o in lane.passage()["observations"]] == ["uvss", "iris"]


def test_the_days_figures_count_machine_holds_that_were_let_go_per_reason(lane: Lane) -> None:
    from datetime import datetime, timezone

    from contract.uplink import VerdictWire
    from edge.uplink.verdicts import apply_verdict

    lane.declare()
    _clean_vehicle(lane)  # declared and agreeing: released by the machine
    for start, plate in ((100, "苏E88888"), (200, "苏E77777"), (300, "苏E66666")):
        lane.reading("uvss", start, plate=plate)  # not declared, and the other devices never see it: held
    lane.tick(400)
    ids = {p["plate"]: p["id"] for p in lane.store.transact(queries.page, None, 10, None)["items"]}
    assert len(ids) == 4
    lane.store.transact(lane.book.act, ids["苏E88888"], "release", "officer7", "papers fine", True, T0 + 410)
    lane.store.transact(lane.book.act, ids["苏E77777"], "hold", "officer7", "", False, T0 + 411)
    clear = VerdictWire(cursor=1, lane="L1", passage_id=ids["苏E66666"], verdict="clear", reviewer="rev-ana",
                        stage="review", decided_at=datetime.now(timezone.utc))
    assert lane.store.transact(apply_verdict, clear, "L1", None, T0 + 420).outcome == "applied"

    stats = lane.store.transact(queries.stats, T0 - 1)
    assert (stats["decided"], stats["released_directly"]) == (4, 1)
    assert (stats["machine_held"], stats["machine_held_let_go"], stats["machine_held_let_go_share"]) == (3, 2, 0.6667)
    # three devices silent on each held passage: still one hold per passage and reason
    assert stats["holds_by_reason"] == {"device_missing": {"word": "device silent", "held": 3, "let_go": 2},
                                        "vehicle_not_declared": {"word": "not declared", "held": 3, "let_go": 2}}
    assert lane.store.transact(queries.stats, T0 + 350)["machine_held"] == 0  # arrived before: not counted
