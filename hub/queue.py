"""The review queue: claims as leases with fencing tokens, verdicts, supervisors' re-checks.

An item is claimable when `queued`, or `claimed` with its lease past. A claim increments the
item's `fence`; renew, release and verdict must carry the current fence from the current
holder, so a reviewer whose lease was taken over cannot decide over the new holder. On
PostgreSQL the next item is picked `FOR UPDATE SKIP LOCKED`; on SQLite the transaction's
`BEGIN IMMEDIATE` already serialises writers, so the same select-then-update is atomic.
The reading side (list, depth, detail) is hub/queue_view.py, re-exported here.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass

from prometheus_client import Counter
from sqlalchemy import and_, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hub import audit
from hub.db.engine import is_postgres
from hub.db.models import HubSecret, Passage, ReviewItem, VerdictRow
from hub.ingest import ReviewPolicy
from hub.queue_view import (ORDER, ItemDetail, NoSuchItem, QueueItem, item_detail, list_queue,
                            pending_rechecks, queue_depth)

__all__ = ["VERDICTS", "Claim", "ItemDetail", "NoSuchItem", "NotAllowed", "QueueItem", "StaleClaim", "claim_item",
           "claim_next", "decide", "item_detail", "list_queue", "pending_rechecks", "queue_depth", "recheck",
           "recheck_chosen", "recheck_seed", "release", "renew"]

log = logging.getLogger(__name__)

VERDICTS = ("clear", "suspicious")
MAX_NOTE = 2000  # contract.uplink.VerdictWire.note

CLAIMS = Counter("kouan_hub_claims_total", "Review claims, by kind (fresh, takeover of an expired lease).", ["kind"])
STALE = Counter("kouan_hub_stale_claims_total", "Renewals, releases and verdicts refused as stale, by action.",
                ["action"])
DECIDED = Counter("kouan_hub_verdicts_total", "Verdicts written, by stage and verdict.", ["stage", "verdict"])


class StaleClaim(Exception):
    """The fence is not the item's current one, the caller does not hold it, or it is not claimed."""


class NotAllowed(Exception):
    """The item is not in a state that allows this (held by another, not waiting for a re-check, ...)."""


@dataclass(frozen=True)
class Claim:
    """A reviewer's hold on an item: the fence to send back, and until when it holds without renewal."""

    item_id: int
    fence: int
    lease_until: float
    lease_s: float


RECHECK_SEED = "recheck_seed"  # hub_secrets.name


def recheck_seed(s: Session) -> bytes:
    """This hub database's secret seed of the re-check sample (hub_secrets, migration 0004).

    The migration makes it; should the row be missing it is made here, once: concurrent first
    uses insert-or-ignore and all read back the one row that stayed.
    """
    value = s.scalar(select(HubSecret.value).where(HubSecret.name == RECHECK_SEED))
    if value is None:
        insert = pg_insert if is_postgres(s) else sqlite_insert
        s.execute(insert(HubSecret).values(name=RECHECK_SEED, value=secrets.token_bytes(32).hex(),
                                           created_at=time.time()).on_conflict_do_nothing())
        value = s.scalar(select(HubSecret.value).where(HubSecret.name == RECHECK_SEED))
        assert value is not None
        log.warning("hub_secrets had no %s: made one", RECHECK_SEED)
    return bytes.fromhex(value)


