"""The verdict feed of a lane after a cursor, and the per-lane / per-port statistics."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from hub import queue
from hub.db.engine import Database
from hub.feed import verdicts_after
from hub.ingest import ReviewPolicy
from hub.stats import quantile, stats
from tests.hub_db import hub_db  # noqa: F401  (fixture)
from tests.hub_samples import T0, add_edge, passage, store

POLICY = ReviewPolicy(recheck_share=0.0)


def _decide(db: Database, reviewer: str, claimed_at: float, decided_at: float, verdict: str = "clear") -> int:
    with db.session() as s:
        claim = queue.claim_next(s, reviewer, claimed_at, POLICY)
        assert claim is not None
        return queue.decide(s, claim.item_id, claim.fence, reviewer, verdict, "seen" if verdict != "clear" else "",
                            decided_at, POLICY)


def test_feed_per_lane_after_a_cursor(hub_db: Database) -> None:
    one, two = add_edge(hub_db, "edge-a", "lane-1"), add_edge(hub_db, "edge-b", "lane-2")
    for n in range(1, 4):
        store(hub_db, one, passage("lane-1", n, flagged=True, score=1 - n / 10), now=T0 + n)
    store(hub_db, two, passage("lane-2", 1), now=T0 + 4)
    cursors = [_decide(hub_db, "ann", T0 + 10 + n, T0 + 20 + n) for n in range(4)]
    assert cursors == sorted(cursors) and len(set(cursors)) == 4
    with hub_db.read_session() as s:
        lane_one = verdicts_after(s, "lane-1", 0)
        assert [v.passage_id for v in lane_one] == [1, 2, 3]
        assert [v.cursor for v in verdicts_after(s, "lane-1", lane_one[0].cursor)] == [c.cursor for c in lane_one[1:]]
        assert [v.cursor for v in verdicts_after(s, "lane-1", 0, limit=2)] == [c.cursor for c in lane_one[:2]]
        assert verdicts_after(s, "lane-1", lane_one[-1].cursor) == []
        [other] = verdicts_after(s, "lane-2", 0)
    assert (other.lane, other.passage_id, other.reviewer, other.stage, other.verdict) == (
        "lane-2", 1, "ann", "review", "clear")
    assert other.decided_at == datetime.fromtimestamp(T0 + 23, timezone.utc)


def test_quantile() -> None:
    assert quantile([], 0.5) is None
    assert quantile([3.0], 0.95) == 3.0
    assert quantile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert quantile([float(n) for n in range(101)], 0.95) == pytest.approx(95.0)


def test_stats_per_lane_port_and_overall(hub_db: Database) -> None:
    north = add_edge(hub_db, "edge-a", "lane-1", "north")
    south = add_edge(hub_db, "edge-b", "lane-2", "south")
    store(hub_db, north, passage("lane-1", 1, state="released", acted_by="machine", refer=False, arrived_at=T0,
                                 decided_at=T0 + 2), now=T0 + 3)
    store(hub_db, north, passage("lane-1", 2, state="released", acted_by="officer7", refer=False, arrived_at=T0,
                                 decided_at=T0 + 4), now=T0 + 5)
    store(hub_db, north, passage("lane-1", 3, flagged=True, arrived_at=T0, decided_at=T0 + 6), now=T0 + 10)
    store(hub_db, south, passage("lane-2", 1, flagged=True, score=0.5, arrived_at=T0, decided_at=T0 + 8), now=T0 + 20)
    store(hub_db, south, passage("lane-2", 2, arrived_at=T0 + 1), now=T0 + 30)
    store(hub_db, south, passage("lane-2", 9, state="released", acted_by="machine", refer=False,
                                 arrived_at=T0 - 1000), now=T0 - 999)  # before the window
    _decide(hub_db, "ann", T0 + 40, T0 + 70)  # lane-2/1 (flagged, higher score): 50 s after upload, 30 s review
    _decide(hub_db, "ann", T0 + 80, T0 + 90)  # lane-1/3: 80 s after upload, 10 s review
    with hub_db.read_session() as s:
        report = stats(s, T0 + 100, since=T0 - 10)
        north_only = stats(s, T0 + 100, since=T0 - 10, port="north")
    overall, lane_one, lane_two = report["overall"], report["lanes"]["lane-1"], report["lanes"]["lane-2"]
    assert (overall["passages"], overall["released_directly"]) == (5, 1)
    assert overall["released_directly_share"] == pytest.approx(0.2)
    assert overall["arrival_to_decision_s"]["p50"] == pytest.approx(5.0)  # 2, 4, 6, 8
    assert overall["upload_to_verdict_s"]["p50"] == pytest.approx(65.0)  # 50, 80
    assert overall["reviewer_s_per_scan"]["p50"] == pytest.approx(20.0)  # 30, 10
    assert overall["queue"] == {"depth": 1, "oldest_age_s": 70.0}  # lane-2/2 made at T0 + 30
    assert (lane_one["passages"], lane_one["released_directly_share"]) == (3, pytest.approx(1 / 3))
    assert lane_one["upload_to_verdict_s"] == {"p50": 80.0, "p95": 80.0}
    assert lane_one["queue"] == {"depth": 0, "oldest_age_s": None}
    assert (lane_two["passages"], lane_two["released_directly"], lane_two["queue"]["depth"]) == (2, 0, 1)
    assert report["ports"]["north"] == lane_one and report["ports"]["south"] == lane_two
    assert list(north_only["lanes"]) == ["lane-1"] and north_only["overall"] == lane_one
