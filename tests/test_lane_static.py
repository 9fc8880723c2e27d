"""The lane terminal's /static route over real HTTP (uvicorn on a free port, raw request paths).

A name that is not a plain file in the static folder (NUL, '..', a path, a missing file) is a 404,
never a 500 or a file from elsewhere.
"""

from __future__ import annotations

import asyncio
import http.client
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from prometheus_client import CollectorRegistry

from edge.config import WebConfig
from edge.live import LiveBus
from edge.web.app import create_app
from tests.conftest import free_port


class FakeLane:
    """The smallest LaneView: a lane with no devices and no events."""

    lane_id = "lane-s"
    lane_name = "Static lane"

    def __init__(self) -> None:
        self.bus = LiveBus()
        self.registry = CollectorRegistry()
        self.media = None
        self.store = None  # no users: nobody logs in, and the static files need no login
        self.web = WebConfig()

    async def device_list(self) -> list[dict[str, Any]]:
        return []

    async def events(self, limit: int) -> list[dict[str, Any]]:
        return []


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    """The app under uvicorn in a thread; yields its port."""
    port = free_port()
    config = uvicorn.Config(create_app(FakeLane()), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(srv.serve()), name="static-app", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert srv.started, "uvicorn did not start"
    try:
        yield port
    finally:
        srv.should_exit = True
        thread.join(10)


def get(port: int, raw_path: str) -> tuple[int, bytes]:
    """GET exactly `raw_path` (no client-side normalising or re-quoting)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", raw_path, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_lane_js_is_served(server: int) -> None:
    status, body = get(server, "/static/lane.js")
    assert status == 200 and body


@pytest.mark.parametrize("raw_path", [
    "/static/%00",
    "/static/lane.js%00",
    "/static/..%2fapp.py",
    "/static/%2e%2e",
    "/static/..",
    "/static/.",
    "/static/%2e%2e%2fapp.py",
    "/static/..%5capp.py",
    "/static/nonexistent.js",
])
def test_a_bad_static_name_is_a_404(server: int, raw_path: str) -> None:
    status, body = get(server, raw_path)
    assert status == 404, (status, body[:200])
