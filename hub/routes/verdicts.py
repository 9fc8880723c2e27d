"""The verdict feed of the calling edge's lane: verdicts after a cursor, long-polled.

With none after the cursor the answer waits up to `wait` seconds (capped at the contract's
`MAX_WAIT_S`). A verdict committed in this process wakes it at once (hub/verdict_signal.py, set by
the verdict and re-check routes); one written by another hub process is seen by looking at the
database every `POLL_S`. It ends early when the edge hangs up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from contract.uplink import API, MAX_WAIT_S, VerdictPage, VerdictWire
from hub import feed
from hub.accounts import EdgeInfo
from hub.routes.errors import MAX_INT, errors
from hub.state import HubState, hub_state
from hub.web.auth import edge_caller

router = APIRouter(prefix=API, tags=["edge"])
POLL_S = 0.5
PAGE = 100


def _after(hub: HubState, lane: str, after: int) -> list[VerdictWire]:
    with hub.database.read_session() as s:
        return feed.verdicts_after(s, lane, after, limit=PAGE)


@router.get("/verdicts", responses=errors(401, 422), summary="The lane's verdicts after a cursor (long poll)")
async def verdicts(request: Request,
                   after: Annotated[int, Query(ge=0, le=MAX_INT, description="The last cursor the edge stored (0: from the start).")] = 0,
                   wait: Annotated[float, Query(ge=0, description=f"Seconds to wait for one when there is none (at most {MAX_WAIT_S:g}; more is taken as that).")] = 0.0,
                   edge: EdgeInfo = Depends(edge_caller), hub: HubState = Depends(hub_state)) -> VerdictPage:
    deadline = time.monotonic() + min(wait, MAX_WAIT_S)
    with hub.verdict_signal.listen() as woken:
        while True:
            woken.clear()  # before the look: a verdict committed after it sets it again
            found = await run_in_threadpool(_after, hub, edge.lane, after)
            left = deadline - time.monotonic()
            if found or left <= 0 or await request.is_disconnected():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), min(POLL_S, left))
    return VerdictPage(verdicts=found, cursor=found[-1].cursor if found else after)
