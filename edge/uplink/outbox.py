"""The outbox: what the hub has not confirmed yet, in the lane's own store.

`Outbox.enqueue_passages` runs inside the transaction that changed the passages (a reading, a
deadline, an officer's action, a declaration, a verdict), so a passage change and its place in the
outbox are stored together or not at all. Each decided passage becomes one `passage` row holding
the document of its newest revision (a newer revision replaces a pending older one, `created_at`
kept), and each of its images not yet queued or confirmed a `blob` row. A row leaves the outbox
only when the hub confirmed it (`confirm_*`), or is moved to `outbox_refused` with the hub's
reason (`refuse`); failures in between keep it with its `attempts` and `next_at` (`retry`).

The other functions are the worker's, each run as one store transaction (`Store.transact`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from contract.uplink import BlobCreate, PassageUpload, canonical_json
from edge.media import MediaStore
from edge.store import Txn
from edge.uplink.document import DocumentError, build_upload

log = logging.getLogger(__name__)

_COLUMNS = "id, kind, key, passage_id, revision, doc_json, created_at, attempts, next_at, last_error"
CURSOR_KEY = "verdict_cursor"


@dataclass(frozen=True)
class OutboxRow:
    """One item waiting for the hub."""

    id: int
    kind: str  # blob | passage
    key: str  # a blob's SHA-256, a passage's id
    passage_id: int
    revision: int
    doc_json: str  # BlobCreate for a blob, PassageUpload (canonical JSON) for a passage
    created_at: float
    attempts: int
    next_at: float
    last_error: str

    def blob(self) -> BlobCreate:
        return BlobCreate.model_validate_json(self.doc_json)

    def passage(self) -> PassageUpload:
        return PassageUpload.model_validate_json(self.doc_json)


@dataclass(frozen=True)
class Depth:
    """How much waits, and since when."""

    rows: int
    blobs: int
    passages: int
    oldest_created_at: float | None
    refused: int


@dataclass
class EnqueueStats:
    """Counted on the store thread, read by the metrics."""

    passages: int = 0
    blobs: int = 0
    images_left_out: int = 0
    errors: int = 0


class Outbox:
    """Queues decided passages and their images for the hub (see the module docstring)."""

    def __init__(self, lane_id: str, media: MediaStore, holds: Callable[[str], bool],
                 clock: Callable[[], float] = time.time) -> None:
        self.lane_id = lane_id
        self.media = media
        self.holds = holds
        self.clock = clock
        self.stats = EnqueueStats()

    def enqueue_passages(self, txn: Txn, ids: Iterable[int]) -> int:
        """Queue these passages' current revisions (those decided) and their images; the rows queued.
        Inside the caller's transaction; one passage that cannot be queued is logged and counted
        (behind a savepoint) without undoing the passage change itself."""
        queued = 0
        now = self.clock()
        for passage_id in sorted(set(ids)):
            txn.execute("SAVEPOINT uplink_enqueue")
            try:
                queued += self._enqueue_one(txn, passage_id, now)
            except DocumentError as exc:
                txn.execute("ROLLBACK TO uplink_enqueue")
                self.stats.errors += 1
                log.error("uplink: %s; recorded as refused", exc)
                _record_refusal(txn, "passage", str(passage_id), passage_id, 0, "{}", now, 0, now, 0, "unbuildable",
                                str(exc), [])
            except Exception:
                txn.execute("ROLLBACK TO uplink_enqueue")
                self.stats.errors += 1
                log.exception("uplink: passage %s could not be queued for the hub", passage_id)
            txn.execute("RELEASE uplink_enqueue")
        return queued

    def _enqueue_one(self, txn: Txn, passage_id: int, now: float) -> int:
        built = build_upload(txn, passage_id, self.lane_id, self.media, self.holds)
        if built is None:
            return 0
        upload = built.upload
        for reason in built.left_out:
            self.stats.images_left_out += 1
            log.warning("uplink: passage %s revision %s goes without image %s", passage_id, upload.revision, reason)
        queued = 0
        for image in upload.images:
            if _known_blob(txn, image.sha256):
                continue
            doc = BlobCreate(size=image.size, media_type=image.media_type).model_dump_json()
            cur = txn.execute(
                "INSERT OR IGNORE INTO outbox (kind, key, passage_id, revision, doc_json, created_at, next_at) "
                "VALUES ('blob', ?, ?, ?, ?, ?, ?)", (image.sha256, passage_id, upload.revision, doc, now, now))
            queued += cur.rowcount
            self.stats.blobs += cur.rowcount
        cur = txn.execute(
            "INSERT INTO outbox (kind, key, passage_id, revision, doc_json, created_at, next_at) "
            "VALUES ('passage', ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET revision=excluded.revision, "
            "doc_json=excluded.doc_json, attempts=0, next_at=excluded.next_at, last_error='' "
            "WHERE excluded.revision > outbox.revision",
            (str(passage_id), passage_id, upload.revision, canonical_json(upload).decode(), now, now))
        queued += cur.rowcount
        self.stats.passages += cur.rowcount
        return queued


def _known_blob(txn: Txn, sha256: str) -> bool:
    """Confirmed by the hub already, or refused by it for good (sending it again changes nothing)."""
    return txn.execute("SELECT 1 FROM sent_blobs WHERE sha256=? UNION ALL SELECT 1 FROM outbox_refused "
                       "WHERE kind='blob' AND key=? LIMIT 1", (sha256, sha256)).fetchone() is not None


def _record_refusal(txn: Txn, kind: str, key: str, passage_id: int, revision: int, doc_json: str, created_at: float,
                    attempts: int, now: float, status: int, code: str, detail: str, missing: Sequence[str]) -> None:
    txn.execute(
        "INSERT INTO outbox_refused (kind, key, passage_id, revision, doc_json, created_at, attempts, refused_at, "
        "status, code, detail, missing_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (kind, key, passage_id, revision, doc_json, created_at, attempts, now, status, code, detail,
         json.dumps(list(missing))))


# ---------------------------------------------------------------- the worker's transactions


def due(txn: Txn, now: float, limit: int = 20) -> list[OutboxRow]:
    """Rows whose time has come, oldest first; of the same moment, blobs before passages."""
    rows = txn.execute(f"SELECT {_COLUMNS} FROM outbox WHERE next_at <= ? ORDER BY created_at, kind, id LIMIT ?",
                       (now, limit)).fetchall()
    return [OutboxRow(*row) for row in rows]


def row(txn: Txn, row_id: int) -> OutboxRow | None:
    found = txn.execute(f"SELECT {_COLUMNS} FROM outbox WHERE id=?", (row_id,)).fetchone()
    return OutboxRow(*found) if found else None


def pending_blobs(txn: Txn, shas: Sequence[str]) -> set[str]:
    """Those of `shas` still waiting in the outbox."""
    if not shas:
        return set()
    marks = ",".join("?" * len(shas))
    return {r[0] for r in txn.execute(f"SELECT key FROM outbox WHERE kind='blob' AND key IN ({marks})", tuple(shas))}


def refused_blobs(txn: Txn, shas: Sequence[str]) -> dict[str, str]:
    """Those of `shas` the hub refused for good -> why."""
    if not shas:
        return {}
    marks = ",".join("?" * len(shas))
    return {key: f"{code}: {detail}" for key, code, detail in txn.execute(
        f"SELECT key, code, detail FROM outbox_refused WHERE kind='blob' AND key IN ({marks}) ORDER BY id",
        tuple(shas))}


def confirm_blob(txn: Txn, item: OutboxRow, size: int, now: float) -> None:
    """The hub holds the whole image: it leaves the outbox and is never sent again."""
    txn.execute("INSERT OR REPLACE INTO sent_blobs (sha256, size, sent_at) VALUES (?, ?, ?)", (item.key, size, now))
    txn.execute("DELETE FROM outbox WHERE id=?", (item.id,))


def confirm_passage(txn: Txn, item: OutboxRow) -> bool:
    """The hub took this revision; False if a newer one replaced it meanwhile (that one stays queued)."""
    return txn.execute("DELETE FROM outbox WHERE id=? AND revision=?", (item.id, item.revision)).rowcount == 1


def retry(txn: Txn, item: OutboxRow, delay_s: float, error: str, now: float) -> None:
    """A failure that may pass: try again after `delay_s` (kept across restarts)."""
    txn.execute("UPDATE outbox SET attempts=attempts+1, next_at=?, last_error=? WHERE id=? AND revision=?",
                (now + delay_s, error[:2000], item.id, item.revision))


def refuse(txn: Txn, item: OutboxRow, status: int, code: str, detail: str, missing: Sequence[str], now: float) -> None:
    """Refused for good: moved to outbox_refused with the reason (a newer revision queued meanwhile stays)."""
    _record_refusal(txn, item.kind, item.key, item.passage_id, item.revision, item.doc_json, item.created_at,
                    item.attempts + 1, now, status, code, detail[:2000], missing)
    txn.execute("DELETE FROM outbox WHERE id=? AND revision=?", (item.id, item.revision))


def requeue_blobs(txn: Txn, item: OutboxRow, shas: Sequence[str], now: float) -> list[str]:
    """The hub lacks images it was thought to hold (its store was reset): send them again. The
    shas it could queue (those the passage's document describes)."""
    described = {image.sha256: image for image in item.passage().images}
    queued = []
    for sha in shas:
        image = described.get(sha)
        if image is None:
            continue
        txn.execute("DELETE FROM sent_blobs WHERE sha256=?", (sha,))
        doc = BlobCreate(size=image.size, media_type=image.media_type).model_dump_json()
        txn.execute("INSERT OR IGNORE INTO outbox (kind, key, passage_id, revision, doc_json, created_at, next_at) "
                    "VALUES ('blob', ?, ?, ?, ?, ?, ?)", (sha, item.passage_id, item.revision, doc, now, now))
        queued.append(sha)
    return queued


def depth(txn: Txn) -> Depth:
    rows, blobs, oldest = txn.execute(
        "SELECT COUNT(*), COALESCE(SUM(kind='blob'), 0), MIN(created_at) FROM outbox").fetchone()
    refused = txn.execute("SELECT COUNT(*) FROM outbox_refused").fetchone()[0]
    return Depth(int(rows), int(blobs), int(rows) - int(blobs), oldest, int(refused))


def refused_items(txn: Txn, limit: int = 20) -> list[dict[str, Any]]:
    """The newest refusals, for the terminal."""
    rows = txn.execute("SELECT kind, key, passage_id, revision, refused_at, status, code, detail, missing_json "
                       "FROM outbox_refused ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    keys = ("kind", "key", "passage_id", "revision", "refused_at", "status", "code", "detail", "missing")
    return [{**dict(zip(keys, r)), "missing": json.loads(r[8])} for r in rows]


def refused_codes(txn: Txn) -> dict[str, int]:
    return {code: int(n) for code, n in txn.execute("SELECT code, COUNT(*) FROM outbox_refused GROUP BY code")}


def get_state(txn: Txn, key: str) -> str | None:
    found = txn.execute("SELECT value FROM uplink_state WHERE key=?", (key,)).fetchone()
    return found[0] if found else None


def set_state(txn: Txn, key: str, value: str) -> None:
    txn.execute("INSERT INTO uplink_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                (key, value))


def cursor(txn: Txn) -> int:
    """The last verdict cursor applied (0: none yet)."""
    value = get_state(txn, CURSOR_KEY)
    return int(value) if value else 0
