"""What every route needs, made once by `create_app` and kept on `app.state.hub`."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from hub.blobs import BlobStore
from hub.config import HubConfig
from hub.db.engine import Database
from hub.ingest import ReviewPolicy
from hub.metrics import HubMetrics
from hub.pixels import PixelCache
from hub.uploads import Uploads
from hub.verdict_signal import VerdictSignal
from hub.web.throttle import LoginThrottle


@dataclass
class HubState:
    """The hub's parts, shared by the routes of one app."""

    config: HubConfig
    database: Database
    blobs: BlobStore
    uploads: Uploads
    pixels: PixelCache
    metrics: HubMetrics
    throttle: LoginThrottle
    policy: ReviewPolicy
    verdict_signal: VerdictSignal = field(default_factory=VerdictSignal)  # wakes this process's long polls


def hub_state(request: Request) -> HubState:
    """The app's `HubState` (a FastAPI dependency)."""
    state: HubState = request.app.state.hub
    return state
