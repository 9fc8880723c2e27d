"""What the hub records as an edge uploads: blobs (images held whole), passage documents, review items.

Both are idempotent by hash: an image by the SHA-256 of its bytes, a passage document by the
SHA-256 of its canonical JSON (`contract.uplink.canonical_sha256`). An image is held for the
lanes whose edges uploaded it (`blob_holders`); a passage may name only images its lane holds.
A passage is kept at its newest revision; every accepted document is kept in passage_docs. A
referred passage with images gets one review item, made when its first such document arrives.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from prometheus_client import Counter
from sqlalchemy import Select, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from contract.uplink import PassageAck, PassageUpload
from hub.accounts import EdgeInfo
from hub.db.engine import is_postgres
from hub.db.models import Blob, BlobHolder, Passage, PassageDoc, PassageKey, ReviewItem

log = logging.getLogger(__name__)

PASSAGES = Counter("kouan_hub_passage_documents_total", "Passage documents received, by outcome.", ["status"])
REVIEW_ITEMS = Counter("kouan_hub_review_items_made_total", "Review items made, by whether flagged.", ["flagged"])
_IN_CHUNK = 500


class WrongLane(ValueError):
    """A passage of another lane than the edge's token is for."""


@dataclass(frozen=True)
class ReviewPolicy:
    """The review queue's timings and re-check share (`[review]` of the hub's config)."""

    lease_s: float = 60.0
    deadline_s: float = 3600.0
    deadline_flagged_s: float = 600.0
    recheck_share: float = 0.1


def epoch(moment: datetime) -> float:
    """Epoch seconds of a wire datetime (one without a zone is taken as UTC)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _insert(s: Session):  # type: ignore[no-untyped-def]
    return postgresql.insert if is_postgres(s) else sqlite.insert


# ---------------------------------------------------------------- blobs


def record_blob(s: Session, sha256: str, size: int, media_type: str, width: int | None, height: int | None,
                bits: int | None, planes: int | None, edge: EdgeInfo, now: float) -> bool:
    """Note an image the hub now holds whole, for `edge`'s lane; True if the blob is new.

    Recording it again changes nothing; recording it from another lane's edge adds that lane as a holder.
    """
    statement = _insert(s)(Blob).values(
        sha256=sha256, size=size, media_type=media_type, width=width, height=height, bits=bits, planes=planes,
        edge_id=edge.id, stored_at=now).on_conflict_do_nothing(index_elements=["sha256"]).returning(Blob.sha256)
    fresh = s.execute(statement).first() is not None
    holder = _insert(s)(BlobHolder).values(sha256=sha256, lane=edge.lane, edge_id=edge.id, held_at=now) \
        .on_conflict_do_nothing(index_elements=["sha256", "lane"]).returning(BlobHolder.sha256)
    added = s.execute(holder).first() is not None
    if fresh:
        log.info("blob %s (%s, %s bytes) from edge %s", sha256, media_type, size, edge.name)
    elif added:
        log.info("blob %s now held for lane %s too (uploaded again by edge %s)", sha256, edge.lane, edge.name)
    return fresh


def held_blobs(s: Session, shas: list[str]) -> set[str]:
    """Which of `shas` the hub keeps whole, for any lane: the store's view, never an answer to an edge."""
    return _in_chunks(s, shas, lambda chunk: select(Blob.sha256).where(Blob.sha256.in_(chunk)))


def held_for_lane(s: Session, shas: list[str], lane: str) -> set[str]:
    """Which of `shas` the hub holds whole for `lane` (an edge of the lane uploaded them)."""
    return _in_chunks(s, shas, lambda chunk: select(BlobHolder.sha256).where(BlobHolder.lane == lane,
                                                                             BlobHolder.sha256.in_(chunk)))


def _in_chunks(s: Session, shas: list[str], query: Callable[[list[str]], Select[tuple[str]]]) -> set[str]:
    wanted = sorted(set(shas))
    found: set[str] = set()
    for start in range(0, len(wanted), _IN_CHUNK):
        found.update(s.scalars(query(wanted[start:start + _IN_CHUNK])))
    return found


# ---------------------------------------------------------------- passages


def _flagged(upload: PassageUpload) -> bool:
    return any(reason.holds for reason in upload.reasons)


