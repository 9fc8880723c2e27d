"""Stored media on the lane terminal over real HTTP: the file by hash, an 8-bit preview of an
8- or 16-bit image, 404 for what is not stored, 415 for what is no image."""

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

from edge.live import LiveBus
from edge.media import MediaStore
from edge.web.app import create_app


class MediaLane:
    lane_id = "lane-m"
    lane_name = "Media lane"

    def __init__(self, media: MediaStore) -> None:
        self.bus = LiveBus()
        self.registry = CollectorRegistry()
        self.media = media

    async def device_list(self) -> list[dict[str, Any]]:
        return []

    async def events(self, limit: int) -> list[dict[str, Any]]:
        return []


@pytest.fixture
def lane(tmp_path: Path) -> Iterator[tuple[str, MediaStore]]:
    media = MediaStore(tmp_path / "media")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(MediaLane(media)), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", media
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_16_bit_scan_is_served_whole_and_previewed_in_8_bits(lane: tuple[str, MediaStore]) -> None:
    url, media = lane
    scan = np.tile(np.linspace(1000, 60000, 3000).astype(np.uint16), (600, 1))  # a ramp across the scan
    ok, tiff = cv2.imencode(".tiff", scan)
    assert ok
    sha = media.put_bytes(tiff.tobytes()).sha256
    whole = httpx.get(f"{url}/api/media/{sha}", timeout=10)
    assert whole.status_code == 200 and whole.headers["content-type"] == "image/tiff"
    assert hashlib.sha256(whole.content).hexdigest() == sha
    preview = httpx.get(f"{url}/api/media/{sha}/preview?max_px=300", timeout=10)
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/png"
    image = cv2.imdecode(np.frombuffer(preview.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image.dtype == np.uint8 and image.shape == (60, 300)
    assert image.min() < 20 and image.max() > 235, "windowed to the data's range"


def test_what_is_not_stored_or_not_an_image(lane: tuple[str, MediaStore]) -> None:
    url, media = lane
    assert httpx.get(f"{url}/api/media/{'0' * 64}", timeout=5).status_code == 404
    assert httpx.get(f"{url}/api/media/not-a-hash", timeout=5).status_code == 404
    sha = media.put_bytes(b"DICM but not really an image").sha256
    assert httpx.get(f"{url}/api/media/{sha}/preview", timeout=5).status_code == 415
    assert httpx.get(f"{url}/api/media/{sha}", timeout=5).headers["content-type"] == "application/octet-stream"
