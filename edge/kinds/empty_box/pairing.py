"""Scans and their images, paired by (device, sequence number) in the kind's own table, and the
derivers that raise the officer's events inside each reading's store transaction.

Whichever half arrives first opens a row and waits; the other closes it. A row still open after
`pair_timeout_s` is reported (`image_missing` for a scan whose image never came, `scan_missing`
for an image whose scan result never came) and closed. Every reading of the device sweeps its
expired rows (so rows left open by a stopped edge are reported at its next reading), and the
adapter submits a timeout reading when a deadline it knows of passes.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from edge.kinds.empty_box.state import scan_events, status_events
from edge.migrations import Migration
from edge.store import Derived, Deriver, Txn

log = logging.getLogger(__name__)

OPEN, PAIRED, REPORTED = 0, 1, 2

MIGRATIONS = (
    Migration("empty_box:1", """
CREATE TABLE empty_box_pairs (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    container TEXT,
    scan_reading_id INTEGER REFERENCES readings (id),
    image_reading_id INTEGER REFERENCES readings (id),
    image_sha256 TEXT,
    opened_at REAL NOT NULL,
    closed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX empty_box_pairs_open ON empty_box_pairs (device_id, closed, sequence);
"""),
    # what the interior model made of the scan's image (its regions), kept with the pair
    Migration("empty_box:2", """
ALTER TABLE empty_box_pairs ADD COLUMN analysis_json TEXT;
"""),
)


def sweep(txn: Txn, timeout_s: float, derived: Derived) -> None:
    """Report and close this device's rows that waited longer than `timeout_s`."""
    rows = txn.execute(
        "SELECT id, sequence, container, scan_reading_id, image_reading_id FROM empty_box_pairs "
        "WHERE device_id=? AND closed=? AND opened_at < ? ORDER BY id", (txn.device_id, OPEN, txn.received_at - timeout_s),
    ).fetchall()
    for row_id, sequence, container, scan_id, image_id in rows:
        if scan_id is not None:
            derived.events.append(txn.add_event(container or "", "image_missing",
                                                f"scan {sequence}: no image within {timeout_s:g} s",
                                                txn.reading_time(scan_id), scan_id))
        else:
            derived.events.append(txn.add_event(container or "", "scan_missing",
                                                f"image for scan {sequence}: no scan result within {timeout_s:g} s",
                                                txn.reading_time(image_id), image_id))
        txn.execute("UPDATE empty_box_pairs SET closed=? WHERE id=?", (REPORTED, row_id))


def _open_row(txn: Txn, sequence: int, missing: str) -> tuple[int, str | None, int | None, str | None] | None:
    """The oldest open row for this sequence that still lacks `missing` ("scan" or "image")."""
    return txn.execute(
        f"SELECT id, container, image_reading_id, image_sha256 FROM empty_box_pairs WHERE device_id=? AND sequence=? "
        f"AND closed=? AND {missing}_reading_id IS NULL ORDER BY id LIMIT 1", (txn.device_id, sequence, OPEN),
    ).fetchone()


def image_of(txn: Txn, sequence: int) -> str | None:
    """The hash of the interior image paired with scan `sequence`, if it has come."""
    row = txn.execute("SELECT image_sha256 FROM empty_box_pairs WHERE device_id=? AND sequence=? "
                      "AND image_sha256 IS NOT NULL ORDER BY id DESC LIMIT 1", (txn.device_id, sequence)).fetchone()
    return row[0] if row else None


def analysis_of(txn: Txn, sequence: int) -> dict[str, Any] | None:
    """What the interior model made of scan `sequence`'s image, if it has run."""
    row = txn.execute("SELECT analysis_json FROM empty_box_pairs WHERE device_id=? AND sequence=? "
                      "AND analysis_json IS NOT NULL ORDER BY id DESC LIMIT 1", (txn.device_id, sequence)).fetchone()
    return json.loads(row[0]) if row else None


def shown_analysis(analysis: dict[str, Any]) -> dict[str, Any]:
    """The fields of an analysis the state carries (the page, the passage)."""
    return {"analysed": True, "regions": analysis.get("regions", []), "interior_score": analysis.get("score"),
            "interior_flagged": analysis.get("flagged"), "analysis_error": analysis.get("error"),
            "model_skipped": analysis.get("model_skipped")}


def scan_deriver(scan: dict[str, Any], timeout_s: float, state: dict[str, Any] | None = None) -> Deriver:
    """A completed scan: its events, and its place in the pairing table. `state`, when given, gets
    the hash of this scan's image if it came first (and loses an earlier scan's), for the page."""

    def derive(txn: Txn, reading_id: int) -> Derived:
        derived = Derived()
        sweep(txn, timeout_s, derived)
        sequence, container = scan["sequence"], scan.get("container")
        if state is not None:
            for key in ("image_sha256", "analysed", "regions", "interior_score", "interior_flagged", "analysis_error",
                        "model_skipped"):
                state.pop(key, None)
            if image := image_of(txn, sequence):
                state["image_sha256"] = image
            if analysis := analysis_of(txn, sequence):
                state.update(shown_analysis(analysis))
        row = _open_row(txn, sequence, "scan")
        if row is None:
            txn.execute("INSERT INTO empty_box_pairs (device_id, sequence, container, scan_reading_id, opened_at) "
                        "VALUES (?, ?, ?, ?, ?)", (txn.device_id, sequence, container, reading_id, txn.received_at))
        else:
            txn.execute("UPDATE empty_box_pairs SET scan_reading_id=?, container=?, closed=? WHERE id=?",
                        (reading_id, container, PAIRED, row[0]))
        image = f"; image {row[3]}" if row is not None else ""
        for raised in scan_events(scan):
            derived.events.append(txn.add_event(container or "", raised.event, raised.detail + image,
                                                scan.get("scan_time"), reading_id))
        return derived

    return derive


def image_deriver(sequence: int, container: str | None, image_sha256: str, timeout_s: float,
                  state: dict[str, Any] | None = None) -> Deriver:
    """An interior image (stored in the media store): paired with its scan, or waiting for it.

    `state`, when given, is filled in place with the device's stored state plus this image's
    hash (the store writes the reading's state after its deriver ran), so the lane page shows
    the latest interior without the image losing the scan's verdict.
    """

    def derive(txn: Txn, reading_id: int) -> Derived:
        derived = Derived()
        if state is not None:  # shown with its own scan's verdict; before that scan, with no verdict of another
            shown = txn.device_state()
            state.clear()
            state.update(shown if shown.get("sequence") == sequence else {}, image_sha256=image_sha256)
        sweep(txn, timeout_s, derived)
        row = _open_row(txn, sequence, "image")
        if row is None:
            txn.execute("INSERT INTO empty_box_pairs (device_id, sequence, container, image_reading_id, image_sha256, "
                        "opened_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (txn.device_id, sequence, container, reading_id, image_sha256, txn.received_at))
        else:
            if row[1] != container:
                log.warning("empty box %s: image of scan %s names container %s, the scan %s", txn.device_id,
                            sequence, container, row[1])
            txn.execute("UPDATE empty_box_pairs SET image_reading_id=?, image_sha256=?, closed=? WHERE id=?",
                        (reading_id, image_sha256, PAIRED, row[0]))
        return derived

    return derive


def analysis_deriver(sequence: int, image_sha256: str, analysis: dict[str, Any], state: dict[str, Any]) -> Deriver:
    """The interior model's result on one stored image: kept with its pair; `state` (filled in place)
    is the device's, with the regions, while that scan is still the one shown."""

    def derive(txn: Txn, reading_id: int) -> Derived:
        txn.execute("UPDATE empty_box_pairs SET analysis_json=? WHERE device_id=? AND sequence=? AND image_sha256=?",
                    (json.dumps(analysis), txn.device_id, sequence, image_sha256))
        shown = txn.device_state()
        same = shown.get("sequence") == sequence and shown.get("image_sha256") == image_sha256
        state.clear()
        state.update(shown if same else {}, image_sha256=image_sha256, **shown_analysis(analysis))
        return Derived(newest=same)

    return derive


def status_deriver(state: dict[str, Any], subject: str, timeout_s: float) -> Deriver:
    """A change of the device's status: a fault raises `fault`, once."""

    def derive(txn: Txn, reading_id: int) -> Derived:
        derived = Derived()
        sweep(txn, timeout_s, derived)
        for raised in status_events(txn.device_state(), state):
            derived.events.append(txn.add_event(subject, raised.event, raised.detail, None, reading_id))
        return derived

    return derive


def timeout_deriver(timeout_s: float) -> Deriver:
    """A pairing deadline passed: only the sweep. Its reading keeps no state (newest stays the last scan's)."""

    def derive(txn: Txn, reading_id: int) -> Derived:
        derived = Derived()
        sweep(txn, timeout_s, derived)
        return derived

    return derive
