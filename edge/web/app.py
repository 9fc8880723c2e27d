"""Lane-terminal HTTP API and page: devices, events, a live stream, metrics.

The app reads everything through a `LaneView` (the runtime implements it), so it can be
tested against any object that answers the same questions. Every data route needs a login
(edge/web/auth.py): they sit on one router whose dependency is `current_user`, so a route added
there cannot forget it. Open without a login: the page, the login page, static files, /healthz
and the login itself; /metrics takes a login or the metrics bearer token.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from edge.config import WebConfig
from edge.live import CLOSE, LiveBus
from edge.media import MediaStore
from edge.passages.service import PassageService
from edge.store import AsyncStore
from edge.users import Session, SessionPolicy
from edge.web.auth import Auth, current_session, current_user, install_auth, metrics_reader
from edge.web.media_routes import media_router
from edge.web.model_routes import lane_model_router
from edge.web.passage_routes import declaration_router, passage_router
from edge.web.uplink_routes import uplink_router

STATIC = Path(__file__).parent / "static"
KEEPALIVE_S = 15.0
SESSION_RECHECK_S = 15.0  # how soon an open live stream notices that its session ended


class LaneView(Protocol):
    """What the lane terminal needs from the runtime."""

    lane_id: str
    lane_name: str
    bus: LiveBus

    async def device_list(self) -> list[dict[str, Any]]: ...

    async def events(self, limit: int) -> list[dict[str, Any]]: ...

    registry: CollectorRegistry
    media: MediaStore | None
    store: AsyncStore | None  # users and sessions (edge/users.py); None: nobody can log in
    web: WebConfig  # session lifetimes, the metrics token
    passages: PassageService | None  # passages, declarations, officers' actions


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
    install_auth(app, Auth(view.store, SessionPolicy(view.web.session_lifetime_s, view.web.session_idle_s),
                           view.web.metrics_token))

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/login", include_in_schema=False)
    async def login_page() -> FileResponse:
        return FileResponse(STATIC / "login.html", media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        path = static_file(name)
        if path is None:
            raise HTTPException(404, "no such static file")
        return FileResponse(path)

    data = APIRouter(dependencies=[Depends(current_user)])
    data.include_router(media_router(view.media))

    @data.get("/api/lane")
    async def lane() -> dict[str, str]:
        return {"id": view.lane_id, "name": view.lane_name}

    @data.get("/api/devices")
    async def devices() -> list[dict[str, Any]]:
        return await view.device_list()

    @data.get("/api/events")
    async def events(limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
        return await view.events(limit)

    @data.get("/api/live")
    async def live(request: Request, session: Session = Depends(current_session)) -> StreamingResponse:
        auth: Auth = request.app.state.auth
        queue = view.bus.subscribe()

        async def stream() -> AsyncIterator[bytes]:
            """Ends when the session does (logout, expiry), so the page's reconnect meets the 401."""
            check_at = time.monotonic() + SESSION_RECHECK_S
            try:
                yield b"retry: 1000\n\n"
                while not await request.is_disconnected():
                    if time.monotonic() >= check_at:
                        if not await auth.still_live(session):
                            return
                        check_at = time.monotonic() + SESSION_RECHECK_S
                    try:
                        message = await asyncio.wait_for(queue.get(), min(KEEPALIVE_S, SESSION_RECHECK_S))
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    if message["type"] == CLOSE:
                        return
                    yield _sse(message)
            finally:
                view.bus.unsubscribe(queue)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    app.include_router(data)
    passages = lambda: getattr(view, "passages", None)  # noqa: E731 (the runtime's, once started)
    app.include_router(passage_router(passages))
    app.include_router(declaration_router(passages))
    app.include_router(uplink_router(lambda: getattr(view, "uplink", None)))
    app.include_router(lane_model_router(lambda: getattr(view, "rollback_lane_model", None)))

    @app.get("/metrics", dependencies=[Depends(metrics_reader)])
    async def metrics() -> Response:
        return Response(generate_latest(view.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
