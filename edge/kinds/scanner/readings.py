"""The scanner's readings: a notice, and the outcome that settles it (scan received, refused, file
missing) or a file that came without one; the reasons in words an officer understands."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from drivers.scanner import ScanNotice
from edge.ingest import Reading
from edge.kinds.scanner.pending import noticed, settled

KIND = "scanner"

# ScanRefused reason codes (drivers/scanner) and the edge's own, as the officer reads them.
REASONS: dict[str, str] = {
    "hash_mismatch": "file does not match its notice (SHA-256)",
    "size": "file is larger than its notice says",
    "truncated": "file is incomplete (truncated)",
    "changed": "file changed while it was being checked",
    "missing": "file could not be opened",
    "not_regular": "not a regular file",
    "wrong_magic": "file is not in the format its notice says",
    "corrupt": "file is damaged (its header cannot be read)",
    "sop_class": "DICOS file is not an X-ray image for processing",
    "format": "file layout not supported",
    "too_large": "image is larger than this lane accepts",
    "bit_depth": "image is not 16-bit grey",
    "planes": "image planes do not match the notice's energy (single/dual)",
    "dimensions": "image size does not match its notice",
    "decode": "image cannot be decoded",
    "media": "file could not be kept in the media store",
}


def reason_words(reason: str) -> str:
    return REASONS.get(reason, f"file refused ({reason})")


def subject_of(notice: ScanNotice) -> str:
    """What a scan event is about: the first container number, else the plate, else the scan id."""
    return notice.containers[0] if notice.containers else (notice.plate or notice.scan_id)


def _key(*parts: str) -> str:
    """A reading's hash: the same outcome of the same notice is stored once (a retry is a duplicate)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def notice_reading(device_id: str, notice: ScanNotice, payload_sha: str, noticed_at: float) -> Reading:
    """A notice as it arrived: stored, and kept in `scanner_pending` until its file is settled."""
    wire = notice.to_wire().model_dump(mode="json")
    state: dict[str, Any] = {}
    return Reading(device_id, "notice", payload_sha, wire, device_time=notice.scan_time.isoformat(), state=state,
                   derive=noticed(wire, noticed_at, state), kind=KIND, received_at=noticed_at)


def received_reading(device_id: str, notice: ScanNotice, media_sha: str, height: int, width: int,
                     on_stored: Callable[[], None]) -> Reading:
    """A scan verified, decoded and kept in the media store by its SHA-256."""
    subject = subject_of(notice)
    energy = f"{notice.energy} energy"
    payload = {"notice": notice.to_wire().model_dump(mode="json"), "media_sha256": media_sha,
               "height": height, "width": width, "energy": notice.energy, "size_bytes": notice.size_bytes}
    detail = f"scan {height}x{width} {energy}, {notice.size_bytes / 1e6:.1f} MB (scan {notice.scan_id})"
    last = {"event": "scan_received", "subject": subject, "scan_id": notice.scan_id, "height": height,
            "width": width, "energy": notice.energy, "media_sha256": media_sha}
    state: dict[str, Any] = {}
    return Reading(device_id, "scan", _key("scan_received", notice.scan_id, media_sha), payload,
                   device_time=notice.scan_time.isoformat(), state=state, kind=KIND, on_stored=on_stored,
                   derive=settled(notice.scan_id, subject, "scan_received", detail, notice.scan_time.isoformat(),
                                  last, state))


def refused_reading(device_id: str, notice: ScanNotice, reason: str, message: str,
                    on_stored: Callable[[], None]) -> Reading:
    """A scan file that does not agree with its notice or cannot be used."""
    subject = subject_of(notice)
    words = reason_words(reason)
    payload = {"notice": notice.to_wire().model_dump(mode="json"), "reason": reason, "message": message}
    last = {"event": "scan_refused", "subject": subject, "scan_id": notice.scan_id, "reason": words}
    state: dict[str, Any] = {}
    return Reading(device_id, "refused", _key("scan_refused", notice.scan_id, notice.sha256, reason), payload,
                   device_time=notice.scan_time.isoformat(), state=state, kind=KIND, on_stored=on_stored,
                   derive=settled(notice.scan_id, subject, "scan_refused",
                                  f"{words} (scan {notice.scan_id}, {notice.file_name}): {message}",
                                  notice.scan_time.isoformat(), last, state))


def missing_reading(device_id: str, notice: ScanNotice, waited_s: float, on_stored: Callable[[], None]) -> Reading:
    """A notice whose file never came within the configured wait."""
    subject = subject_of(notice)
    payload = {"notice": notice.to_wire().model_dump(mode="json"), "waited_s": round(waited_s, 1)}
    last = {"event": "file_missing", "subject": subject, "scan_id": notice.scan_id}
    state: dict[str, Any] = {}
    detail = f"scan file {notice.file_name} did not arrive within {waited_s:.0f} s of its notice (scan {notice.scan_id})"
    return Reading(device_id, "file_missing", _key("file_missing", notice.scan_id, notice.sha256), payload,
                   device_time=notice.scan_time.isoformat(), state=state, kind=KIND, on_stored=on_stored,
                   derive=settled(notice.scan_id, subject, "file_missing", detail, notice.scan_time.isoformat(),
                                  last, state))


def orphan_reading(device_id: str, file_name: str, file_sha: str, size: int, waited_s: float) -> Reading:
    """A file in the folder that no notice announced within the configured wait."""
    payload = {"file_name": file_name, "sha256": file_sha, "size_bytes": size, "waited_s": round(waited_s, 1)}
    last = {"event": "file_without_notice", "subject": file_name}
    state: dict[str, Any] = {}
    detail = f"file {file_name} ({size} bytes) has had no notice for {waited_s:.0f} s; kept in the folder"
    return Reading(device_id, "file_without_notice", _key("file_without_notice", file_name, file_sha), payload,
                   state=state, kind=KIND,
                   derive=settled(None, file_name, "file_without_notice", detail, None, last, state))
