"""Iris codes an edge from before the private store kept in the served media folder are moved into
the private store when the reader's adapter starts: a real store with the iris tables, real files,
the real lane terminal's media route (which serves anything in the media folder)."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from edge.kinds.iris.legacy_codes import move_legacy_codes
from edge.kinds.iris.templates import record_capture
from edge.media import MediaStore
from edge.store import Derived, Store, Txn
from edge.store_schema import store_migrations
from edge.web.media_routes import media_router


def capture(store: Store, device_id: str, code: str, mask: str, n: int) -> None:
    def derive(txn: Txn, reading_id: int) -> Derived:
        record_capture(txn, reading_id, device_id, "CARD123", "2026-12-04T08:00:00+08:00", True, "match", 0.2,
                       code, mask)
        return Derived()

    store.record_reading(device_id, 1_790_000_000.0 + n, None, "capture", hashlib.sha256(bytes([n])).hexdigest(),
                         {"code_sha256": code, "mask_sha256": mask}, {}, derive, kind="iris")


def test_old_codes_leave_the_served_folder_for_the_private_store(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    store = Store(tmp_path / "edge.sqlite3", store_migrations())
    media, private = MediaStore(tmp_path / "media"), MediaStore(tmp_path / "private-media")
    code, mask = media.put_bytes(os.urandom(512)).sha256, media.put_bytes(os.urandom(512)).sha256
    already = private.put_bytes(os.urandom(512)).sha256  # a newer capture, stored privately from the start
    image = media.put_bytes(b"\x89PNG\r\n\x1a\n an under-vehicle image").sha256
    capture(store, "iris-m", code, mask, 1)
    capture(store, "iris-m", already, mask, 2)
    other = media.put_bytes(os.urandom(512)).sha256
    capture(store, "iris-s", other, other, 3)  # another reader's: moved when that reader starts
    app = FastAPI()
    app.include_router(media_router(media))
    client = TestClient(app)
    assert client.get(f"/api/media/{code}").status_code == 200  # what the fault was

    with caplog.at_level(logging.WARNING):
        assert move_legacy_codes(store.read, media, private, "iris-m") == (2, 0)
    assert "2 iris codes and masks moved" in caplog.text
    for sha in (code, mask):
        assert not media.has(sha) and private.has(sha)
        assert hashlib.sha256(private.path(sha).read_bytes()).hexdigest() == sha
        assert client.get(f"/api/media/{sha}").status_code == 404
    assert media.has(image) and media.has(other) and private.has(already)
    assert move_legacy_codes(store.read, media, private, "iris-m") == (0, 0)  # the next start: nothing left
    store.close()


def test_a_corrupt_old_code_is_reported_and_left_not_lost(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = Store(tmp_path / "edge.sqlite3", store_migrations())
    media, private = MediaStore(tmp_path / "media"), MediaStore(tmp_path / "private-media")
    code, mask = media.put_bytes(os.urandom(512)).sha256, media.put_bytes(os.urandom(512)).sha256
    media.path(code).write_bytes(b"bit rot")
    capture(store, "iris-m", code, mask, 1)
    with caplog.at_level(logging.ERROR):
        assert move_legacy_codes(store.read, media, private, "iris-m") == (1, 1)
    assert f"{code} could not be moved" in caplog.text
    assert media.has(code) and not private.has(code) and private.has(mask)
    store.close()
