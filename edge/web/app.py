"""Lane-terminal HTTP API and page: devices, events, a live stream, metrics.

The app reads everything through a `LaneView` (the runtime implements it), so it can be
tested against any object that answers the same questions.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from edge.live import CLOSE, LiveBus
from edge.media import MediaStore
from edge.web.media_routes import media_router

STATIC = Path(__file__).parent / "static"
KEEPALIVE_S = 15.0


class LaneView(Protocol):
    """What the lane terminal needs from the runtime."""

    lane_id: str
    lane_name: str
    bus: LiveBus

    async def device_list(self) -> list[dict[str, Any]]: ...

    async def events(self, limit: int) -> list[dict[str, Any]]: ...

    registry: CollectorRegistry
    media: MediaStore | None


def static_file(name: str) -> Path | None:
    """The plain file `name` directly in the static folder, or None for anything else
    (NUL, a separator, '.', '..', a hidden name, a link or folder, a missing file)."""
    if not name or name.startswith(".") or any(c in name for c in "\x00/\\"):
        return None
    path = STATIC / name
    try:
        if path.is_symlink() or not path.is_file() or path.resolve().parent != STATIC.resolve():
            return None
    except (OSError, ValueError):  # a name the OS refuses (too long, bad bytes)
        return None
    return path


def _sse(message: dict[str, Any]) -> bytes:
    return f"event: {message['type']}\ndata: {json.dumps(message['data'], default=str)}\n\n".encode()


def create_app(view: LaneView) -> FastAPI:
    """Build the lane-terminal app over a runtime view."""
    app = FastAPI(title="Kouan lane terminal", version="0.1.0")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        path = static_file(name)
        if path is None:
            raise HTTPException(404, "no such static file")
        return FileResponse(path)

    app.include_router(media_router(view.media))

    @app.get("/api/lane")
    async def lane() -> dict[str, str]:
        return {"id": view.lane_id, "name": view.lane_name}

    @app.get("/api/devices")
    async def devices() -> list[dict[str, Any]]:
        return await view.device_list()

    @app.get("/api/events")
    async def events(limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
        return await view.events(limit)

    @app.get("/api/live")
    async def live(request: Request) -> StreamingResponse:
        queue = view.bus.subscribe()

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 1000\n\n"
                while not await request.is_disconnected():
                    try:
                        message = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    if message["type"] == CLOSE:
                        return
                    yield _sse(message)
            finally:
                view.bus.unsubscribe(queue)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(view.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
