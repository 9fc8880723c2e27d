"""Per-lane, per-port and overall figures of the review: what the port is judged by, from the store.

For passages that arrived since `since`: how many, the share released directly after machine
inspection, arrival-to-decision time at the lane, upload-to-verdict time at the hub, and a
reviewer's seconds per scan; and the queue as it stands now. SQL fetches the few columns;
Python groups them and takes the quantiles (linear between closest ranks).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.db.models import Passage, ReviewItem, VerdictRow
from hub.queue_view import WAITING


def quantile(values: list[float], q: float) -> float | None:
    """The q-quantile of `values` (linear interpolation between closest ranks); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class _Group:
    passages: int = 0
    released_directly: int = 0
    arrival_to_decision: list[float] = field(default_factory=list)
    upload_to_verdict: list[float] = field(default_factory=list)
    review_s: list[float] = field(default_factory=list)
    depth: int = 0
    oldest_created: float | None = None

    def wait(self, created_at: float) -> None:
        self.depth += 1
        self.oldest_created = created_at if self.oldest_created is None else min(self.oldest_created, created_at)

    def report(self, now: float) -> dict[str, Any]:
        return {
            "passages": self.passages,
            "released_directly": self.released_directly,
            "released_directly_share": self.released_directly / self.passages if self.passages else None,
            "arrival_to_decision_s": {"p50": quantile(self.arrival_to_decision, 0.5),
                                      "p95": quantile(self.arrival_to_decision, 0.95)},
            "upload_to_verdict_s": {"p50": quantile(self.upload_to_verdict, 0.5),
                                    "p95": quantile(self.upload_to_verdict, 0.95)},
            "reviewer_s_per_scan": {"p50": quantile(self.review_s, 0.5)},
            "queue": {"depth": self.depth,
                      "oldest_age_s": None if self.oldest_created is None else max(0.0, now - self.oldest_created)},
        }


class _Groups:
    """The overall group and one per lane and per port; each fact goes to the three it belongs to."""

    def __init__(self) -> None:
        self.overall = _Group()
        self.lanes: defaultdict[str, _Group] = defaultdict(_Group)
        self.ports: defaultdict[str, _Group] = defaultdict(_Group)

    def of(self, lane: str, port: str) -> Iterable[_Group]:
        return (self.overall, self.lanes[lane], self.ports[port])


def _filtered(query: Any, lane: str | None, port: str | None) -> Any:
    if lane is not None:
        query = query.where(Passage.lane == lane)
    if port is not None:
        query = query.where(Passage.port == port)
    return query


def stats(s: Session, now: float, since: float, lane: str | None = None, port: str | None = None) -> dict[str, Any]:
    """{"since", "now", "overall", "lanes": {lane: ...}, "ports": {port: ...}}; each group as `_Group.report`."""
    groups = _Groups()
    passages = _filtered(select(Passage.lane, Passage.port, Passage.state, Passage.acted_by, Passage.arrived_at,
                                Passage.decided_at).where(Passage.arrived_at >= since), lane, port)
    for p_lane, p_port, state, acted_by, arrived_at, decided_at in s.execute(passages):
        for group in groups.of(p_lane, p_port):
            group.passages += 1
            group.released_directly += int(state == "released" and acted_by == "machine")
            if decided_at is not None:
                group.arrival_to_decision.append(decided_at - arrived_at)
    first_verdict = (select(VerdictRow.item_id, func.min(VerdictRow.decided_at).label("first_at"))
                     .group_by(VerdictRow.item_id).subquery())
    items = _filtered(select(Passage.lane, Passage.port, ReviewItem.state, ReviewItem.created_at,
                             ReviewItem.review_s, first_verdict.c.first_at)
                      .join(Passage, Passage.id == ReviewItem.passage_id)
                      .outerjoin(first_verdict, first_verdict.c.item_id == ReviewItem.id)
                      .where((Passage.arrived_at >= since) | ReviewItem.state.in_(WAITING)), lane, port)
    for p_lane, p_port, state, created_at, review_s, first_at in s.execute(items):
        for group in groups.of(p_lane, p_port):
            if state in WAITING:
                group.wait(created_at)
            if first_at is not None:
                group.upload_to_verdict.append(first_at - created_at)
            if review_s is not None:
                group.review_s.append(review_s)
    return {"since": since, "now": now, "overall": groups.overall.report(now),
            "lanes": {name: g.report(now) for name, g in sorted(groups.lanes.items())},
            "ports": {name: g.report(now) for name, g in sorted(groups.ports.items())}}