def _score(upload: PassageUpload) -> float:
    return max((image.score for image in upload.images if image.score is not None), default=0.0)


def _columns(edge: EdgeInfo, upload: PassageUpload, sha256: str, now: float) -> dict[str, object]:
    return {
        "lane": upload.lane, "edge_passage_id": upload.passage_id, "port": edge.port, "edge_id": edge.id,
        "revision": upload.revision, "doc_sha256": sha256, "doc_json": upload.model_dump_json(),
        "state": upload.state, "plate": upload.plate, "containers": json.dumps(upload.containers),
        "flagged": _flagged(upload), "score": _score(upload), "acted_by": upload.acted_by,
        "arrived_at": epoch(upload.arrived_at),
        "decided_at": epoch(upload.decided_at) if upload.decided_at else None, "received_at": now,
    }


def _set_keys(s: Session, passage_id: int, upload: PassageUpload) -> None:
    s.execute(delete(PassageKey).where(PassageKey.passage_id == passage_id))
    keys = {("plate", upload.plate)} if upload.plate else set()
    keys.update(("container", number) for number in upload.containers if number)
    s.add_all(PassageKey(passage_id=passage_id, kind=kind, value=value) for kind, value in sorted(keys))


def _item_of(s: Session, passage_id: int) -> int | None:
    return s.scalar(select(ReviewItem.id).where(ReviewItem.passage_id == passage_id))


def _make_item(s: Session, passage_id: int, upload: PassageUpload, now: float, review: ReviewPolicy) -> int:
    flagged = _flagged(upload)
    item = ReviewItem(
        passage_id=passage_id, flagged=flagged, score=_score(upload), priority=0 if flagged else 1,
        deadline_at=now + (review.deadline_flagged_s if flagged else review.deadline_s), created_at=now,
        state="queued", fence=0)
    s.add(item)
    s.flush()
    REVIEW_ITEMS.labels("yes" if flagged else "no").inc()
    log.info("review item %s for passage %s/%s (flagged %s, score %.3f)", item.id, upload.lane,
             upload.passage_id, flagged, item.score)
    return item.id


def _ack(sha256: str, status: str, item_id: int | None) -> PassageAck:
    PASSAGES.labels(status).inc()
    return PassageAck(sha256=sha256, status=status, review_item=item_id)  # type: ignore[arg-type]


def record_passage(s: Session, edge: EdgeInfo, upload: PassageUpload, sha256: str, now: float,
                   review: ReviewPolicy) -> PassageAck:
    """Accept one passage document (its images already held); "stored", "duplicate" or "superseded".

    The passage's row is inserted if absent (a concurrent first upload of the same passage waits
    on the unique key) and then locked, so two revisions arriving together are ordered.
    """
    if upload.lane != edge.lane:
        raise WrongLane(f"edge {edge.name} uploads for lane {edge.lane}, not {upload.lane}")
    known = s.get(PassageDoc, sha256)
    if known is not None:
        return _ack(sha256, "duplicate", _item_of(s, known.passage_id))
    columns = _columns(edge, upload, sha256, now)
    inserted = s.execute(_insert(s)(Passage).values(**columns).on_conflict_do_nothing(
        index_elements=["lane", "edge_passage_id"]).returning(Passage.id)).first() is not None
    passage = s.scalars(select(Passage).where(Passage.lane == upload.lane,
                                              Passage.edge_passage_id == upload.passage_id)
                        .with_for_update().execution_options(populate_existing=True)).one()
    if not inserted:
        if s.get(PassageDoc, sha256, populate_existing=True) is not None:
            return _ack(sha256, "duplicate", _item_of(s, passage.id))
        if upload.revision <= passage.revision:
            log.info("passage %s/%s revision %s superseded by held revision %s", upload.lane,
                     upload.passage_id, upload.revision, passage.revision)
            return _ack(sha256, "superseded", _item_of(s, passage.id))
        for name, value in columns.items():
            setattr(passage, name, value)
    s.add(PassageDoc(sha256=sha256, passage_id=passage.id, revision=upload.revision, received_at=now))
    _set_keys(s, passage.id, upload)
    item_id = _item_of(s, passage.id)
    if item_id is None and upload.refer and upload.images:
        item_id = _make_item(s, passage.id, upload, now, review)
    s.flush()
    return _ack(sha256, "stored", item_id)
