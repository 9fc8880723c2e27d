"""The edge's uploads: images as resumable blobs, then the passage documents that name them.

The protocol is `contract/uplink.py`'s. Every answer other than success is a `Refusal`: 409 with the
hub's offset in `Upload-Offset` when a chunk was sent for another offset, 413 for a file over the
limit, 422 when the finished file is not what it claims (the partial upload is dropped), 503 with
Retry-After when another edge is uploading the same bytes, 409 with `missing` for a passage whose
images the hub does not hold whole for its lane, 403 for a passage of another lane. An edge sees only
its own uploads and its lane's blobs: anything else answers as if the hub knew nothing of it.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request, Response
from fastapi.concurrency import run_in_threadpool

from contract.uplink import (API, CHUNK_CONTENT_TYPE, MAX_CHUNK, UPLOAD_LENGTH, UPLOAD_OFFSET, BlobCreate,
                             BlobStatus, PassageAck, PassageUpload, canonical_sha256)
from hub import ingest
from hub.accounts import EdgeInfo
from hub.routes.errors import MAX_BIGINT, MAX_INT, ApiError, errors
from hub.state import HubState, hub_state
from hub.uploads import BUSY_RETRY_S, NoUpload, OffsetMismatch, TooLarge, UploadBusy, UploadRefused, UploadState
from hub.web.auth import edge_caller

log = logging.getLogger(__name__)

router = APIRouter(prefix=API, tags=["edge"])
ShaPath = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the bytes, lower-case hex.")]
_CHUNK_BODY = {"requestBody": {"required": True, "content": {
    CHUNK_CONTENT_TYPE: {"schema": {"type": "string", "format": "binary", "maxLength": MAX_CHUNK}}}}}


def _status(state: UploadState) -> BlobStatus:
    return BlobStatus(sha256=state.sha256, size=state.size, offset=state.offset, complete=state.complete)


def _refusal(exc: UploadRefused | TooLarge) -> ApiError:
    if isinstance(exc, TooLarge):
        return ApiError(413, "too_large", str(exc))
    return ApiError(422, exc.code, exc.detail)


@router.head("/blobs/{sha256}", responses=errors(401, 404, 422, s404="the hub holds no such image for the edge's "
                                                                  "lane, and the edge has no upload of it open"),
             summary="Where an image upload stands (Upload-Offset, Upload-Length)")
def blob_head(sha256: ShaPath, edge: EdgeInfo = Depends(edge_caller), hub: HubState = Depends(hub_state)) -> Response:
    try:
        state = hub.uploads.status(sha256, edge)
    except UploadRefused:
        state = None  # a full partial file refused while finishing is gone: the edge starts over
    if state is None:
        raise ApiError(404, "not_found", f"no upload of {sha256} for edge {edge.name}")
    return Response(status_code=200, headers={UPLOAD_OFFSET: str(state.offset), UPLOAD_LENGTH: str(state.size),
                                              "Cache-Control": "no-store"})


@router.post("/blobs/{sha256}", summary="Open an image upload (re-sending is harmless)",
             responses=errors(401, 413, 422, 503, s503="another edge is uploading these bytes: retry after "
                                                       "Retry-After seconds"))
def blob_open(sha256: ShaPath, body: BlobCreate, edge: EdgeInfo = Depends(edge_caller),
              hub: HubState = Depends(hub_state)) -> BlobStatus:
    try:
        return _status(hub.uploads.open(sha256, body.size, body.media_type, edge))
    except UploadBusy as exc:
        raise ApiError(503, "upload_busy", str(exc), headers={"Retry-After": str(BUSY_RETRY_S)}) from None
    except (UploadRefused, TooLarge) as exc:
        raise _refusal(exc) from None


async def _read_chunk(request: Request) -> bytearray:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_CHUNK:
        raise ApiError(413, "too_large", f"a chunk is at most {MAX_CHUNK} bytes, this one {declared}")
    received = bytearray()
    async for part in request.stream():
        received += part
        if len(received) > MAX_CHUNK:
            raise ApiError(413, "too_large", f"a chunk is at most {MAX_CHUNK} bytes")
    return received  # as it is: a copy of 8 MiB into bytes would only cost time


@router.patch("/blobs/{sha256}", openapi_extra=_CHUNK_BODY, summary="Append one chunk at the hub's offset",
              responses=errors(401, 404, 409, 413, 415, 422, s409="the chunk was sent for another offset than "
                               "the hub's (in header Upload-Offset)"))
async def blob_append(sha256: ShaPath, request: Request,
                      upload_offset: Annotated[int, Header(alias=UPLOAD_OFFSET, ge=0,
                                                           description="Where this chunk starts; must be the hub's offset.")],
                      edge: EdgeInfo = Depends(edge_caller), hub: HubState = Depends(hub_state)) -> BlobStatus:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != CHUNK_CONTENT_TYPE:
        raise ApiError(415, "unsupported_media_type", f"a chunk is sent as {CHUNK_CONTENT_TYPE}, not "
                                                      f"{content_type or 'nothing'}")
    chunk = await _read_chunk(request)
    try:
        state = await run_in_threadpool(hub.uploads.append, sha256, upload_offset, chunk, edge)
    except OffsetMismatch as exc:
        raise ApiError(409, "offset_mismatch", str(exc), headers={UPLOAD_OFFSET: str(exc.offset)}) from None
    except NoUpload as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    except (UploadRefused, TooLarge) as exc:
        raise _refusal(exc) from None
    return _status(state)


def _images_named(upload: PassageUpload) -> set[str]:
    return {image.sha256 for image in upload.images} | {sha for obs in upload.observations for sha in obs.images}


@router.put("/passages/{sha256}", summary="A passage document (idempotent by its canonical SHA-256)",
            responses=errors(401, 403, 409, 422, s403="the passage is of another lane than the edge's token",
                             s409="images the passage names are not held whole for its lane yet (in `missing`)",
                             s422="the body does not validate, or its canonical SHA-256 is not the path's"))
def passage_put(sha256: ShaPath, body: PassageUpload, edge: EdgeInfo = Depends(edge_caller),
                hub: HubState = Depends(hub_state)) -> PassageAck:
    actual = canonical_sha256(body)
    if actual != sha256:
        raise ApiError(422, "hash_mismatch", f"the document's canonical SHA-256 is {actual}, not {sha256}")
    if body.passage_id > MAX_BIGINT or body.revision > MAX_INT:
        raise ApiError(422, "invalid", f"passage_id is at most {MAX_BIGINT} and revision at most {MAX_INT}")
    if body.lane != edge.lane:
        raise ApiError(403, "wrong_lane", f"edge {edge.name} uploads for lane {edge.lane}, not {body.lane}")
    wanted = _images_named(body)
    with hub.database.read_session() as s:
        held = ingest.held_for_lane(s, sorted(wanted), edge.lane)  # another lane's images are not this one's
    missing = sorted(wanted - held)
    if missing:
        raise ApiError(409, "missing_images", f"{len(missing)} of the passage's {len(wanted)} images are not "
                                              f"held whole for lane {edge.lane} yet: upload them first",
                       missing=missing)
    try:
        with hub.database.session() as s:
            ack = ingest.record_passage(s, edge, body, sha256, time.time(), hub.policy)
    except ingest.WrongLane as exc:
        raise ApiError(403, "wrong_lane", str(exc)) from None
    log.info("passage %s/%d rev %d from %s: %s%s", body.lane, body.passage_id, body.revision, edge.name, ack.status,
             f", review item {ack.review_item}" if ack.review_item else "")
    return ack
