"""Which earlier pass the comparison may take as the plate's clean reference, on a real store with
the under-vehicle kind's own passage code: never one whose analysis came after its release, one the
hub found suspicious, or one whose plate the camera did not read; a reference whose file is gone
is skipped; a pass that nothing checked (no plate read, no model) holds."""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contract.uplink import VerdictWire
from edge.kinds.under_vehicle import passage as uv_passage
from edge.kinds.under_vehicle.config import UnderVehicleConfig
from edge.kinds.under_vehicle.reference import last_clean_pass
from edge.passages import queries
from edge.passages.book import LaneDeviceRole, PassageBook
from edge.passages.config import PassagesConfig
from edge.passages.declarations import parse
from edge.passages.observation import Observation, ReadingView
from edge.store import Derived, Store, Txn
from edge.store_schema import store_migrations
from edge.uplink.verdicts import apply_verdict

T0 = 1_790_000_000.0
PLATE = "新F12345"
A, B = "a" * 64, "b" * 64


def _iris(txn: Txn, view: ReadingView) -> list[Observation]:
    return [Observation.from_dict({"device_id": view.device_id, "kind": "test", **o}) for o in view.payload["obs"]]


class Lane:
    """A store and a passage book with the real under-vehicle observe and a stand-in iris reader."""

    def __init__(self, path: Path) -> None:
        self.store = Store(path, store_migrations())
        camera = UnderVehicleConfig(id="uvss", kind="under_vehicle")  # type: ignore[call-arg]
        roles = {"uvss": LaneDeviceRole("UVSS", functools.partial(uv_passage.observe, camera)),
                 "iris": LaneDeviceRole("IRIS", _iris)}
        self.book = PassageBook(PassagesConfig(deadlines={"uvss": 10, "iris": 10}), roles)
        self.now = T0
        self.visits = 0

    def _record(self, device: str, message: str, payload: dict[str, Any], state: dict[str, Any] | None,
                at: float) -> None:
        self.now = T0 + at
        sha = hashlib.sha256(json.dumps([device, message, payload, state, at], sort_keys=True).encode()).hexdigest()

        def derive(txn: Txn, reading_id: int) -> Derived:
            view = ReadingView(reading_id, device, "test", message, payload, state or {}, (), None, self.now, True)
            self.book.follow(txn, view)
            return Derived()

        self.store.record_reading(device, self.now, None, message, sha, payload, {}, derive)

    def visit(self, at: float, image: str, plate: str | None = PLATE, analyse: bool = True, **analysis: Any) -> int:
        """A declared vehicle: a pass (and its analysis, unless not `analyse`) and the driver's card."""
        self.visits += 1
        card = f"CARD{self.visits}"
        self.store.transact(self.book.load_declaration, parse({"id": f"D-{self.visits}", "plate": PLATE,
                                                               "driver_card": card}, "test"), "test", T0 + at)
        state = {"plate": plate, "pass_id": f"pass-{self.visits}", "speed_kmh": 10, "image_sha256": image,
                 "width": 4, "height": 4, "analysis": "pending"}
        self._record("uvss", "pass", {"pass": self.visits}, state, at)
        self._record("iris", "r", {"obs": [{"ref": "driver", "said": "ok", "card_id": card}]}, None, at + 1)
        if analyse:
            self.analysis(at + 2, image, plate=plate, **analysis)
        return self.store.transact(queries.page, None, 1, None)["items"][0]["id"]

    def analysis(self, at: float, image: str, plate: str | None = PLATE, pass_no: int | None = None,
                 reference: str | None = None, flagged: bool = False, model: bool = True,
                 reference_error: str | None = None, matched: float = 1.0) -> None:
        comparison: dict[str, Any] = {"reference_sha256": reference}
        if reference is not None:
            comparison.update(registered=True, full=matched >= 0.9, score=30.0 if flagged else 0.1, flagged=flagged,
                              matched_fraction=matched,
                              regions=[{"box": [1, 1, 2, 2], "score": 30.0, "area": 4}] if flagged else [])
        if reference_error:
            comparison["reference_error"] = reference_error
        payload: dict[str, Any] = {"image_sha256": image, "comparison": comparison}
        if model:
            payload.update(model="m", version="1", score=0.0, flagged=False, regions=[])
        state = {"plate": plate, "pass_id": f"pass-{pass_no or self.visits}", "speed_kmh": 10, "image_sha256": image,
                 "width": 4, "height": 4, "analysis": {}}
        self._record("uvss", "analysis", payload, state, at)

    def passage(self, passage_id: int) -> dict[str, Any]:
        found = self.store.transact(queries.detail, passage_id, {})
        assert found is not None
        return found

    def reference(self, stored: Any = lambda sha: True) -> str | None:
        return last_clean_pass(self.store.read, "uvss", PLATE, "z" * 64, stored)


