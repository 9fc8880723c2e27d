"""The hub's FastAPI application: its parts made once, the routers, the reviewer web app at `/`.

`create_app` brings the schema to the newest migration first (safe when several hub processes
start together), so a hub never serves an old schema. Every error answers a `Refusal` body and no
traceback leaves the process (hub/routes/errors.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from hub.blobs import DiskBlobStore
from hub.config import HubConfig
from hub.db.engine import Database, make_engine, upgrade
from hub.metrics import HubMetrics
from hub.pixels import PixelCache
from hub.routes import admin, images, ingest, review, service, session, stats, verdicts
from hub.routes.errors import install_error_handlers
from hub.state import HubState
from hub.uploads import UploadLimits, Uploads
from hub.web.throttle import LoginThrottle

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "web" / "static"
ROUTERS = (ingest.router, verdicts.router, session.router, review.router, images.router, admin.router,
           stats.router, service.router)


def open_database(config: HubConfig) -> Database:
    """The configured store (a SQLite file's folder is made), not yet migrated."""
    prefix = "sqlite:///"
    if config.database.url.startswith(prefix):
        Path(config.database.url[len(prefix):]).parent.mkdir(parents=True, exist_ok=True)
    return Database(make_engine(config.database.url))


def create_app(config: HubConfig, database: Database | None = None) -> FastAPI:
    """The hub's app on `database` (default: the configured one), its schema upgraded."""
    database = database or open_database(config)
    upgrade(database.engine)
    blobs = DiskBlobStore(config.blobs.root)
    metrics = HubMetrics()
    limits = UploadLimits(config.blobs.max_bytes, config.blobs.max_side, config.blobs.max_pixels)
    state = HubState(config=config, database=database, blobs=blobs,
                     uploads=Uploads(config.blobs.root, blobs, limits, database, metrics),
                     pixels=PixelCache(config.blobs.root), metrics=metrics, throttle=LoginThrottle(),
                     policy=config.review_policy())
    app = FastAPI(title="Kouan review hub", version="1", openapi_url="/openapi.json",
                  description="The central image-review hub: uploads from the lanes' edges, the review queue, "
                              "verdicts back to the lanes (docs/hub.md).")
    app.state.hub = state
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    STATIC.mkdir(parents=True, exist_ok=True)
    app.mount("/", StaticFiles(directory=STATIC, html=True), name="web")
    log.info("hub %s: database %s, blobs in %s", config.hub.name,
             database.engine.url.render_as_string(hide_password=True), config.blobs.root)
    return app
