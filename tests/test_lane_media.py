"""Stored media on the lane terminal over real HTTP: the file by hash, an 8-bit preview of an
8- or 16-bit image, 404 for what is not stored, 415 for what is no image; all of it only to a
logged-in user."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import uvicorn
from prometheus_client import CollectorRegistry

from edge.config import WebConfig
from edge.live import LiveBus
from edge.media import MediaStore
from edge.store import AsyncStore
from edge.store_schema import store_migrations
from edge.web.app import create_app
from tests.lane_harness import TEST_PASSWORD, TEST_USER, ensure_user, login_client


class MediaLane:
    lane_id = "lane-m"
    lane_name = "Media lane"

    def __init__(self, media: MediaStore, store: AsyncStore) -> None:
        self.bus = LiveBus()
        self.registry = CollectorRegistry()
        self.media = media
        self.store = store
        self.web = WebConfig()

    async def device_list(self) -> list[dict[str, Any]]:
        return []

    async def events(self, limit: int) -> list[dict[str, Any]]:
        return []


@pytest.fixture
def lane(tmp_path: Path) -> Iterator[tuple[httpx.Client, MediaStore]]:
    """The app under uvicorn; yields a client logged in to it, and its media store."""
    media = MediaStore(tmp_path / "media")
    ensure_user(tmp_path / "edge.sqlite3", TEST_USER, "officer", TEST_PASSWORD)
    store = AsyncStore(tmp_path / "edge.sqlite3", store_migrations())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(MediaLane(media, store)), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        client = login_client(f"http://127.0.0.1:{port}", timeout=10)
        yield client, media
        client.close()
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()


def test_a_16_bit_scan_is_served_whole_and_previewed_in_8_bits(lane: tuple[httpx.Client, MediaStore]) -> None:
    client, media = lane
    scan = np.tile(np.linspace(1000, 60000, 3000).astype(np.uint16), (600, 1))  # a ramp across the scan
    ok, tiff = cv2.imencode(".tiff", scan)
    assert ok
    sha = media.put_bytes(tiff.tobytes()).sha256
    whole = client.get(f"/api/media/{sha}")
    assert whole.status_code == 200 and whole.headers["content-type"] == "image/tiff"
    assert hashlib.sha256(whole.content).hexdigest() == sha
    preview = client.get(f"/api/media/{sha}/preview?max_px=300")
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/png"
    image = cv2.imdecode(np.frombuffer(preview.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image.dtype == np.uint8 and image.shape == (60, 300)
    assert image.min() < 20 and image.max() > 235, "windowed to the data's range"
    # content-addressed: the hash is the ETag, and a browser holding it gets 304 without the bytes;
    # it must ask each time (no-cache), so once logged out its cache shows nothing
    assert whole.headers["etag"] == f'"{sha}"' and whole.headers["cache-control"] == "private, no-cache"
    again = client.get(f"/api/media/{sha}", headers={"If-None-Match": f'"{sha}"'})
    assert again.status_code == 304 and again.content == b""
    stranger = httpx.Client(base_url=str(client.base_url))
    assert stranger.get(f"/api/media/{sha}", headers={"If-None-Match": f'"{sha}"'}).status_code == 401
    stranger.close()
    tag = preview.headers["etag"]
    assert client.get(f"/api/media/{sha}/preview?max_px=300", headers={"If-None-Match": tag}).status_code == 304
    assert client.get(f"/api/media/{sha}/preview?max_px=200", headers={"If-None-Match": tag}).status_code == 200


def test_what_is_not_stored_or_not_an_image(lane: tuple[httpx.Client, MediaStore]) -> None:
    client, media = lane
    assert client.get(f"/api/media/{'0' * 64}").status_code == 404
    assert client.get("/api/media/not-a-hash").status_code == 404
    sha = media.put_bytes(b"DICM but not really an image").sha256
    assert client.get(f"/api/media/{sha}/preview").status_code == 415
    assert client.get(f"/api/media/{sha}").headers["content-type"] == "application/octet-stream"


def test_media_needs_a_login(lane: tuple[httpx.Client, MediaStore]) -> None:
    client, media = lane
    sha = media.put_bytes(b"evidence").sha256
    for path in (f"/api/media/{sha}", f"/api/media/{sha}/preview"):
        response = httpx.get(client.base_url.join(path), timeout=5)  # no session cookie
        assert response.status_code == 401 and response.json() == {"detail": "login required"}, path
    assert client.get(f"/api/media/{sha}").content == b"evidence"
