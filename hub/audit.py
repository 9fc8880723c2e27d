"""The hub's append-only, hash-chained audit log, and its check.

Entry n's `sha256` is SHA-256(entry n-1's `sha256` + the canonical JSON of {id, at, actor,
action, subject, detail}), the first entry's prev being "0"*64, and ids run 1, 2, 3, ... with no
gap (assigned from the head, not from a sequence a rolled-back transaction would skip). So an
entry altered, deleted or inserted afterwards shows in `verify`. Writers serialise on the head:
`pg_advisory_xact_lock` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite. Nothing here updates or
deletes an entry. An append is the last thing a transaction does, after its own row locks, so
the chain's lock is never held while waiting for another row.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from hub.db.engine import is_postgres
from hub.db.models import AuditEntry

log = logging.getLogger(__name__)

GENESIS = "0" * 64
CHAIN_LOCK = 0x4B4F55414E02  # pg_advisory_xact_lock key of the chain's head
_BATCH = 1000

APPENDED = Counter("kouan_hub_audit_entries_total", "Audit log entries appended, by action.", ["action"])


@dataclass(frozen=True)
class AuditReport:
    """What `verify` found: ok, how many entries it read, and the first bad one with why."""

    ok: bool
    entries: int
    first_bad_id: int | None
    reason: str


@dataclass(frozen=True)
class AuditRecord:
    """One entry as the admin's page shows it."""

    id: int
    at: float
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]
    sha256: str


def canonical(entry_id: int, at: float, actor: str, action: str, subject: str, detail: dict[str, Any]) -> bytes:
    """The bytes an entry's hash covers: sorted keys, no spaces, UTF-8."""
    body = {"id": entry_id, "at": at, "actor": actor, "action": action, "subject": subject, "detail": detail}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def entry_sha256(prev_sha256: str, body: bytes) -> str:
    return hashlib.sha256(prev_sha256.encode() + body).hexdigest()


def lock_chain(s: Session) -> None:
    """Take the chain's lock for the rest of the transaction (PostgreSQL; SQLite holds its write lock).

    Also what keeps the verdict feed's cursors in commit order: a verdict row is inserted
    after this, in a transaction that appends to the chain before it commits.
    """
    s.flush()
    if is_postgres(s):
        s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK})


def append(s: Session, actor: str, action: str, subject: str, detail: dict[str, Any],
           now: float | None = None) -> int:
    """Append one entry in the caller's transaction; its id. ValueError if `detail` is not JSON."""
    at = time.time() if now is None else float(now)
    try:
        detail_json = json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                                 allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"audit detail of {action} on {subject} is not JSON: {exc}") from None
    lock_chain(s)
    head = s.execute(select(AuditEntry.id, AuditEntry.sha256).order_by(AuditEntry.id.desc()).limit(1)).first()
    entry_id, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    body = canonical(entry_id, at, actor, action, subject, json.loads(detail_json))
    s.add(AuditEntry(id=entry_id, at=at, actor=actor, action=action, subject=subject, detail_json=detail_json,
                     prev_sha256=prev, sha256=entry_sha256(prev, body)))
    s.flush()
    APPENDED.labels(action).inc()
    log.debug("audit %s: %s %s %s", entry_id, actor, action, subject)
    return entry_id


def _entries(s: Session) -> Iterator[AuditEntry]:
    after = 0
    while True:
        batch = s.scalars(select(AuditEntry).where(AuditEntry.id > after).order_by(AuditEntry.id).limit(_BATCH)).all()
        if not batch:
            return
        yield from batch
        after = batch[-1].id


def _fault(entry: AuditEntry, expected_id: int, prev: str) -> str | None:
    """Why `entry` does not belong where it stands in the chain, or None."""
    if entry.id != expected_id:
        if entry.id > expected_id:
            missing = f"entry {expected_id}" if entry.id == expected_id + 1 else f"entries {expected_id}-{entry.id - 1}"
            return f"entry {entry.id} follows entry {expected_id - 1}: {missing} missing (deleted)"
        return f"entry {entry.id} is out of sequence (expected {expected_id})"
    if entry.prev_sha256 != prev:
        return f"entry {entry.id} does not link to the previous entry's hash"
    try:
        detail = json.loads(entry.detail_json)
    except ValueError:
        return f"entry {entry.id}'s detail is not JSON"
    body = canonical(entry.id, entry.at, entry.actor, entry.action, entry.subject, detail)
    if entry_sha256(entry.prev_sha256, body) != entry.sha256:
        return f"entry {entry.id}'s hash does not match its content (altered)"
    return None


def verify(s: Session) -> AuditReport:
    """Recompute the chain from the first entry; the first entry altered, out of place or after a gap.

    A deletion of the newest entries leaves a shorter chain that checks; the entry count in the
    report (and the newest hash, kept elsewhere) is what shows that.
    """
    expected_id, prev, count = 1, GENESIS, 0
    for entry in _entries(s):
        count += 1
        fault = _fault(entry, expected_id, prev)
        if fault is not None:
            log.warning("audit log check failed: %s", fault)
            return AuditReport(False, count, entry.id, fault)
        expected_id, prev = entry.id + 1, entry.sha256
    return AuditReport(True, count, None, f"{count} entries, chain intact")


def page(s: Session, before: int | None = None, limit: int = 100) -> list[AuditRecord]:
    """Entries newest first, those with id < `before` when given (the admin's page, by keyset)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(max(1, min(limit, 1000)))
    if before is not None:
        query = query.where(AuditEntry.id < before)
    return [AuditRecord(e.id, e.at, e.actor, e.action, e.subject, _detail(e.detail_json), e.sha256)
            for e in s.scalars(query)]


def _detail(detail_json: str) -> dict[str, Any]:
    """An entry's detail, or the raw text under "unreadable" when someone broke it (verify says so)."""
    try:
        detail = json.loads(detail_json)
    except ValueError:
        return {"unreadable": detail_json}
    return detail if isinstance(detail, dict) else {"value": detail}
