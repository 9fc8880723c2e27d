"""The lane terminal's passage API: the list (newest first, keyset-paged from the store), how many
wait in each state, one passage whole, the officer's release and hold, the day's figures, and the
single window's advance declarations.

Passages sit behind a login (the caller is the officer an action is recorded with); declarations
take the single window's bearer token or a supervisor's login. Actions are refused with the
reason (409) when the passage's state does not allow them.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from edge.passages.book import ActionRefused
from edge.passages.declarations import Declaration
from edge.passages.service import PassageService
from edge.users import User
from edge.web.auth import current_user, require_role

STATES = Literal["open", "analysing", "clear", "flagged", "released", "held", "reviewed"]


class ActionRequest(BaseModel):
    """An officer's release or hold."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field("", max_length=1000, description="Why; required with `confirmed` to release a flagged vehicle.")
    confirmed: bool = Field(False, description="The officer confirmed releasing a flagged or held vehicle.")
    version: int | None = Field(None, ge=0, description="The passage's version the officer saw; if it changed since "
                                "(a hub verdict, a reading), the action is refused (409) so that they look again.")


def passage_router(service: Callable[[], PassageService | None]) -> APIRouter:
    """Routes over the runtime's passage service (None until the runtime started: 503)."""
    router = APIRouter(dependencies=[Depends(current_user)])

    def passages() -> PassageService:
        found = service()
        if found is None:
            raise HTTPException(503, "passages not running")
        return found

    @router.get("/api/passages")
    async def passage_list(before: int | None = Query(None, ge=1), limit: int = Query(50, ge=1, le=200),
                           state: STATES | None = None) -> dict[str, Any]:
        return await passages().page(before, limit, state)

    @router.get("/api/passages/counts")
    async def passage_counts() -> dict[str, Any]:
        """How many passages wait in each state short of released, over the whole store (the page's
        "(N flagged)" title and filter counts; its list holds a page at a time)."""
        return {"by_state": await passages().waiting_counts()}

    @router.get("/api/passages/{passage_id}")
    async def passage_detail(passage_id: int) -> dict[str, Any]:
        found = await passages().detail(passage_id)
        if found is None:
            raise HTTPException(404, f"no passage {passage_id}")
        return found

    async def act(passage_id: int, action: str, body: ActionRequest, user: User) -> dict[str, Any]:
        try:
            return await passages().act(passage_id, action, user.name, body.note, body.confirmed, body.version)
        except KeyError:
            raise HTTPException(404, f"no passage {passage_id}") from None
        except ActionRefused as exc:
            raise HTTPException(409, str(exc)) from None

    @router.post("/api/passages/{passage_id}/release")
    async def release(passage_id: int, body: ActionRequest, user: User = Depends(current_user)) -> dict[str, Any]:
        return await act(passage_id, "release", body, user)

    @router.post("/api/passages/{passage_id}/hold")
    async def hold(passage_id: int, body: ActionRequest, user: User = Depends(current_user)) -> dict[str, Any]:
        return await act(passage_id, "hold", body, user)

    @router.get("/api/stats")
    async def stats(hours: float = Query(24.0, gt=0, le=24 * 31)) -> dict[str, Any]:
        return await passages().day_stats(time.time() - hours * 3600)

    return router


def declaration_router(service: Callable[[], PassageService | None]) -> APIRouter:
    """POST /api/declarations: the single window (bearer token) or a supervisor."""
    router = APIRouter()

    async def sender(request: Request) -> str:
        found = service()
        token = found.config.declarations_token if found is not None else None
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        if token and scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode()):
            return "single window"
        from edge.web.auth import current_session

        session = await current_session(request)
        user = await require_role("supervisor")(session.user)
        return f"supervisor {user.name}"

    @router.post("/api/declarations")
    async def declare(declaration: Declaration, source: str = Depends(sender)) -> dict[str, str]:
        found = service()
        if found is None:
            raise HTTPException(503, "passages not running")
        return {"id": declaration.id, "outcome": await found.declare(declaration, f"HTTP ({source})")}

    return router
