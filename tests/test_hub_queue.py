"""The review queue on SQLite and PostgreSQL: order, exclusive claims, leases and fences, verdicts, re-checks."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from hub import audit, queue
from hub.db.engine import Database
from hub.db.models import AuditEntry, ReviewItem
from hub.feed import verdicts_after
from hub.ingest import ReviewPolicy
from tests.hub_db import hub_db  # noqa: F401  (fixture)
from tests.hub_samples import T0, add_edge, passage, store

POLICY = ReviewPolicy(lease_s=60.0, recheck_share=0.0)


def _items(db: Database, specs: list[dict], lane: str = "lane-1") -> list[int]:  # type: ignore[type-arg]
    edge = add_edge(db, f"edge-{lane}", lane)
    ids = []
    for n, spec in enumerate(specs, start=1):
        now = spec.pop("now", T0 + n)
        ack = store(db, edge, passage(lane, n, **spec), now=now)
        assert ack.review_item is not None
        ids.append(ack.review_item)
    return ids


def _claim(db: Database, user: str, now: float, policy: ReviewPolicy = POLICY) -> queue.Claim | None:
    with db.session() as s:
        return queue.claim_next(s, user, now, policy)


def _actions(db: Database) -> list[tuple[str, str, str]]:
    with db.read_session() as s:
        return [(e.actor, e.action, e.subject) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_claims_follow_priority(hub_db: Database) -> None:
    """Flagged first, then higher score, then the earlier deadline, then the older item."""
    plain_old, plain_high, flagged_low, flagged_high, flagged_high_later = _items(hub_db, [
        {"score": 0.1, "now": T0}, {"score": 0.9, "now": T0 + 1}, {"flagged": True, "score": 0.2, "now": T0 + 2},
        {"flagged": True, "score": 0.7, "now": T0 + 3}, {"flagged": True, "score": 0.7, "now": T0 + 4}])
    plain_new = _items(hub_db, [{"score": 0.1, "now": T0 + 5}], lane="lane-2")[0]
    with hub_db.read_session() as s:
        listed = [item.id for item in queue.list_queue(s, T0 + 10)]
    order = [flagged_high, flagged_high_later, flagged_low, plain_high, plain_old, plain_new]
    assert listed == order
    claims = [_claim(hub_db, "ann", T0 + 10) for _ in order]
    assert [c.item_id for c in claims if c] == order
    assert _claim(hub_db, "ann", T0 + 10) is None


def test_eight_threads_never_share_an_item(hub_db: Database) -> None:
    """8 reviewers claiming at once, each in its own transaction: 5 items, 5 holders, no item twice."""
    ids = _items(hub_db, [{"score": n / 10} for n in range(5)])
    barrier = threading.Barrier(8)
    claims: list[queue.Claim | None] = []
    errors: list[BaseException] = []

    def reviewer(n: int) -> None:
        try:
            barrier.wait(5)
            claims.append(_claim(hub_db, f"r{n}", T0 + 100))
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=reviewer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    held = [c for c in claims if c is not None]
    assert sorted(c.item_id for c in held) == sorted(ids)
    assert len(claims) - len(held) == 3
    with hub_db.read_session() as s:
        rows = s.scalars(select(ReviewItem)).all()
        assert {r.fence for r in rows} == {1}
        assert len({r.claimed_by for r in rows}) == 5
        assert [a for _, a, _ in _actions(hub_db)].count("claim") == 5
        assert audit.verify(s).ok


def test_expired_lease_is_taken_over_and_the_old_holder_is_stale(hub_db: Database) -> None:
    [item_id] = _items(hub_db, [{"flagged": True}])
    ann = _claim(hub_db, "ann", T0 + 10)
    assert ann is not None and (ann.item_id, ann.fence, ann.lease_until) == (item_id, 1, T0 + 70)
    assert _claim(hub_db, "bob", T0 + 69) is None  # still ann's
    bob = _claim(hub_db, "bob", T0 + 71)
    assert bob is not None and bob.item_id == item_id and bob.fence == 2
    with pytest.raises(queue.StaleClaim, match="held by bob"), hub_db.session() as s:
        queue.decide(s, item_id, ann.fence, "ann", "clear", "", T0 + 72, POLICY)
    with pytest.raises(queue.StaleClaim), hub_db.session() as s:
        queue.renew(s, item_id, ann.fence, "ann", T0 + 72, POLICY)
    with pytest.raises(queue.StaleClaim, match="stale"), hub_db.session() as s:
        queue.decide(s, item_id, ann.fence, "bob", "clear", "", T0 + 72, POLICY)  # bob with ann's fence
    with hub_db.session() as s:
        cursor = queue.decide(s, item_id, bob.fence, "bob", "clear", "", T0 + 80, POLICY)
        verdicts = verdicts_after(s, "lane-1", 0)
    assert [(v.cursor, v.reviewer, v.verdict, v.stage) for v in verdicts] == [(cursor, "bob", "clear", "review")]
    assert _actions(hub_db)[-4:] == [("ann", "claim", f"item:{item_id}"), ("bob", "claim", f"item:{item_id}"),
                                     ("bob", "lease_expired_takeover", f"item:{item_id}"),
                                     ("bob", "verdict", f"item:{item_id}")]
    with hub_db.read_session() as s:
        takeover = s.scalars(select(AuditEntry).where(AuditEntry.action == "lease_expired_takeover")).one()
        assert '"previous":"ann"' in takeover.detail_json
        item = s.get(ReviewItem, item_id)
        assert item is not None and (item.state, item.review_s, item.decided_by) == ("decided", 9.0, "bob")


def test_renew_release_and_a_lapsed_lease_nobody_took(hub_db: Database) -> None:
    first, second = _items(hub_db, [{"flagged": True}, {}])
    claim = _claim(hub_db, "ann", T0 + 10)
    assert claim is not None and claim.item_id == first
    with hub_db.session() as s:
        renewed = queue.renew(s, first, claim.fence, "ann", T0 + 100, POLICY)  # lapsed at T0 + 70, still hers
    assert (renewed.fence, renewed.lease_until) == (claim.fence, T0 + 160)
    assert (c := _claim(hub_db, "bob", T0 + 101)) is not None and c.item_id == second
    with pytest.raises(queue.StaleClaim), hub_db.session() as s:
        queue.release(s, first, claim.fence + 1, "ann", T0 + 102)
    with hub_db.session() as s:
        queue.release(s, first, claim.fence, "ann", T0 + 102)
        assert [(i.id, i.state, i.claimed_by) for i in queue.list_queue(s, T0 + 102)] == [
            (first, "queued", None), (second, "claimed", "bob")]
    again = _claim(hub_db, "cat", T0 + 103)
    assert again is not None and (again.item_id, again.fence) == (first, claim.fence + 1)
    with pytest.raises(queue.StaleClaim, match="held by cat"), hub_db.session() as s:
        queue.renew(s, first, claim.fence, "ann", T0 + 104, POLICY)


def test_claim_item(hub_db: Database) -> None:
    [item_id] = _items(hub_db, [{}])
    with hub_db.session() as s:
        ann = queue.claim_item(s, item_id, "ann", T0 + 10, POLICY)
    with pytest.raises(queue.NotAllowed, match="held by ann"), hub_db.session() as s:
        queue.claim_item(s, item_id, "bob", T0 + 20, POLICY)
    with hub_db.session() as s:
        reopened = queue.claim_item(s, item_id, "ann", T0 + 20, POLICY)  # her second page: a new fence
        assert reopened.fence == ann.fence + 1
        with pytest.raises(queue.StaleClaim):
            queue.renew(s, item_id, ann.fence, "ann", T0 + 21, POLICY)
        bob = queue.claim_item(s, item_id, "bob", T0 + 81, POLICY)
        assert bob.fence == reopened.fence + 1
        queue.decide(s, item_id, bob.fence, "bob", "clear", "", T0 + 82, POLICY)
    with pytest.raises(queue.NotAllowed, match="decided"), hub_db.session() as s:
        queue.claim_item(s, item_id, "cat", T0 + 90, POLICY)
    with pytest.raises(queue.NoSuchItem), hub_db.session() as s:
        queue.claim_item(s, item_id + 100, "cat", T0 + 90, POLICY)
    assert [a for _, a, _ in _actions(hub_db)].count("lease_expired_takeover") == 1


def test_verdict_rules(hub_db: Database) -> None:
    [item_id] = _items(hub_db, [{}])
    claim = _claim(hub_db, "ann", T0 + 10)
    assert claim is not None
    for verdict, note, words in [("suspicious", "  ", "needs a note"), ("maybe", "x", "clear or suspicious"),
                                 ("clear", "x" * 2001, "at most 2000")]:
        with pytest.raises(ValueError, match=words), hub_db.session() as s:
            queue.decide(s, item_id, claim.fence, "ann", verdict, note, T0 + 20, POLICY)
    with hub_db.session() as s:
        queue.decide(s, item_id, claim.fence, "ann", "suspicious", "a box behind the axle", T0 + 30, POLICY)
    with pytest.raises(queue.StaleClaim, match="recheck, not claimed"), hub_db.session() as s:
        queue.decide(s, item_id, claim.fence, "ann", "clear", "", T0 + 31, POLICY)
    with hub_db.read_session() as s:
        assert [i.id for i in queue.pending_rechecks(s)] == [item_id]  # every suspicious verdict
        assert queue.queue_depth(s, T0 + 40) == (0, None)


def test_recheck_share_is_a_seeded_hash_of_the_item_id(hub_db: Database) -> None:
    ids = _items(hub_db, [{} for _ in range(16)])
    policy = ReviewPolicy(recheck_share=0.5)
    with hub_db.session() as s:
        seed = queue.recheck_seed(s)  # this database's secret: nobody who sees the ids can tell the choice
    expected = {i for i in ids if queue.recheck_chosen(seed, i, 0.5)}
    assert 0 < len(expected) < len(ids)  # the share splits these ids, so the test tells choices apart
    for n in range(len(ids)):
        claim = _claim(hub_db, "ann", T0 + 100 + n, policy)
        assert claim is not None
        with hub_db.session() as s:
            queue.decide(s, claim.item_id, claim.fence, "ann", "clear", "", T0 + 101 + n, policy)
    with hub_db.read_session() as s:
        assert {i.id for i in queue.pending_rechecks(s)} == expected
    assert all(queue.recheck_chosen(seed, i, 1.0) and not queue.recheck_chosen(seed, i, 0.0) for i in ids)


def test_recheck_confirm_and_overturn(hub_db: Database) -> None:
    confirm_id, overturn_id, plain_id = _items(hub_db, [{"flagged": True, "score": 0.5}, {"flagged": True, "score": 0.1}, {}])
    for item_id in (confirm_id, overturn_id):
        claim = _claim(hub_db, "ann", T0 + 10)
        assert claim is not None and claim.item_id == item_id
        with hub_db.session() as s:
            queue.decide(s, item_id, claim.fence, "ann", "suspicious", "dense mass", T0 + 20, POLICY)
    with pytest.raises(queue.NotAllowed, match="another supervisor"), hub_db.session() as s:
        queue.recheck(s, confirm_id, "ann", "suspicious", "mine", T0 + 30)
    with pytest.raises(queue.NotAllowed, match="not waiting for a re-check"), hub_db.session() as s:
        queue.recheck(s, plain_id, "sue", "clear", "", T0 + 30)
    with hub_db.session() as s:
        assert queue.recheck(s, confirm_id, "sue", "suspicious", "agreed", T0 + 40) is None
        cursor = queue.recheck(s, overturn_id, "sue", "clear", "a fuel tank", T0 + 41)
    assert cursor is not None
    with pytest.raises(queue.NotAllowed), hub_db.session() as s:
        queue.recheck(s, confirm_id, "sue", "clear", "", T0 + 42)
    with hub_db.read_session() as s:
        feed = [(v.passage_id, v.verdict, v.stage, v.reviewer) for v in verdicts_after(s, "lane-1", 0)]
        detail = queue.item_detail(s, overturn_id)
        assert queue.pending_rechecks(s) == []
        states = {i: s.get(ReviewItem, i).state for i in (confirm_id, overturn_id)}  # type: ignore[union-attr]
    assert feed == [(1, "suspicious", "review", "ann"), (2, "suspicious", "review", "ann"),
                    (2, "clear", "recheck", "sue")]
    assert [v["stage"] for v in detail.verdicts] == ["review", "recheck"] and detail.verdicts[-1]["cursor"] == cursor
    assert states == {confirm_id: "rechecked", overturn_id: "rechecked"}
    assert [a for _, a, _ in _actions(hub_db)][-2:] == ["recheck", "recheck"]


def test_detail_depth_and_earlier_passes(hub_db: Database) -> None:
    edge = add_edge(hub_db)
    acks = [store(hub_db, edge, passage("lane-1", n, plate=plate, containers=boxes, arrived_at=T0 + n,
                                        refer=refer), now=T0 + n)
            for n, plate, boxes, refer in [(1, "AB1", (), False), (2, "ZZ9", ("MSCU1234565",), True),
                                           (3, "CD2", (), True), (4, "AB1", ("MSCU1234565",), True)]]
    with hub_db.read_session() as s:
        detail = queue.item_detail(s, acks[3].review_item)  # type: ignore[arg-type]
        assert queue.queue_depth(s, T0 + 10) == (3, 8.0)
        with pytest.raises(queue.NoSuchItem):
            queue.item_detail(s, 999)
    assert (detail.item.plate, detail.item.containers, detail.item.port) == ("AB1", ["MSCU1234565"], "port-n")
    assert detail.passage["passage_id"] == 4 and detail.verdicts == []
    assert [(e["passage_id"], e["item_id"]) for e in detail.earlier] == [(2, acks[1].review_item), (1, None)]
    assert detail.earlier[0]["images"][0]["sha256"] == passage("lane-1", 2).images[0].sha256
