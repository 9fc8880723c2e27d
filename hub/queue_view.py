"""The review queue as reviewers read it: the list, its depth, one item with its evidence and history.

Queue order (`ORDER`): flagged before not (`priority` 0, 1), then the model's score highest
first, then the deadline, then age, then id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from hub.db.models import Passage, PassageKey, ReviewItem, VerdictRow

ORDER = (ReviewItem.priority.asc(), ReviewItem.score.desc(), ReviewItem.deadline_at.asc(),
         ReviewItem.created_at.asc(), ReviewItem.id.asc())
WAITING = ("queued", "claimed")
EARLIER_MAX = 5


class NoSuchItem(LookupError):
    """No review item of that id."""


@dataclass(frozen=True)
class QueueItem:
    """One review item as the queue page lists it (`passage_id` is the edge's id of the passage)."""

    id: int
    lane: str
    port: str
    passage_id: int
    plate: str
    containers: list[str]
    flagged: bool
    score: float
    priority: int
    deadline_at: float
    created_at: float
    state: str
    claimed_by: str | None
    lease_until: float | None


@dataclass(frozen=True)
class ItemDetail:
    """One item with its passage document, its verdicts, and earlier passes of the same vehicle."""

    item: QueueItem
    passage: dict[str, Any]
    verdicts: list[dict[str, Any]]
    earlier: list[dict[str, Any]]


def _queue_item(item: ReviewItem, passage: Passage, now: float | None = None) -> QueueItem:
    state, holder, lease = item.state, item.claimed_by, item.lease_until
    if now is not None and state == "claimed" and lease is not None and lease < now:
        state, holder = "queued", None  # the lease is past: anyone may claim it (lease_until says since when)
    return QueueItem(item.id, passage.lane, passage.port, passage.edge_passage_id, passage.plate,
                     json.loads(passage.containers), item.flagged, item.score, item.priority, item.deadline_at,
                     item.created_at, state, holder, lease)


def _joined():  # type: ignore[no-untyped-def]
    return select(ReviewItem, Passage).join(Passage, Passage.id == ReviewItem.passage_id)


def list_queue(s: Session, now: float) -> list[QueueItem]:
    """Items not yet decided, in queue order; an item whose lease is past shows as queued, unheld."""
    rows = s.execute(_joined().where(ReviewItem.state.in_(WAITING)).order_by(*ORDER))
    return [_queue_item(item, passage, now) for item, passage in rows]


def queue_depth(s: Session, now: float) -> tuple[int, float | None]:
    """How many items wait for a verdict, and the oldest one's age in seconds (None when none)."""
    count, oldest = s.execute(select(func.count(ReviewItem.id), func.min(ReviewItem.created_at))
                              .where(ReviewItem.state.in_(WAITING))).one()
    return int(count), (None if oldest is None else max(0.0, now - oldest))


def pending_rechecks(s: Session) -> list[QueueItem]:
    """Items waiting for a supervisor's re-check, oldest verdict first."""
    rows = s.execute(_joined().where(ReviewItem.state == "recheck")
                     .order_by(ReviewItem.decided_at.asc(), ReviewItem.id.asc()))
    return [_queue_item(item, passage) for item, passage in rows]


def _verdicts(s: Session, item_id: int) -> list[dict[str, Any]]:
    rows = s.scalars(select(VerdictRow).where(VerdictRow.item_id == item_id).order_by(VerdictRow.cursor))
    return [{"cursor": r.cursor, "verdict": r.verdict, "note": r.note, "reviewer": r.reviewer, "stage": r.stage,
             "decided_at": r.decided_at} for r in rows]


def _earlier(s: Session, passage: Passage) -> list[dict[str, Any]]:
    """Other passages sharing the plate or a container, newest first, at most EARLIER_MAX."""
    keys = s.execute(select(PassageKey.kind, PassageKey.value).where(PassageKey.passage_id == passage.id)).all()
    if not keys:
        return []
    matches = or_(*(and_(PassageKey.kind == kind, PassageKey.value == value) for kind, value in keys))
    others = select(PassageKey.passage_id).where(matches, PassageKey.passage_id != passage.id).distinct()
    rows = s.execute(select(Passage, ReviewItem.id).outerjoin(ReviewItem, ReviewItem.passage_id == Passage.id)
                     .where(Passage.id.in_(others)).order_by(Passage.arrived_at.desc(), Passage.id.desc())
                     .limit(EARLIER_MAX))
    return [{"item_id": item_id, "passage_id": other.edge_passage_id, "lane": other.lane,
             "arrived_at": other.arrived_at, "images": json.loads(other.doc_json).get("images", [])}
            for other, item_id in rows]


def item_detail(s: Session, item_id: int) -> ItemDetail:
    """One item in any state, with what a reviewer needs beside the images; NoSuchItem if none."""
    row = s.execute(_joined().where(ReviewItem.id == item_id)).first()
    if row is None:
        raise NoSuchItem(f"no review item {item_id}")
    item, passage = row
    return ItemDetail(_queue_item(item, passage), json.loads(passage.doc_json), _verdicts(s, item.id),
                      _earlier(s, passage))
