"""Stored media on the lane terminal: the file by its SHA-256, and an 8-bit preview of it.

The page shows whatever image a device's state names (`image_sha256`), whatever the kind. A
preview is made on request, off the event loop: any image OpenCV reads (8- or 16-bit PNG,
JPEG, TIFF; a 16-bit image windowed from its 0.5 and 99.5 percentiles), shrunk to fit a
bounded size, as PNG. A file that is not such an image has no preview (415), the file itself
is still served.
"""

from __future__ import annotations

import asyncio

import cv2
import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response

from edge.media import MediaError, MediaStore

MAX_PREVIEW_PX = 2048


def _sniff(head: bytes) -> str:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    return "application/octet-stream"


def preview_png(data: bytes, max_px: int) -> bytes | None:
    """An 8-bit PNG of `data` no larger than max_px on its longer side; None if it is no image."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        return None
    if image.dtype != np.uint8:
        low, high = np.percentile(image, (0.5, 99.5))
        scale = 255.0 / max(float(high - low), 1.0)
        image = np.clip((image.astype(np.float32) - low) * scale, 0, 255).astype(np.uint8)
    longer = max(image.shape[:2])
    if longer > max_px:
        factor = max_px / longer
        image = cv2.resize(image, (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor))),
                           interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".png", image)
    return encoded.tobytes() if ok else None


# Content-addressed, so the ETag is the hash and a browser that holds the bytes gets 304; but it
# asks every time, so a logged-out shared terminal does not show evidence from its cache.
CACHE = "private, no-cache"


def media_router(media: MediaStore | None) -> APIRouter:
    router = APIRouter()

    def stored(sha256: str) -> MediaStore:
        if media is None:
            raise HTTPException(404, "this edge keeps no media")
        try:
            if not media.has(sha256):
                raise HTTPException(404, f"no stored file {sha256}")
        except MediaError as exc:
            raise HTTPException(404, str(exc)) from None
        return media

    def cached(request: Request, tag: str) -> dict[str, str] | None:
        """The caching headers; None when the browser already holds this exact content (304)."""
        if request.headers.get("if-none-match") == tag:
            return None
        return {"Cache-Control": CACHE, "ETag": tag}

    @router.get("/api/media/{sha256}", response_model=None)
    async def file(sha256: str, request: Request) -> Response:
        store = stored(sha256)
        headers = cached(request, f'"{sha256.lower()}"')
        if headers is None:
            return Response(status_code=304, headers={"ETag": f'"{sha256.lower()}"', "Cache-Control": CACHE})
        path = store.path(sha256)
        with path.open("rb") as handle:
            kind = _sniff(handle.read(8))
        return FileResponse(path, media_type=kind, headers=headers)

    @router.get("/api/media/{sha256}/preview")
    async def preview(sha256: str, request: Request, max_px: int = Query(1024, ge=16, le=MAX_PREVIEW_PX)) -> Response:
        store = stored(sha256)
        tag = f'"{sha256.lower()}-{max_px}"'
        headers = cached(request, tag)
        if headers is None:
            return Response(status_code=304, headers={"ETag": tag, "Cache-Control": CACHE})
        data = await asyncio.to_thread(store.path(sha256).read_bytes)
        png = await asyncio.to_thread(preview_png, data, max_px)
        if png is None:
            raise HTTPException(415, "the stored file is not an image this terminal can preview")
        return Response(png, media_type="image/png", headers=headers)

    return router
