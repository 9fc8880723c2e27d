"""The hub's edge API over HTTP (`contract.uplink`), as typed calls, with every answer sorted into
what the worker does next:

- the wanted model (`BlobStatus`, `PassageAck`, `VerdictPage`);
- `Unreachable`: try again later (no connection, a timeout, 5xx, 429, 408, 401 and 403 (a wrong
  token, or a lane id that is not the token's: the edge's configuration, not the item's fault; every
  item would be refused alike, and once fixed they must still go), an answer not in the contract's
  shape);
- `OffsetConflict`: a PATCH at an offset the hub does not have; its offset comes with it;
- `MissingImages`: a passage whose images the hub does not hold whole (409 with a Refusal);
- `Refused`: any other 4xx, for good, with the hub's `Refusal`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable
from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from contract.uplink import (BLOB, CHUNK_CONTENT_TYPE, PASSAGE, UPLOAD_LENGTH, UPLOAD_OFFSET, VERDICTS, BlobCreate,
                             BlobStatus, PassageAck, Refusal, VerdictPage)

M = TypeVar("M", bound=BaseModel)
TRANSIENT_STATUS = frozenset({401, 403, 408, 425, 429})


class HubError(Exception):
    """Something the hub (or the way to it) answered other than what was asked for."""


class Unreachable(HubError):
    """Not now: the hub or the link is away or unwell; the message says how."""


class Refused(HubError):
    """The hub refuses this item for good."""

    def __init__(self, status: int, refusal: Refusal) -> None:
        super().__init__(f"{status} {refusal.code}: {refusal.detail}")
        self.status = status
        self.refusal = refusal


class MissingImages(Refused):
    """A passage whose images (`refusal.missing`) the hub does not hold whole."""


class OffsetConflict(HubError):
    """The hub's upload is at `offset`, not where the edge sent from."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"the hub's upload is at offset {offset}")
        self.offset = offset


def refusal_of(response: httpx.Response) -> Refusal:
    """The hub's Refusal, or one made from FastAPI's {"detail": ...} or the body's text."""
    try:
        body = response.json()
    except ValueError:
        return Refusal(code=f"http_{response.status_code}", detail=response.text[:500] or response.reason_phrase)
    try:
        return Refusal.model_validate(body)
    except ValidationError:
        pass
    detail = body.get("detail") if isinstance(body, dict) else body
    if isinstance(detail, dict):
        try:
            return Refusal.model_validate(detail)
        except ValidationError:
            pass
    text = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False)[:500]
    return Refusal(code=f"http_{response.status_code}", detail=text)


class HubClient:
    """One edge's calls to the hub (bearer token), on one `httpx.AsyncClient`."""

    def __init__(self, base_url: str, token: str, timeout_s: float,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.timeout_s = timeout_s
        self._http = httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {token}"},
                                       timeout=httpx.Timeout(timeout_s), transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        try:
            response = await self._http.request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise Unreachable(f"{method} {url}: {type(exc).__name__}: {exc}".rstrip(": ")) from exc
        if response.status_code >= 500 or response.status_code in TRANSIENT_STATUS:
            refusal = refusal_of(response)
            raise Unreachable(f"{method} {url}: {response.status_code} {refusal.detail}"[:500])
        return response

    @staticmethod
    def _model(model: type[M], response: httpx.Response) -> M:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise Unreachable(f"the hub's answer is not a {model.__name__}: {exc}"[:500]) from exc

    def _refused(self, response: httpx.Response) -> Refused:
        return Refused(response.status_code, refusal_of(response))

    async def head_blob(self, sha256: str) -> tuple[int, int] | None:
        """(offset, length) of what the hub holds of the blob; None when it knows nothing of it."""
        response = await self._send("HEAD", BLOB.format(sha256=sha256))
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._refused(response)
        try:
            return int(response.headers[UPLOAD_OFFSET]), int(response.headers[UPLOAD_LENGTH])
        except (KeyError, ValueError) as exc:
            raise Unreachable(f"HEAD of blob {sha256} without {UPLOAD_OFFSET}/{UPLOAD_LENGTH}") from exc

    async def open_blob(self, sha256: str, create: BlobCreate) -> BlobStatus:
        response = await self._send("POST", BLOB.format(sha256=sha256), json=create.model_dump(mode="json"))
        if not response.is_success:
            raise self._refused(response)
        return self._model(BlobStatus, response)

    async def patch_blob(self, sha256: str, offset: int, length: int, body: AsyncIterable[bytes]) -> BlobStatus:
        """Append `length` bytes (streamed from `body`) at `offset`."""
        headers = {UPLOAD_OFFSET: str(offset), "Content-Type": CHUNK_CONTENT_TYPE, "Content-Length": str(length)}
        response = await self._send("PATCH", BLOB.format(sha256=sha256), content=body, headers=headers)
        offset = response.headers.get(UPLOAD_OFFSET, "")
        if response.status_code == 409 and offset.isdigit():
            raise OffsetConflict(int(offset))
        if not response.is_success:
            raise self._refused(response)
        return self._model(BlobStatus, response)

    async def put_passage(self, sha256: str, document: bytes) -> PassageAck:
        response = await self._send("PUT", PASSAGE.format(sha256=sha256), content=document,
                                    headers={"Content-Type": "application/json"})
        if response.status_code == 409:
            refusal = refusal_of(response)
            if refusal.missing:
                raise MissingImages(409, refusal)
            raise Refused(409, refusal)
        if not response.is_success:
            raise self._refused(response)
        return self._model(PassageAck, response)

    async def verdicts(self, after: int, wait_s: float) -> VerdictPage:
        """The lane's verdicts after `after`, waiting up to `wait_s` at the hub for one."""
        response = await self._send("GET", VERDICTS, params={"after": after, "wait": wait_s},
                                    timeout=httpx.Timeout(self.timeout_s + wait_s))
        if not response.is_success:
            raise self._refused(response)
        return self._model(VerdictPage, response)
