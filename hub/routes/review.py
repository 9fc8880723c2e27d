"""The review queue over HTTP: list, claim, one item, renew, release, verdict, re-checks, DICOS export.

A claim is a lease with a fencing token (hub/queue.py): renew, release and verdict carry the
claim's `fence` and are refused 409 (`stale_claim`) once it is not the caller's current one. A
reviewer or supervisor may review; only a supervisor re-checks, and never their own verdict.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from contract.uplink import API
from hub import queue
from hub.accounts import UserInfo
from hub.blobs import BlobError
from hub.routes.errors import MAX_INT, ApiError, errors
from hub.routes.review_models import (ClaimOut, FenceBody, ItemDetailOut, QueuePage, RecheckBody, RecheckDone,
                                      RecheckPage, VerdictBody, VerdictDone, claim_out, detail_out, item_out)
from hub.state import HubState, hub_state
from hub.web.auth import person

log = logging.getLogger(__name__)
router = APIRouter(prefix=API, tags=["review"])
ItemId = Annotated[int, Path(ge=1, le=MAX_INT, description="The review item's id.")]
reviewer = person("reviewer")
supervisor = person("supervisor")


@contextmanager
def _answers() -> Iterator[None]:
    """The store's refusals as HTTP answers."""
    try:
        yield
    except queue.NoSuchItem as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    except queue.StaleClaim as exc:
        raise ApiError(409, "stale_claim", str(exc)) from None
    except queue.NotAllowed as exc:
        raise ApiError(409, "not_allowed", str(exc)) from None
    except ValueError as exc:
        raise ApiError(422, "invalid", str(exc)) from None


@router.get("/queue", responses=errors(401, 403), summary="Items not yet decided, in queue order")
def queue_page(_user: UserInfo = Depends(reviewer), hub: HubState = Depends(hub_state)) -> QueuePage:
    now = time.time()
    with hub.database.read_session() as s:
        items = queue.list_queue(s, now)
        depth, oldest = queue.queue_depth(s, now)
    return QueuePage(items=[item_out(i) for i in items], depth=depth, oldest_age_s=oldest, now=now)


@router.post("/queue/claim", response_model=ClaimOut, summary="Claim the next item by priority",
             responses={204: {"description": "Nothing to claim."}, **errors(401, 403)})
def claim_next(user: UserInfo = Depends(reviewer), hub: HubState = Depends(hub_state)) -> ClaimOut | Response:
    with hub.database.session() as s:
        claim = queue.claim_next(s, user.name, time.time(), hub.policy)
    if claim is None:
        return Response(status_code=204)
    return claim_out(claim)


@router.post("/review/{item_id}/claim", responses=errors(401, 403, 404, 409, s409="another reviewer holds it, "
                                                          "or it is decided"), summary="Claim a chosen item")
def claim_item(item_id: ItemId, user: UserInfo = Depends(reviewer), hub: HubState = Depends(hub_state)) -> ClaimOut:
    with _answers(), hub.database.session() as s:
        return claim_out(queue.claim_item(s, item_id, user.name, time.time(), hub.policy))


@router.get("/review/{item_id}", responses=errors(401, 403, 404), summary="One item with its evidence")
def item_detail(item_id: ItemId, _user: UserInfo = Depends(reviewer), hub: HubState = Depends(hub_state)) -> ItemDetailOut:
    with _answers(), hub.database.read_session() as s:
        detail = queue.item_detail(s, item_id)
    return detail_out(detail, time.time())


@router.post("/review/{item_id}/renew", responses=errors(401, 403, 404, 409, 422, s409="the claim is stale"),
             summary="Extend the lease of the caller's claim")
def renew(item_id: ItemId, body: FenceBody, user: UserInfo = Depends(reviewer),
          hub: HubState = Depends(hub_state)) -> ClaimOut:
    with _answers(), hub.database.session() as s:
        return claim_out(queue.renew(s, item_id, body.fence, user.name, time.time(), hub.policy))


