"""GET /api/uplink: how the lane's uplink to the image-review hub stands, for the terminal (behind
a login like every data route): what waits in the outbox and since when, what the hub refused,
whether it answers, the last verdict cursor applied."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from edge.uplink.link import Uplink
from edge.web.auth import current_user


class RefusedItem(BaseModel):
    """One item the hub refused for good."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="blob (an image) or passage (a document).")
    key: str = Field(description="The image's SHA-256, or the passage id.")
    passage_id: int = Field(description="The passage it belongs to.")
    revision: int = Field(description="The passage's revision when it was queued.")
    refused_at: float = Field(description="When (epoch seconds).")
    status: int = Field(description="The hub's HTTP status (0: refused by the edge itself, e.g. the file is gone).")
    code: str = Field(description="The hub's refusal code (bad_magic, truncated, missing_images, ...).")
    detail: str = Field(description="The reason in words.")
    missing: list[str] = Field(description="Images the hub said it lacks.")


class UplinkStatus(BaseModel):
    """The uplink as the terminal shows it; `configured` false: this lane has no [uplink]."""

    model_config = ConfigDict(extra="forbid")

    configured: bool = Field(description="Whether this lane uploads to a hub.")
    hub_url: str | None = Field(None, description="The hub's address.")
    depth: int = Field(0, description="Items waiting for the hub's confirmation.")
    blobs: int = Field(0, description="Of which images.")
    passages: int = Field(0, description="Of which passage documents.")
    oldest_age_s: float | None = Field(None, description="Seconds the oldest item has waited (none waits: null).")
    refused: int = Field(0, description="Items the hub refused for good (kept, listed in refused_items).")
    refused_items: list[RefusedItem] = Field(default_factory=list, description="The newest refusals (at most 10).")
    hub_reachable: bool | None = Field(None, description="Whether the hub answered the last request (null: not asked yet).")
    last_error: str = Field("", description="The last failure or refusal, in words.")
    last_error_at: float | None = Field(None, description="When it happened (epoch seconds).")
    last_ok_at: float | None = Field(None, description="When the hub last answered (epoch seconds).")
    verdict_cursor: int = Field(0, description="The last verdict cursor applied.")
    verdicts_received: int = Field(0, description="Verdicts received since the edge started.")
    bytes_sent: int = Field(0, description="Bytes sent to the hub since the edge started.")


def uplink_router(uplink: Callable[[], Uplink | None]) -> APIRouter:
    router = APIRouter(dependencies=[Depends(current_user)])

    @router.get("/api/uplink", response_model=UplinkStatus)
    async def uplink_status() -> UplinkStatus:
        found = uplink()
        if found is None:
            return UplinkStatus(configured=False)
        return UplinkStatus.model_validate(await found.status())

    return router
