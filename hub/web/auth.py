"""Who is calling the hub: a person with a session cookie, or an edge with its bearer token.

A person logs in (`POST /api/v1/login`, routes/session.py) and gets cookie `kouan_hub_session`
(HttpOnly, SameSite=Strict, Path=/, Secure over https); the store keeps only the token's SHA-256.
Every unsafe request (POST, PUT, PATCH, DELETE) on a cookie session must also carry header
`X-CSRF-Token` equal to the session's own random token (compared in constant time), which the page
learns from the login answer or `GET /me`; else 403. Roles are checked here, on the server:
`person("reviewer")` lets reviewers and supervisors through, `person("supervisor")` supervisors,
`person("admin")` admins only (an admin does accounts and the audit log, nothing of the review).
No credentials is 401, the wrong role 403.

An edge sends `Authorization: Bearer <token>` (`kouan hub edge add` printed it once); a revoked or
unknown token is 401. Prometheus reads `/metrics` with `Authorization: Bearer <[web] metrics_token>`,
or an admin with their session.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from functools import lru_cache

from fastapi import Depends, Request

from hub import accounts
from hub.accounts import ROLES, EdgeInfo, SessionInfo, UserInfo
from hub.routes.errors import ApiError
from hub.state import HubState, hub_state

COOKIE = "kouan_hub_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ALLOWED: dict[str, frozenset[str]] = {
    "any": frozenset(ROLES),
    "reviewer": frozenset({"reviewer", "supervisor"}),
    "supervisor": frozenset({"supervisor"}),
    "admin": frozenset({"admin"}),
}


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def current_session(request: Request, hub: HubState = Depends(hub_state)) -> SessionInfo:
    """The caller's live session (401 without one); an unsafe request must carry its CSRF token (403)."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise ApiError(401, "unauthorized", "login required")
    web = hub.config.web
    with hub.database.session() as s:
        session = accounts.session_for(s, token, time.time(), web.session_idle_s, web.session_lifetime_s)
    if session is None:
        raise ApiError(401, "unauthorized", "login required: the session ended or is unknown")
    if request.method in UNSAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise ApiError(403, "csrf", f"header {CSRF_HEADER} missing or wrong")
    return session


@lru_cache(maxsize=None)
def person(role: str) -> Callable[..., UserInfo]:
    """A dependency that lets through a logged-in person whose role may act as `role` (403 otherwise)."""
    if role not in ALLOWED:
        raise ValueError(f"unknown role {role!r} (roles: {', '.join(ALLOWED)})")
    allowed = ALLOWED[role]

    def logged_in_person(session: SessionInfo = Depends(current_session)) -> UserInfo:
        if session.user.role not in allowed:
            raise ApiError(403, "forbidden", f"this needs a login as {' or '.join(sorted(allowed))}, "
                                             f"not as {session.user.role}")
        return session.user

    logged_in_person.__name__ = f"person_{role}"
    return logged_in_person


def edge_caller(request: Request, hub: HubState = Depends(hub_state)) -> EdgeInfo:
    """The edge whose bearer token the request carries (401 without a live one)."""
    token = _bearer(request)
    challenge = {"WWW-Authenticate": "Bearer"}
    if token is None:
        raise ApiError(401, "unauthorized", "an edge token is required (Authorization: Bearer <token>)",
                       headers=challenge)
    with hub.database.read_session() as s:
        edge = accounts.edge_for_token(s, token)
    if edge is None:
        raise ApiError(401, "unauthorized", "the edge token is unknown or revoked", headers=challenge)
    return edge


def metrics_reader(request: Request, hub: HubState = Depends(hub_state)) -> None:
    """/metrics: the configured bearer token (a machine), or else an admin's session."""
    expected = hub.config.web.metrics_token
    sent = _bearer(request)
    if expected and sent is not None and hmac.compare_digest(sent.encode(), expected.encode()):
        return
    session = current_session(request, hub)
    if session.user.role != "admin":
        raise ApiError(403, "forbidden", "metrics need the metrics token or an admin login")