@router.post("/review/{item_id}/release", status_code=204, response_class=Response,
             responses=errors(401, 403, 404, 409, 422, s409="the claim is stale"), summary="Give the item back")
def release(item_id: ItemId, body: FenceBody, user: UserInfo = Depends(reviewer),
            hub: HubState = Depends(hub_state)) -> Response:
    with _answers(), hub.database.session() as s:
        queue.release(s, item_id, body.fence, user.name, time.time())
    return Response(status_code=204)


@router.post("/review/{item_id}/verdict", responses=errors(401, 403, 404, 409, 422, s409="the claim is stale",
                                                           s422="no note with a suspicious verdict, or a bad body"),
             summary="The holder's verdict")
def verdict(item_id: ItemId, body: VerdictBody, user: UserInfo = Depends(reviewer),
            hub: HubState = Depends(hub_state)) -> VerdictDone:
    with _answers(), hub.database.session() as s:
        cursor = queue.decide(s, item_id, body.fence, user.name, body.verdict, body.note, time.time(), hub.policy)
    hub.verdict_signal.notify()  # committed: the lane's long poll in this process answers now
    return VerdictDone(cursor=cursor)


@router.get("/rechecks", responses=errors(401, 403), summary="Items waiting for a supervisor's re-check")
def rechecks(_user: UserInfo = Depends(supervisor), hub: HubState = Depends(hub_state)) -> RecheckPage:
    with hub.database.read_session() as s:
        items = queue.pending_rechecks(s)
    return RecheckPage(items=[item_out(i) for i in items], now=time.time())


@router.post("/review/{item_id}/recheck", responses=errors(401, 403, 404, 409, 422, s409="not waiting for a "
                                                           "re-check, or the supervisor's own verdict"),
             summary="Confirm or overturn a verdict")
def recheck(item_id: ItemId, body: RecheckBody, user: UserInfo = Depends(supervisor),
            hub: HubState = Depends(hub_state)) -> RecheckDone:
    with _answers(), hub.database.session() as s:
        cursor = queue.recheck(s, item_id, user.name, body.verdict, body.note, time.time())
    if cursor is not None:  # an overturn: a new verdict for the lane, committed
        hub.verdict_signal.notify()
    return RecheckDone(outcome="confirmed" if cursor is None else "overturned", cursor=cursor)


@router.get("/review/{item_id}/dicos", response_class=Response, summary="One image of the item as DICOS, zipped",
            responses={200: {"description": "A zip: the DICOS DX image, the machine TDR, one operator TDR per "
                                            "verdict, manifest.json.",
                             "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
                       **errors(401, 403, 404, 422)})
def dicos(item_id: ItemId,
          image: Annotated[str | None, Query(pattern=r"^[0-9a-f]{64}$",
                                             description="Which of the passage's images (default: the first).")] = None,
          user: UserInfo = Depends(reviewer), hub: HubState = Depends(hub_state)) -> Response:
    from hub.dicos_export import ExportRefused, export_zip  # pydicom's writers load only when exporting

    with _answers(), hub.database.read_session() as s:
        detail = queue.item_detail(s, item_id)
    images = detail.passage.get("images", [])
    chosen = next((i for i in images if image is None or i["sha256"] == image), None)
    if chosen is None:
        raise ApiError(404, "not_found", f"item {item_id}'s passage has no image {image}" if image
                       else f"item {item_id}'s passage has no images")
    try:
        with hub.blobs.open(chosen["sha256"]) as handle:
            data = handle.read()
    except BlobError:
        raise ApiError(404, "not_found", f"image {chosen['sha256']} is not stored") from None
    try:
        archive = export_zip(data, chosen["media_type"], detail.passage, chosen["sha256"], detail.verdicts)
    except ExportRefused as exc:
        raise ApiError(422, "export_refused", str(exc)) from None
    log.info("item %s: DICOS export of image %s by %s", item_id, chosen["sha256"], user.name)
    name = f"kouan-{detail.item.lane}-{detail.item.passage_id}-{chosen['sha256'][:12]}.zip"
    return Response(archive, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
