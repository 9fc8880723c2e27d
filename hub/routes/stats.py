"""Per-lane and per-port statistics for reviewers and supervisors: the numbers the port is judged by."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from contract.uplink import API
from hub import stats as store_stats
from hub.accounts import UserInfo
from hub.routes.errors import errors
from hub.state import HubState, hub_state
from hub.web.auth import person

router = APIRouter(prefix=API, tags=["stats"])
DAY_S = 86400.0


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Spread(_Body):
    p50: float | None = Field(description="Median in seconds; null without data.")
    p95: float | None = Field(description="95th percentile in seconds; null without data.")


class Median(_Body):
    p50: float | None = Field(description="Median in seconds; null without data.")


class QueueNow(_Body):
    depth: int = Field(description="Items waiting (queued or claimed) now.")
    oldest_age_s: float | None = Field(description="Age of the oldest waiting item; null when none.")


class Group(_Body):
    """One lane's, one port's or all passages since `since`."""

    passages: int
    released_directly: int = Field(description="Released by the machine after inspection, with no officer.")
    released_directly_share: float | None = Field(description="released_directly / passages; null without passages.")
    arrival_to_decision_s: Spread
    upload_to_verdict_s: Spread = Field(description="From the review item's making to its first verdict.")
    reviewer_s_per_scan: Median = Field(description="From claim to verdict.")
    queue: QueueNow


class Stats(_Body):
    since: float = Field(description="Epoch s: passages that arrived since then.")
    now: float = Field(description="The hub's clock (epoch s).")
    overall: Group
    lanes: dict[str, Group]
    ports: dict[str, Group]


@router.get("/stats", responses=errors(401, 403, 422), summary="Statistics per lane and per port")
def stats(since: Annotated[float | None, Query(allow_inf_nan=False, description="Epoch s; default 24 h ago.")] = None,
          lane: Annotated[str | None, Query(max_length=64, description="Only this lane.")] = None,
          port: Annotated[str | None, Query(max_length=64, description="Only this port.")] = None,
          _user: UserInfo = Depends(person("reviewer")), hub: HubState = Depends(hub_state)) -> Stats:
    now = time.time()
    with hub.database.read_session() as s:
        report = store_stats.stats(s, now, now - DAY_S if since is None else since, lane, port)
    return Stats.model_validate(report)
