"""The outbox on a real SQLite store: queued inside the passage's own transaction, a newer revision
replacing the pending one, images queued once, the document the hub will get, refusals kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from contract.uplink import PassageUpload, canonical_sha256
from edge.store import Derived, Txn
from edge.uplink import outbox
from edge.uplink.document import build_upload, sniff_media_type
from tests.uplink_lane import LANE, UplinkLane, pass_payload, png


@pytest.fixture
def lane(tmp_path: Path) -> Iterator[UplinkLane]:
    lane = UplinkLane(tmp_path)
    yield lane
    lane.close()


def test_a_flagged_passage_and_its_images_are_queued_in_its_own_transaction(lane: UplinkLane) -> None:
    first, reference = png(lane.media, 1), png(lane.media, 2)
    (passage_id,) = lane.reading(pass_payload("新F12345", [first, reference]))
    assert lane.passage(passage_id)["state"] == "flagged"
    rows = lane.rows()
    assert [(r["kind"], r["key"]) for r in rows] == [("blob", first), ("blob", reference), ("passage", str(passage_id))]
    assert {r["created_at"] for r in rows} == {lane.now}  # one transaction, one moment: blobs sort first
    document = PassageUpload.model_validate_json(rows[2]["doc_json"])
    assert document.lane == LANE and document.passage_id == passage_id and document.state == "flagged"
    assert document.revision == lane.passage(passage_id)["version"] == rows[2]["revision"]
    assert document.refer is True and [i.sha256 for i in document.images] == [first, reference]
    image = document.images[0]
    assert (image.media_type, image.size) == ("image/png", lane.media.path(first).stat().st_size)
    assert (image.device_id, image.kind, image.label, image.width, image.height) == (
        "uvss", "under_vehicle", "undercarriage", 64, 48)
    assert image.score == 0.91 and [(r.x, r.y, r.width, r.height) for r in image.regions] == [(4, 5, 6, 7)]
    assert {r.code: r.holds for r in document.reasons} == {"foreign_object": True, "vehicle_not_declared": True}
    assert document.observations[0].images == [first, reference]
    assert document.observations[0].findings[0].code == "foreign_object"
    # the queued text is canonical: the hub's hash of what it parses is the row's own
    assert canonical_sha256(document) == canonical_sha256(PassageUpload.model_validate_json(document.model_dump_json()))


def test_a_failing_transaction_leaves_no_outbox_row(lane: UplinkLane) -> None:
    (passage_id,) = lane.reading(pass_payload("新F12345", [png(lane.media, 1)]))
    before = lane.rows()

    def hold_then_fail(txn: Txn) -> None:
        ids = lane.book.act(txn, passage_id, "hold", "officer-1", "", False, lane.now)
        assert lane.outbox.enqueue_passages(txn, ids) == 1  # the new revision was queued ...
        raise RuntimeError("the transaction fails after queueing")

    with pytest.raises(RuntimeError):
        lane.store.transact(hold_then_fail)
    assert lane.rows() == before  # ... and went with it
    assert lane.passage(passage_id)["state"] == "flagged"


def test_an_open_passage_is_not_queued_until_decided(tmp_path: Path) -> None:
    lane = UplinkLane(tmp_path, deadlines={"uvss": 10, "iris": 10})
    try:
        (passage_id,) = lane.reading(pass_payload("新F12345", [png(lane.media, 1)]))
        assert lane.passage(passage_id)["state"] == "open" and lane.rows() == []
        lane.now += 11
        changed = lane.store.transact(lambda txn: lane.outbox.enqueue_passages(txn, lane.book.tick(txn, lane.now)))
        assert changed == 2 and lane.passage(passage_id)["state"] == "flagged"
    finally:
        lane.close()


def test_a_newer_revision_replaces_the_pending_one_and_images_go_once(lane: UplinkLane) -> None:
    sha = png(lane.media, 1)
    (passage_id,) = lane.reading(pass_payload("新F12345", [sha]))
    queued_at = lane.now
    (old,) = [r for r in lane.rows() if r["kind"] == "passage"]
    lane.now += 30
    lane.act(passage_id, "hold")
    passages = [r for r in lane.rows() if r["kind"] == "passage"]
    assert len(passages) == 1
    (new,) = passages
    assert new["revision"] == old["revision"] + 1 == lane.passage(passage_id)["version"]
    assert new["created_at"] == queued_at  # its age is the oldest unconfirmed change's
    assert PassageUpload.model_validate_json(new["doc_json"]).state == "held"
    assert [r["key"] for r in lane.rows() if r["kind"] == "blob"] == [sha]  # not queued twice
    # an older revision arriving late does not replace a newer one
    lane.store.transact(lambda txn: txn.execute("UPDATE passages SET version=? WHERE id=?", (old["revision"], passage_id)))
    lane.store.transact(lambda txn: lane.outbox.enqueue_passages(txn, [passage_id]))
    assert [r["revision"] for r in lane.rows() if r["kind"] == "passage"] == [new["revision"]]


def test_an_image_the_hub_confirmed_is_not_queued_again(lane: UplinkLane) -> None:
    sha = png(lane.media, 1)
    (passage_id,) = lane.reading(pass_payload("新F12345", [sha]))
    blob = outbox.OutboxRow(**lane.rows()[0])
    lane.store.transact(outbox.confirm_blob, blob, 123, lane.now)
    lane.act(passage_id, "hold")
    assert [r["kind"] for r in lane.rows()] == ["passage"]
    assert lane.rows("sent_blobs")[0]["sha256"] == sha


def test_an_image_not_in_the_media_store_is_left_out_and_counted(lane: UplinkLane) -> None:
    present, gone = png(lane.media, 1), "ab" * 32
    (passage_id,) = lane.reading(pass_payload("新F12345", [gone, present]))
    document = PassageUpload.model_validate_json(lane.rows()[-1]["doc_json"])
    assert [i.sha256 for i in document.images] == [present]
    assert document.observations[0].images == [present]
    assert lane.outbox.stats.images_left_out == 1 and [r["key"] for r in lane.rows() if r["kind"] == "blob"] == [present]


def test_a_passage_without_images_is_not_referred(lane: UplinkLane) -> None:
    (passage_id,) = lane.reading(pass_payload("新F12345", []))
    document = PassageUpload.model_validate_json(lane.rows()[0]["doc_json"])
    assert document.state == "flagged" and document.refer is False and document.images == []


def test_a_refused_item_moves_to_outbox_refused_with_its_reason(lane: UplinkLane) -> None:
    sha = png(lane.media, 1)
    (passage_id,) = lane.reading(pass_payload("新F12345", [sha]))
    blob = outbox.OutboxRow(**lane.rows()[0])
    lane.store.transact(outbox.refuse, blob, 422, "truncated", "the file ends inside its pixel data", [], lane.now)
    (refused,) = lane.store.transact(outbox.refused_items, 10)
    assert (refused["kind"], refused["key"], refused["status"], refused["code"]) == ("blob", sha, 422, "truncated")
    assert refused["detail"] == "the file ends inside its pixel data" and refused["passage_id"] == passage_id
    assert [r["kind"] for r in lane.rows()] == ["passage"]
    depth = lane.store.transact(outbox.depth)
    assert (depth.rows, depth.blobs, depth.refused) == (1, 0, 1)
    assert lane.store.transact(outbox.refused_codes) == {"truncated": 1}
    lane.act(passage_id, "hold")  # a new revision: the refused image is not queued again
    assert [r["kind"] for r in lane.rows()] == ["passage"]


def test_retry_keeps_attempts_and_next_time_in_the_store(lane: UplinkLane) -> None:
    lane.reading(pass_payload("新F12345", [png(lane.media, 1)]))
    item = outbox.OutboxRow(**lane.rows()[0])
    lane.store.transact(outbox.retry, item, 7.5, "ConnectError: refused", lane.now)
    row = lane.rows()[0]
    assert (row["attempts"], row["next_at"], row["last_error"]) == (1, lane.now + 7.5, "ConnectError: refused")
    assert lane.store.transact(outbox.due, lane.now, 10)[0].kind == "passage"  # the blob waits its turn
    assert [r.kind for r in lane.store.transact(outbox.due, lane.now + 8, 10)] == ["blob", "passage"]


def test_a_document_that_does_not_fit_the_contract_is_recorded_not_lost(lane: UplinkLane) -> None:
    (passage_id,) = lane.reading(pass_payload("新F12345", []))
    lane.store.transact(lambda txn: txn.execute("UPDATE passages SET containers=? WHERE id=?",
                                                (",".join(f"C{n}" for n in range(9)), passage_id)))
    lane.act(passage_id, "hold")
    (refused,) = lane.store.transact(outbox.refused_items, 10)
    assert refused["code"] == "unbuildable" and str(passage_id) in refused["detail"]
    assert lane.passage(passage_id)["state"] == "held"  # the passage change itself stands
    assert lane.outbox.stats.errors == 1


def test_the_media_type_comes_from_the_file_not_its_name() -> None:
    assert sniff_media_type(b"\x89PNG\r\n\x1a\n" + b"\0" * 20) == "image/png"
    assert sniff_media_type(b"II*\x00" + b"\0" * 20) == "image/tiff"
    assert sniff_media_type(b"\xff\xd8\xff\xe0" + b"\0" * 20) == "image/jpeg"
    assert sniff_media_type(b"\0" * 128 + b"DICM") == "application/dicom"
    assert sniff_media_type(b"GIF89a" + b"\0" * 130) is None


def test_the_passage_service_queues_in_the_transactions_it_runs(tmp_path: Path) -> None:
    """PassageService.follow (a reading's transaction) and the officer's act hand their ids to the outbox."""
    import asyncio

    from edge.ingest import Reading
    from edge.live import LiveBus
    from edge.passages.service import PassageService
    from edge.store import AsyncStore, Store
    from edge.store_schema import store_migrations
    from tests.uplink_lane import roles

    lane = UplinkLane(tmp_path / "media-lane")  # for its media store and outbox
    store = AsyncStore(tmp_path / "edge.sqlite3", store_migrations())
    service = PassageService(lane.config, LANE, store, LiveBus(), lambda *_: None, roles(),
                             outbox=lane.outbox.enqueue_passages)

    async def main() -> list[tuple[str, int]]:
        payload = pass_payload("新F12345", [png(lane.media, 1)])
        reading = Reading("uvss", "pass", "f" * 64, payload, state={}, kind="under_vehicle")
        recorded = await store.call(Store.record_reading, "uvss", reading.received_at, None, "pass", reading.sha256,
                                    payload, {}, lambda txn, rid: (service.follow(txn, reading, rid, Derived()),
                                                                   Derived())[1])
        assert recorded.reading_id is not None
        await service.act(1, "hold", "officer-1", "", False)
        return await store.call(lambda s: s.read("SELECT kind, revision FROM outbox ORDER BY id"))

    try:
        rows = asyncio.run(main())
        assert [kind for kind, _ in rows] == ["blob", "passage"]
        assert rows[1][1] >= 2  # the hold's revision replaced the decision's
    finally:
        store.close()
        lane.close()


def test_build_upload_is_none_for_a_passage_that_is_not_there(lane: UplinkLane) -> None:
    assert lane.store.transact(build_upload, 99, LANE, lane.media, lambda code: True) is None
    assert lane.store.transact(outbox.refused_items, 10) == []