def recheck_chosen(seed: bytes, item_id: int, share: float) -> bool:
    """Whether a clear verdict on `item_id` goes to re-check: HMAC-SHA256 of the id under this
    database's secret `seed` (`recheck_seed`), as a uniform fraction in [0, 1) below `share`.

    The same database always makes the same choice (reproducible across restarts), each clear
    verdict is chosen with probability `share`, and without the seed no one can tell which.
    """
    digest = hmac.new(seed, str(item_id).encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def _check_verdict(verdict: str, note: str) -> None:
    if verdict not in VERDICTS:
        raise ValueError(f"a verdict is clear or suspicious (not {verdict!r})")
    if verdict == "suspicious" and not note.strip():
        raise ValueError("a suspicious verdict needs a note saying what was seen")
    if len(note) > MAX_NOTE:
        raise ValueError(f"a note has at most {MAX_NOTE} characters")


def _locked(s: Session, item_id: int) -> ReviewItem:
    item = s.scalars(select(ReviewItem).where(ReviewItem.id == item_id).with_for_update()
                     .execution_options(populate_existing=True)).first()
    if item is None:
        raise NoSuchItem(f"no review item {item_id}")
    return item


def _held(item: ReviewItem, fence: int, user: str, action: str) -> None:
    """StaleClaim unless `user` holds `item` under `fence` (a lease past but not taken over still holds)."""
    if item.state != "claimed":
        reason = f"item {item.id} is {item.state}, not claimed"
    elif item.claimed_by != user:
        reason = f"item {item.id} is held by {item.claimed_by}"
    elif item.fence != fence:
        reason = f"item {item.id}'s claim {fence} is stale (now {item.fence})"
    else:
        return
    STALE.labels(action).inc()
    raise StaleClaim(reason)


def _expired_holder(item: ReviewItem, now: float) -> str | None:
    """Who held `item` under a lease now past (a claim of it is a take-over), else None."""
    if item.state == "claimed" and item.lease_until is not None and item.lease_until < now:
        return item.claimed_by
    return None


def _take(s: Session, item: ReviewItem, user: str, now: float, policy: ReviewPolicy) -> Claim:
    previous, previous_lease = _expired_holder(item, now), item.lease_until
    item.fence += 1
    item.state, item.claimed_by, item.claimed_at = "claimed", user, now
    item.lease_until = now + policy.lease_s
    subject = f"item:{item.id}"
    audit.append(s, user, "claim", subject, {"fence": item.fence, "lease_until": item.lease_until}, now)
    if previous is not None:
        audit.append(s, user, "lease_expired_takeover", subject,
                     {"previous": previous, "previous_lease_until": previous_lease, "fence": item.fence}, now)
        log.info("item %s: lease of %s expired, taken over by %s (fence %s)", item.id, previous, user, item.fence)
    CLAIMS.labels("takeover" if previous is not None else "fresh").inc()
    return Claim(item.id, item.fence, item.lease_until, policy.lease_s)


def claim_next(s: Session, user: str, now: float, policy: ReviewPolicy) -> Claim | None:
    """Claim the first claimable item by priority; None when there is none."""
    query = (select(ReviewItem)
             .where(or_(ReviewItem.state == "queued",
                        and_(ReviewItem.state == "claimed", ReviewItem.lease_until < now)))
             .order_by(*ORDER).limit(1).execution_options(populate_existing=True))
    if is_postgres(s):
        query = query.with_for_update(skip_locked=True)
    item = s.scalars(query).first()
    return None if item is None else _take(s, item, user, now, policy)


def claim_item(s: Session, item_id: int, user: str, now: float, policy: ReviewPolicy) -> Claim:
    """Claim a chosen item if it is queued, its lease is past, or the caller holds it (a new fence:
    the caller's older page becomes stale); NotAllowed if another holds it or it is decided."""
    item = _locked(s, item_id)
    free = item.state == "queued" or (item.state == "claimed" and (
        item.claimed_by == user or _expired_holder(item, now) is not None))
    if not free:
        held = f"held by {item.claimed_by} until {item.lease_until:.0f}" if item.state == "claimed" else item.state
        raise NotAllowed(f"item {item_id} is {held}")
    return _take(s, item, user, now, policy)


def renew(s: Session, item_id: int, fence: int, user: str, now: float, policy: ReviewPolicy) -> Claim:
    """Extend the caller's lease by `lease_s` from now; StaleClaim if it is no longer theirs."""
    item = _locked(s, item_id)
    _held(item, fence, user, "renew")
    item.lease_until = now + policy.lease_s
    return Claim(item.id, item.fence, item.lease_until, policy.lease_s)


def release(s: Session, item_id: int, fence: int, user: str, now: float) -> None:
    """Give the item back to the queue undecided; StaleClaim if it is no longer the caller's."""
    item = _locked(s, item_id)
    _held(item, fence, user, "release")
    item.state, item.claimed_by, item.claimed_at, item.lease_until = "queued", None, None, None
    audit.append(s, user, "release", f"item:{item.id}", {"fence": fence}, now)


def _write_verdict(s: Session, item: ReviewItem, verdict: str, note: str, reviewer: str, stage: str,
                   now: float) -> int:
    """A verdicts row for the item's lane; its cursor. The chain's lock first keeps cursors in commit order."""
    audit.lock_chain(s)
    passage = s.get(Passage, item.passage_id)
    assert passage is not None  # a foreign key
    row = VerdictRow(item_id=item.id, lane=passage.lane, edge_passage_id=passage.edge_passage_id, verdict=verdict,
                     note=note, reviewer=reviewer, stage=stage, decided_at=now)
    s.add(row)
    s.flush()
    DECIDED.labels(stage, verdict).inc()
    return row.cursor


def decide(s: Session, item_id: int, fence: int, user: str, verdict: str, note: str, now: float,
           policy: ReviewPolicy) -> int:
    """The holder's verdict under the current fence; the verdict's cursor on the lane's feed.

    Every suspicious verdict, and `recheck_share` of the clear ones, go on to a supervisor.
    """
    _check_verdict(verdict, note)
    item = _locked(s, item_id)
    _held(item, fence, user, "verdict")
    to_recheck = verdict == "suspicious" or recheck_chosen(recheck_seed(s), item.id, policy.recheck_share)
    item.verdict, item.note, item.decided_by, item.decided_at = verdict, note, user, now
    item.review_s = now - item.claimed_at if item.claimed_at is not None else None
    item.state, item.lease_until = ("recheck" if to_recheck else "decided"), None
    cursor = _write_verdict(s, item, verdict, note, user, "review", now)
    audit.append(s, user, "verdict", f"item:{item.id}", {"verdict": verdict, "note": note, "fence": fence,
                                                          "cursor": cursor, "recheck": to_recheck}, now)
    log.info("item %s: %s by %s (cursor %s%s)", item.id, verdict, user, cursor, ", to re-check" if to_recheck else "")
    return cursor


def recheck(s: Session, item_id: int, supervisor: str, verdict: str, note: str, now: float) -> int | None:
    """A supervisor's re-check: confirm (None) or overturn (a new verdict for the lane: its cursor).

    NotAllowed unless the item waits for a re-check, or when the supervisor gave its verdict
    (a re-check is a second person's look).
    """
    _check_verdict(verdict, note)
    item = _locked(s, item_id)
    if item.state != "recheck":
        raise NotAllowed(f"item {item_id} is {item.state}, not waiting for a re-check")
    if item.decided_by == supervisor:
        raise NotAllowed(f"item {item_id} was decided by {supervisor}: another supervisor re-checks it")
    confirmed = verdict == item.verdict
    item.state, item.rechecked_by, item.rechecked_at = "rechecked", supervisor, now
    item.recheck_verdict, item.recheck_note = verdict, note
    cursor = None if confirmed else _write_verdict(s, item, verdict, note, supervisor, "recheck", now)
    audit.append(s, supervisor, "recheck", f"item:{item.id}", {
        "verdict": verdict, "note": note, "previous": item.verdict, "outcome": "confirm" if confirmed else "overturn",
        "cursor": cursor}, now)
    log.info("item %s re-checked by %s: %s", item.id, supervisor, "confirmed" if confirmed else f"overturned to {verdict}")
    return cursor
