"""Images for reviewers: the file as uploaded, and its raw samples for the viewer.

Both are content-addressed, so they carry `ETag: "<sha256>"`, and a request with a matching
`If-None-Match` gets 304 (after the login is checked). `Cache-Control: private, no-cache`: a browser
asks again each time, so a reviewer's cache shows nothing once the session has ended. The raw samples
come with their shape in `X-Width`, `X-Height`, `X-Bits` (8 or 16 per sample) and `X-Planes`
(layout in hub/pixels.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, BinaryIO

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import FileResponse, StreamingResponse

from contract.uplink import API
from hub.accounts import UserInfo
from hub.blobs import CHUNK, BlobError
from hub.image_check import ImageRefused, media_type_of
from hub.routes.errors import ApiError, errors
from hub.state import HubState, hub_state
from hub.web.auth import person

router = APIRouter(prefix=API, tags=["images"])
CACHE = "private, no-cache"
ShaPath = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="The image's SHA-256.")]
_BINARY = {"description": "The bytes.", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}


def _not_modified(request: Request, sha256: str) -> Response | None:
    sent = request.headers.get("if-none-match", "")
    if f'"{sha256}"' in [tag.strip().removeprefix("W/") for tag in sent.split(",")]:
        return Response(status_code=304, headers={"ETag": f'"{sha256}"', "Cache-Control": CACHE})
    return None


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK):
            yield chunk


@router.get("/images/{sha256}", response_class=Response, summary="An image file as uploaded",
            responses={200: _BINARY, 304: {"description": "Not modified."}, **errors(401, 403, 404)})
def image_file(sha256: ShaPath, request: Request, _user: UserInfo = Depends(person("reviewer")),
               hub: HubState = Depends(hub_state)) -> Response:
    unchanged = _not_modified(request, sha256)
    if unchanged is not None:
        return unchanged
    size = hub.blobs.size(sha256)
    if size is None:
        raise ApiError(404, "not_found", f"no image {sha256}")
    handle = hub.blobs.open(sha256)
    media_type = media_type_of(handle.read(132)) or "application/octet-stream"
    handle.seek(0)
    return StreamingResponse(_chunks(handle), media_type=media_type,
                             headers={"ETag": f'"{sha256}"', "Cache-Control": CACHE, "Content-Length": str(size)})


@router.get("/images/{sha256}/pixels", response_class=Response, summary="An image's raw little-endian samples",
            responses={200: {**_BINARY, "headers": {name: {"schema": {"type": "integer"}} for name in
                                                   ("X-Width", "X-Height", "X-Bits", "X-Planes")}},
                       304: {"description": "Not modified."}, **errors(401, 403, 404, 422)})
def image_pixels(sha256: ShaPath, request: Request, _user: UserInfo = Depends(person("reviewer")),
                 hub: HubState = Depends(hub_state)) -> Response:
    unchanged = _not_modified(request, sha256)
    if unchanged is not None:
        return unchanged
    try:
        raw = hub.pixels.pixels(hub.blobs, sha256)
    except BlobError:
        raise ApiError(404, "not_found", f"no image {sha256}") from None
    except ImageRefused as exc:
        raise ApiError(422, exc.code, f"the image does not decode to samples: {exc.detail}") from None
    return FileResponse(raw.path, media_type="application/octet-stream", headers={
        "ETag": f'"{sha256}"', "Cache-Control": CACHE, "X-Width": str(raw.width), "X-Height": str(raw.height),
        "X-Bits": str(raw.bits), "X-Planes": str(raw.planes)})
