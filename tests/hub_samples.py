"""Sample edges and passage documents for the hub's store tests."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from sqlalchemy.orm import Session

from contract.uplink import ImageWire, PassageAck, PassageUpload, ReasonWire, canonical_sha256
from hub import accounts, ingest
from hub.accounts import EdgeInfo
from hub.db.engine import Database

T0 = 1_700_000_000.0
POLICY = ingest.ReviewPolicy()


def image_sha(tag: str) -> str:
    return hashlib.sha256(tag.encode()).hexdigest()


def passage(lane: str, passage_id: int, revision: int = 1, *, refer: bool = True, flagged: bool = False,
            score: float | None = None, images: int = 1, plate: str = "", containers: tuple[str, ...] = (),
            arrived_at: float = T0, decided_at: float | None = None, state: str = "flagged",
            acted_by: str = "") -> PassageUpload:
    """A passage document of `lane` with `images` images (tagged by lane, id and index)."""
    reasons = [ReasonWire(code="foreign_object", words="something under the truck", holds=True)] if flagged else []
    return PassageUpload(
        lane=lane, passage_id=passage_id, revision=revision, state=state, plate=plate,  # type: ignore[arg-type]
        containers=list(containers), arrived_at=datetime.fromtimestamp(arrived_at, timezone.utc),
        decided_at=None if decided_at is None else datetime.fromtimestamp(decided_at, timezone.utc),
        acted_by=acted_by, refer=refer, reasons=reasons,
        images=[ImageWire(sha256=image_sha(f"{lane}/{passage_id}/{n}"), media_type="image/png", size=100,
                          device_id="uv1", kind="under_vehicle", score=score) for n in range(images)])


def add_edge(db: Database, name: str = "edge-a", lane: str = "lane-1", port: str = "port-n") -> EdgeInfo:
    with db.session() as s:
        edge, _token = accounts.add_edge(s, name, lane, port, actor="admin", now=T0)
    return edge


def hold_images(s: Session, edge: EdgeInfo, upload: PassageUpload, now: float = T0) -> None:
    for image in upload.images:
        ingest.record_blob(s, image.sha256, image.size, image.media_type, 10, 10, 8, 1, edge, now)


def store(db: Database, edge: EdgeInfo, upload: PassageUpload, now: float = T0,
          policy: ingest.ReviewPolicy = POLICY) -> PassageAck:
    """Hold the document's images and record it, in one transaction."""
    with db.session() as s:
        hold_images(s, edge, upload, now)
        return ingest.record_passage(s, edge, upload, canonical_sha256(upload), now, policy)
