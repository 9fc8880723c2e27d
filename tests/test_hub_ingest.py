"""Blob and passage records: idempotent by hash, newest revision kept, one review item per referred passage."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import func, select

from contract.uplink import canonical_sha256
from hub import ingest
from hub.db.engine import Database
from hub.db.models import Passage, PassageDoc, ReviewItem
from tests.hub_db import hub_db  # noqa: F401  (fixture)
from tests.hub_samples import POLICY, T0, add_edge, image_sha, passage, store


def test_blobs_are_recorded_once(hub_db: Database) -> None:
    edge = add_edge(hub_db)
    sha = image_sha("one")
    with hub_db.session() as s:
        assert ingest.record_blob(s, sha, 10, "image/png", 2, 3, 16, 1, edge, T0) is True
        assert ingest.record_blob(s, sha, 10, "image/png", 2, 3, 16, 1, edge, T0 + 1) is False
    with hub_db.read_session() as s:
        assert ingest.held_blobs(s, [sha, image_sha("two"), sha]) == {sha}
        assert ingest.held_blobs(s, []) == set()


def test_stored_then_duplicate(hub_db: Database) -> None:
    edge = add_edge(hub_db)
    upload = passage("lane-1", 7, flagged=True, score=0.8, plate="AB123", containers=("MSCU1234565",))
    first = store(hub_db, edge, upload)
    assert first.status == "stored" and first.review_item is not None
    again = store(hub_db, edge, upload, now=T0 + 5)
    assert (again.status, again.review_item, again.sha256) == ("duplicate", first.review_item, first.sha256)
    with hub_db.read_session() as s:
        row = s.scalars(select(Passage)).one()
        item = s.get(ReviewItem, first.review_item)
        assert s.scalar(select(func.count()).select_from(PassageDoc)) == 1
    assert (row.lane, row.edge_passage_id, row.port, row.plate, json.loads(row.containers)) == (
        "lane-1", 7, "port-n", "AB123", ["MSCU1234565"])
    assert json.loads(row.doc_json) == upload.model_dump(mode="json")
    assert item is not None
    assert (item.flagged, item.score, item.priority, item.state, item.fence) == (True, 0.8, 0, "queued", 0)
    assert item.deadline_at == T0 + POLICY.deadline_flagged_s


def test_newer_revision_replaces_and_older_is_superseded(hub_db: Database) -> None:
    edge = add_edge(hub_db)
    store(hub_db, edge, passage("lane-1", 7, revision=1, refer=False, state="analysing"))
    newer = store(hub_db, edge, passage("lane-1", 7, revision=3, score=0.2, state="flagged"), now=T0 + 10)
    assert newer.status == "stored" and newer.review_item is not None
    older = store(hub_db, edge, passage("lane-1", 7, revision=2, state="clear"), now=T0 + 20)
    same = store(hub_db, edge, passage("lane-1", 7, revision=3, state="clear"), now=T0 + 20)
    assert (older.status, older.review_item) == ("superseded", newer.review_item)
    assert same.status == "superseded"
    with hub_db.read_session() as s:
        row = s.scalars(select(Passage)).one()
        item = s.get(ReviewItem, newer.review_item)
        revisions = sorted(s.scalars(select(PassageDoc.revision)))
    assert (row.revision, row.state, row.received_at) == (3, "flagged", T0 + 10)
    assert revisions == [1, 3]
    assert item is not None and (item.flagged, item.deadline_at) == (False, T0 + 10 + POLICY.deadline_s)
    assert store(hub_db, edge, passage("lane-1", 7, revision=4, flagged=True), now=T0 + 30).review_item == (
        newer.review_item)  # one item per passage


def test_no_item_without_refer_or_images(hub_db: Database) -> None:
    edge = add_edge(hub_db)
    assert store(hub_db, edge, passage("lane-1", 1, refer=False)).review_item is None
    assert store(hub_db, edge, passage("lane-1", 2, images=0)).review_item is None
    with hub_db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(ReviewItem)) == 0
        assert s.scalar(select(func.count()).select_from(Passage)) == 2


def test_wrong_lane_is_refused_and_stores_nothing(hub_db: Database) -> None:
    edge = add_edge(hub_db)
    upload = passage("lane-2", 1)
    with pytest.raises(ingest.WrongLane, match="edge-a uploads for lane lane-1, not lane-2"), hub_db.session() as s:
        ingest.record_passage(s, edge, upload, canonical_sha256(upload), T0, POLICY)
    with hub_db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Passage)) == 0


def test_same_passage_id_in_two_lanes_is_two_passages(hub_db: Database) -> None:
    one, two = add_edge(hub_db, "edge-a", "lane-1"), add_edge(hub_db, "edge-b", "lane-2")
    assert store(hub_db, one, passage("lane-1", 5)).status == "stored"
    assert store(hub_db, two, passage("lane-2", 5)).status == "stored"
    with hub_db.read_session() as s:
        assert sorted(s.scalars(select(Passage.lane))) == ["lane-1", "lane-2"]


def _at_once(jobs: list) -> list:  # type: ignore[type-arg]
    """Run the callables in threads released together; their results (an exception fails the test)."""
    barrier, results, errors = threading.Barrier(len(jobs)), [None] * len(jobs), []

    def run(n: int) -> None:
        try:
            barrier.wait(5)
            results[n] = jobs[n]()
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


def test_concurrent_uploads_of_one_new_passage(hub_db: Database) -> None:
    """Revisions racing to create one passage: no error, the newest kept, one item; a doc sent 4 times at once is stored once."""
    edge = add_edge(hub_db)
    acks = _at_once([lambda r=r: store(hub_db, edge, passage("lane-1", 9, revision=r)) for r in range(1, 7)])
    assert {a.status for a in acks} <= {"stored", "superseded"} and "stored" in {a.status for a in acks}
    assert len({a.review_item for a in acks}) == 1
    same = passage("lane-1", 10, revision=1)
    statuses = sorted(a.status for a in _at_once([lambda: store(hub_db, edge, same)] * 4))
    assert statuses == ["duplicate", "duplicate", "duplicate", "stored"]
    with hub_db.read_session() as s:
        assert s.scalars(select(Passage.revision).where(Passage.edge_passage_id == 9)).one() == 6
        assert s.scalar(select(func.count()).select_from(ReviewItem)) == 2
