"""The bodies of the review routes (queue, claims, verdicts, re-checks), and their making from the store's.

Times are epoch seconds (floats), with the hub's `now` beside them, so a page can count down a
lease or a deadline against the hub's clock rather than its own.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contract.uplink import ImageWire, PassageUpload, Verdict
from hub.queue import Claim, ItemDetail, QueueItem
from hub.routes.errors import MAX_INT

ItemState = Literal["queued", "claimed", "decided", "recheck", "rechecked"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QueueItemOut(_Body):
    """One review item as the queue lists it."""

    id: int = Field(description="The review item's id (the {id} of /review/{id}).")
    lane: str
    port: str
    passage_id: int = Field(description="The edge's id of the passage, unique within its lane.")
    plate: str
    containers: list[str]
    flagged: bool = Field(description="A reason of the lane's decision holds the vehicle.")
    score: float = Field(description="The highest image score of the model (0 when none ran).")
    priority: int = Field(description="0 for flagged, 1 for not: the queue's first key.")
    deadline_at: float = Field(description="When it should be decided (epoch s).")
    created_at: float = Field(description="When the item was made (epoch s).")
    state: ItemState
    claimed_by: str | None = Field(description="Who holds it, when claimed.")
    lease_until: float | None = Field(description="Until when the holder's lease lasts (epoch s), when claimed.")


class QueuePage(_Body):
    """Items not yet decided, in queue order, with the queue's depth and oldest age."""

    items: list[QueueItemOut]
    depth: int = Field(description="How many items wait (queued or claimed).")
    oldest_age_s: float | None = Field(description="Age of the oldest waiting item in seconds; null when none.")
    now: float = Field(description="The hub's clock (epoch s).")


class RecheckPage(_Body):
    """Items waiting for a supervisor's re-check, oldest verdict first."""

    items: list[QueueItemOut]
    now: float = Field(description="The hub's clock (epoch s).")


class ClaimOut(_Body):
    """A hold on an item: send `fence` back with renew, release and verdict."""

    item_id: int
    fence: int = Field(description="The fencing token of this claim.")
    lease_until: float = Field(description="The lease lasts until then (epoch s) unless renewed.")
    lease_s: float = Field(description="How long each renewal extends it.")


class FenceBody(_Body):
    """The fence of the caller's claim."""

    fence: int = Field(ge=0, le=MAX_INT, description="As the claim gave it.")


class VerdictBody(_Body):
    """A reviewer's verdict on the item they hold."""

    fence: int = Field(ge=0, le=MAX_INT, description="As the claim gave it.")
    verdict: Verdict
    note: str = Field("", max_length=2000, description="What was seen; required for suspicious.")


class VerdictDone(_Body):
    """The verdict went on the lane's feed at `cursor`."""

    cursor: int


class RecheckBody(_Body):
    """A supervisor's re-check: the same verdict confirms it, the other overturns it."""

    verdict: Verdict
    note: str = Field("", max_length=2000, description="Why; required for suspicious.")


class RecheckDone(_Body):
    """The re-check's outcome; an overturn went on the lane's feed at `cursor`."""

    outcome: Literal["confirmed", "overturned"]
    cursor: int | None = Field(description="The new verdict's cursor when overturned, else null.")


class VerdictOut(_Body):
    """A verdict given on the item."""

    cursor: int
    verdict: Verdict
    note: str
    reviewer: str
    stage: Literal["review", "recheck"]
    decided_at: float = Field(description="Epoch s.")


class EarlierPass(_Body):
    """Another passage of the same plate or a shared container."""

    item_id: int | None = Field(description="Its review item, if it had one.")
    passage_id: int
    lane: str
    arrived_at: float = Field(description="Epoch s.")
    images: list[ImageWire]


class ItemDetailOut(_Body):
    """One item: its queue entry, the passage document as the edge sent it, verdicts, earlier passes."""

    item: QueueItemOut
    passage: PassageUpload
    verdicts: list[VerdictOut]
    earlier: list[EarlierPass] = Field(description="Newest first, at most 5.")
    now: float = Field(description="The hub's clock (epoch s).")


def item_out(item: QueueItem) -> QueueItemOut:
    return QueueItemOut(id=item.id, lane=item.lane, port=item.port, passage_id=item.passage_id, plate=item.plate,
                        containers=list(item.containers), flagged=item.flagged, score=item.score,
                        priority=item.priority, deadline_at=item.deadline_at, created_at=item.created_at,
                        state=item.state, claimed_by=item.claimed_by, lease_until=item.lease_until)  # type: ignore[arg-type]


def claim_out(claim: Claim) -> ClaimOut:
    return ClaimOut(item_id=claim.item_id, fence=claim.fence, lease_until=claim.lease_until, lease_s=claim.lease_s)


def detail_out(detail: ItemDetail, now: float) -> ItemDetailOut:
    return ItemDetailOut(item=item_out(detail.item), passage=PassageUpload.model_validate(detail.passage),
                         verdicts=[VerdictOut.model_validate(v) for v in detail.verdicts],
                         earlier=[EarlierPass.model_validate(e) for e in detail.earlier], now=now)
