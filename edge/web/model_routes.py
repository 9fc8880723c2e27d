"""The lane terminal's lane-model route: a supervisor points a device that learns its normal back
at the model it ran before (`kouan model rollback` from the terminal), with a reason that goes
into the device's model history. Officers see the model in the device strip but may not change it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from edge.normal.lane_models import LaneModelError
from edge.users import User
from edge.web.auth import current_user, require_role

# (device, by, reason, the version the supervisor saw) -> {device, from, current}
Rollback = Callable[[str, str, str, str], Awaitable[dict[str, Any]]]


class RollbackRequest(BaseModel):
    """A supervisor's rollback of a device's lane model."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="Why the device goes back to its model before "
                        "(kept in its history beside the supervisor's name).")
    current: str = Field(min_length=1, max_length=64, description="The version the supervisor saw running (e.g. "
                         "\"v2\"); refused (409) if another was adopted meanwhile, so a rollback never undoes a "
                         "model nobody looked at.")


def lane_model_router(rollback: Callable[[], Rollback | None]) -> APIRouter:
    """POST /api/devices/{id}/lane-model/rollback over the runtime's rollback (None: 503)."""
    router = APIRouter(dependencies=[Depends(current_user)])

    @router.post("/api/devices/{device_id}/lane-model/rollback")
    async def roll_back(device_id: str, body: RollbackRequest,
                        user: User = Depends(require_role("supervisor"))) -> dict[str, Any]:
        act = rollback()
        if act is None:
            raise HTTPException(503, "the lane is not running")
        reason = body.reason.strip()
        if not reason:
            raise HTTPException(422, "a rollback needs a reason")
        try:
            return await act(device_id, f"supervisor {user.name}", reason, body.current)
        except KeyError:
            raise HTTPException(404, f"{device_id} does not learn its normal here ([normal] devices)") from None
        except LaneModelError as exc:
            raise HTTPException(409, str(exc)) from None

    return router