def test_an_analysis_that_came_after_the_release_is_no_reference(tmp_path: Path) -> None:
    lane = Lane(tmp_path / "edge.sqlite3")
    lane.visit(0, A)
    assert lane.reference() == A
    second = lane.visit(100, B, analyse=False)  # the analysis queue is busy: not analysed within 10 s
    lane.now = T0 + 111
    lane.store.transact(lane.book.tick, lane.now)
    lane.store.transact(lane.book.act, second, "release", "officer1", "analysis slow; driver known", True, T0 + 120)
    lane.analysis(130, B, pass_no=2, reference=A, flagged=True)  # it comes late and finds an object
    assert lane.passage(second)["state"] == "released"
    assert lane.reference() == A  # not the image with the object


def test_a_pass_the_hub_found_suspicious_is_no_reference(tmp_path: Path) -> None:
    lane = Lane(tmp_path / "edge.sqlite3")
    first = lane.visit(0, A)
    assert lane.passage(first)["state"] == "released" and lane.reference() == A
    verdict = VerdictWire(cursor=1, lane="L1", passage_id=first, verdict="suspicious", reviewer="rev",
                          stage="review", decided_at=datetime(2026, 12, 4, 8, 30, tzinfo=UTC))
    lane.store.transact(apply_verdict, verdict, "L1", None, T0 + 50, [])
    assert lane.reference() is None


def test_a_pass_whose_plate_was_not_read_and_no_model_judged_holds_and_is_no_reference(tmp_path: Path) -> None:
    lane = Lane(tmp_path / "edge.sqlite3")
    passage_id = lane.visit(0, A, plate=None, model=False)  # a comparison-only lane: nothing looked at it
    passage = lane.passage(passage_id)
    assert passage["state"] == "flagged"
    assert [(r["code"], r["holds"]) for r in passage["reasons"]] == [("image_not_analysed", True),
                                                                    ("declared_plate_not_read", False)]
    assert "plate was not read" in passage["reasons"][0]["words"]
    assert lane.reference() is None


def test_a_reference_that_cannot_be_read_leaves_the_pass_unchecked_not_clean(tmp_path: Path) -> None:
    lane = Lane(tmp_path / "edge.sqlite3")
    passage_id = lane.visit(0, A, model=False, reference_error="MediaError: stored file is corrupt")
    passage = lane.passage(passage_id)
    assert passage["state"] == "flagged" and "could not be read" in passage["reasons"][0]["words"]


def test_a_reference_whose_file_is_gone_is_skipped_for_the_one_before(tmp_path: Path) -> None:
    lane = Lane(tmp_path / "edge.sqlite3")
    lane.visit(0, A)
    lane.visit(100, B, reference=A)
    assert lane.reference() == B
    assert lane.reference(stored=lambda sha: sha != B) == A  # B's file was lost: A, not a dead end
    assert lane.reference(stored=lambda sha: False) is None


def test_a_pass_compared_over_part_of_its_rows_with_no_model_holds_as_partly_checked(tmp_path: Path) -> None:
    lane = Lane(tmp_path / "edge.sqlite3")
    lane.visit(0, A)
    second = lane.visit(100, B, reference=A, model=False, matched=0.71)  # "unchanged", but over 71 % of it
    passage = lane.passage(second)
    assert passage["state"] == "flagged" and [r["code"] for r in passage["reasons"]] == ["image_not_analysed"]
    assert "only partly checked: 29% of its rows" in passage["reasons"][0]["words"]
    assert lane.reference() == A  # not a clean pass to compare the next one with


def test_a_pass_compared_over_part_of_its_rows_beside_the_model_is_judged_by_the_model(tmp_path: Path) -> None:
    lane = Lane(tmp_path / "edge.sqlite3")
    lane.visit(0, A)
    second = lane.visit(100, B, reference=A, matched=0.71)
    passage = lane.passage(second)
    assert passage["state"] == "released" and passage["reasons"] == []
    said = " ".join(o["said"] for o in passage["observations"] if o["device_id"] == "uvss")
    assert "unchanged since the last clean pass over 71% of the pass" in said and "model judged the whole" in said
