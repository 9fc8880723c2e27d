"""The hub's service routes: a health check for edges and load balancers, and Prometheus metrics."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field

from contract.uplink import HEALTH
from hub import queue
from hub.routes.errors import errors
from hub.state import HubState, hub_state
from hub.web.auth import metrics_reader

router = APIRouter()


class Health(BaseModel):
    """The hub answers and its database too."""

    model_config = ConfigDict(extra="forbid")

    status: str = Field(description="ok")
    name: str = Field(description="The hub's name ([hub] name).")


@router.get(HEALTH, tags=["service"], summary="The hub and its database answer")
def health(hub: HubState = Depends(hub_state)) -> Health:
    with hub.database.read_session() as s:
        queue.queue_depth(s, time.time())
    return Health(status="ok", name=hub.config.hub.name)


@router.get("/metrics", tags=["service"], response_class=Response, summary="Prometheus metrics",
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
                             "description": "The text exposition format."}, **errors(401, 403)})
def metrics(_reader: None = Depends(metrics_reader), hub: HubState = Depends(hub_state)) -> Response:
    with hub.database.read_session() as s:
        depth, oldest = queue.queue_depth(s, time.time())
    return Response(hub.metrics.exposition(depth, oldest), media_type=CONTENT_TYPE_LATEST)
