"""The hash-chained audit log: entries link, and verify names an altered, a deleted or a relinked entry."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest
from sqlalchemy import select, text

from hub import audit
from hub.db.engine import Database
from hub.db.models import AuditEntry
from tests.hub_db import hub_db  # noqa: F401  (fixture)

T0 = 1_700_000_000.0


def _fill(db: Database, n: int) -> list[int]:
    with db.session() as s:
        return [audit.append(s, f"user{i % 3}", "claim", f"item:{i}", {"fence": i, "note": "ü"}, T0 + i / 7)
                for i in range(n)]


def test_chain_links_each_entry_to_the_one_before(hub_db: Database) -> None:
    assert _fill(hub_db, 5) == [1, 2, 3, 4, 5]
    with hub_db.read_session() as s:
        entries = s.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        report = audit.verify(s)
    assert report == audit.AuditReport(True, 5, None, "5 entries, chain intact")
    prev = "0" * 64
    for entry in entries:
        body = {"id": entry.id, "at": entry.at, "actor": entry.actor, "action": entry.action,
                "subject": entry.subject, "detail": json.loads(entry.detail_json)}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert entry.prev_sha256 == prev
        assert entry.sha256 == hashlib.sha256(prev.encode() + canonical).hexdigest()
        prev = entry.sha256


def test_empty_log_verifies(hub_db: Database) -> None:
    with hub_db.read_session() as s:
        assert audit.verify(s) == audit.AuditReport(True, 0, None, "0 entries, chain intact")


def test_verify_names_an_altered_entry(hub_db: Database) -> None:
    _fill(hub_db, 6)
    with hub_db.engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET detail_json = :d WHERE id = 4"), {"d": '{"fence":99}'})
    with hub_db.read_session() as s:
        report = audit.verify(s)
    assert (report.ok, report.first_bad_id) == (False, 4)
    assert "altered" in report.reason


def test_verify_names_a_deleted_entry(hub_db: Database) -> None:
    _fill(hub_db, 6)
    with hub_db.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE id = 3"))
    with hub_db.read_session() as s:
        report = audit.verify(s)
    assert (report.ok, report.first_bad_id) == (False, 4)
    assert "entry 3 missing" in report.reason


def test_verify_names_a_rehashed_entry_by_its_broken_link(hub_db: Database) -> None:
    """Recomputing an altered entry's own hash still breaks the next entry's link."""
    _fill(hub_db, 4)
    with hub_db.session() as s:
        entry = s.get(AuditEntry, 2)
        assert entry is not None
        detail = {"fence": 42}
        body = audit.canonical(entry.id, entry.at, entry.actor, entry.action, entry.subject, detail)
        s.execute(text("UPDATE audit_log SET detail_json = :d, sha256 = :h WHERE id = 2"),
                  {"d": json.dumps(detail), "h": audit.entry_sha256(entry.prev_sha256, body)})
    with hub_db.read_session() as s:
        report = audit.verify(s)
    assert (report.ok, report.first_bad_id) == (False, 3)
    assert "does not link" in report.reason


def test_detail_must_be_json(hub_db: Database) -> None:
    with pytest.raises(ValueError, match="not JSON"), hub_db.session() as s:
        audit.append(s, "root", "x", "y", {"when": object()})


def test_concurrent_appends_keep_one_chain(hub_db: Database) -> None:
    """8 writers at once: ids 1..n without a gap or a fork (the head is locked while read)."""
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(5):
                with hub_db.session() as s:
                    audit.append(s, f"w{n}", "claim", f"item:{n}.{i}", {}, T0)
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with hub_db.read_session() as s:
        assert audit.verify(s) == audit.AuditReport(True, 40, None, "40 entries, chain intact")
        assert [r.id for r in audit.page(s, before=4, limit=2)] == [3, 2]
