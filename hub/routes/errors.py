"""One error body for the whole API: the wire `Refusal` (code, detail in words, missing images).

An edge parses every refusal as a `Refusal`; the reviewer page shows `detail`. Routes raise
`ApiError`; FastAPI's own errors (a body that does not validate, an unknown path), a value the database
cannot hold (PostgreSQL takes no NUL character in text: 422 like any invalid input) and anything
unexpected are turned into the same shape here, the last as a 500 that says "internal error" and
is logged with its traceback, never sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contract.uplink import Refusal

log = logging.getLogger(__name__)

MAX_INT = 2**31 - 1  # ids, cursors, fences and revisions are 32-bit columns on PostgreSQL
MAX_BIGINT = 2**63 - 1
_WORDS = {400: "bad request", 401: "credentials missing or wrong", 403: "not allowed for this caller",
          404: "not found", 409: "conflict with the hub's state", 413: "too large", 415: "wrong content type",
          422: "refused", 429: "too many attempts", 500: "internal error", 503: "busy: retry later"}
_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid", 429: "throttled",
          500: "internal", 503: "unavailable"}


class ApiError(Exception):
    """An answer other than success: its status, a `Refusal` body and any headers."""

    def __init__(self, status: int, code: str, detail: str, *, missing: Iterable[str] = (),
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.refusal, self.headers = status, Refusal(code=code, detail=detail,
                                                                   missing=list(missing)), dict(headers or {})


def errors(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=`: each status answers a Refusal (`descriptions` as `s409="..."`)."""
    return {status: {"model": Refusal, "description": descriptions.get(f"s{status}", _WORDS.get(status, "error"))}
            for status in statuses}


def _answer(status: int, code: str, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    body = Refusal(code=code, detail=detail).model_dump(mode="json")
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _validation_words(exc: RequestValidationError) -> str:
    parts = []
    for item in exc.errors()[:20]:
        loc = ".".join(str(p) for p in item.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {str(item.get('msg', 'invalid')).removeprefix('Value error, ')}")
    return "; ".join(parts) or "the request does not validate"


def _openapi_with_refusals(app: FastAPI) -> Any:
    """FastAPI's schema, its automatic 422s (HTTPValidationError) said as what `invalid` answers: a Refusal."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            for methods in schema.get("paths", {}).values():
                for operation in methods.values():
                    answer = operation.get("responses", {}).get("422")
                    content = (answer or {}).get("content", {}).get("application/json", {})
                    if content.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                        content["schema"] = {"$ref": "#/components/schemas/Refusal"}
                        answer["description"] = "The request does not validate (code invalid)."
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.setdefault("Refusal", Refusal.model_json_schema(ref_template="#/components/schemas/{model}"))
            for unused in ("HTTPValidationError", "ValidationError"):
                components.pop(unused, None)
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


def install_error_handlers(app: FastAPI) -> None:
    """Every error the app answers is a Refusal (the OpenAPI says so too); no traceback leaves the process."""
    app.openapi = _openapi_with_refusals(app)  # type: ignore[method-assign]

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.refusal.model_dump(mode="json"), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else _WORDS.get(exc.status_code, "error")
        return _answer(exc.status_code, _CODES.get(exc.status_code, "error"), detail, exc.headers)

    @app.exception_handler(DataError)
    async def unstorable(request: Request, exc: DataError) -> JSONResponse:
        log.warning("refused on %s %s: the database cannot hold a value (%s)", request.method, request.url.path,
                    type(exc.orig).__name__ if exc.orig is not None else "DataError")
        return _answer(422, "invalid", "a value the hub's database cannot hold (a NUL character, a number out "
                                       "of range)")

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _answer(422, "invalid", _validation_words(exc))

    app.add_middleware(_InternalErrors)


class _InternalErrors:
    """ASGI middleware: an exception no handler took is logged and answered 500 "internal error"."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            log.exception("internal error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await _answer(500, "internal", "internal error")(scope, receive, send)
