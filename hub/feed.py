"""The verdict feed of one lane: its verdicts after a cursor, in cursor order (what the edge polls)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from contract.uplink import VerdictWire
from hub.db.models import VerdictRow

MAX_LIMIT = 1000


def verdicts_after(s: Session, lane: str, after: int, limit: int = 100) -> list[VerdictWire]:
    """The lane's verdicts with a cursor above `after`, oldest first, at most `limit` (1 to MAX_LIMIT)."""
    rows = s.scalars(select(VerdictRow).where(VerdictRow.lane == lane, VerdictRow.cursor > after)
                     .order_by(VerdictRow.cursor).limit(max(1, min(limit, MAX_LIMIT))))
    return [VerdictWire(cursor=r.cursor, lane=r.lane, passage_id=r.edge_passage_id, verdict=r.verdict,  # type: ignore[arg-type]
                        note=r.note, reviewer=r.reviewer, stage=r.stage,  # type: ignore[arg-type]
                        decided_at=datetime.fromtimestamp(r.decided_at, timezone.utc))
            for r in rows]
