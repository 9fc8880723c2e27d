"""Logins on the lane terminal: who is calling, in what role, and the CSRF check.

`POST /api/login` checks a name and password (edge/users.py) and sets the session cookie
`kouan_session` (HttpOnly, SameSite=Strict, Path=/, Secure over https); `POST /api/logout` ends
the session; `GET /api/me` says who is logged in. The dependency `current_user` refuses a caller
without a live session (401, "login required") and `require_role("supervisor")` one whose role is
too low (403): roles are checked here, on the server, never only on the page.

CSRF has two independent defences. The cookie is SameSite=Strict, so a browser does not send it
on a request another site starts. And every unsafe request (POST, PUT, PATCH, DELETE) but the
login itself must carry header `X-CSRF-Token` equal to its session's own random token
(synchronizer token, compared with `hmac.compare_digest`), which a page learns from the login
answer or `GET /api/me`, answers another origin cannot read; else 403.

After 5 failed logins for one name within 5 minutes the name is refused for 60 s (429).
A machine (Prometheus) reads `/metrics` with `Authorization: Bearer <[web] metrics_token>`.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from edge import users
from edge.store import AsyncStore
from edge.users import ROLES, LoginThrottle, Session, SessionPolicy, User

log = logging.getLogger(__name__)

COOKIE = "kouan_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_RANK = {role: rank for rank, role in enumerate(ROLES)}  # a supervisor may do what an officer may


class LoginRequest(BaseModel):
    """What the login form sends."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, description="The user's name, as `kouan user add` made it.")
    password: str = Field(min_length=1, max_length=1024, description="The user's password.")


class Me(BaseModel):
    """Who is logged in, and the CSRF token their page sends on unsafe requests."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The user's name.")
    role: str = Field(description="officer or supervisor.")
    csrf: str = Field(description="Send it as header X-CSRF-Token on every POST, PUT, PATCH and DELETE.")


@dataclass
class Auth:
    """What the dependencies need; kept on `app.state.auth` (see `install_auth`)."""

    store: AsyncStore | None
    policy: SessionPolicy = field(default_factory=SessionPolicy)
    metrics_token: str | None = None
    throttle: LoginThrottle = field(default_factory=LoginThrottle)

    async def session(self, token: str, refresh: bool = True) -> Session | None:
        if self.store is None:
            return None
        return await self.store.call(users.session_user, token, time.time(), self.policy.idle_s, refresh)

    async def still_live(self, session: Session) -> bool:
        """Whether a session seen before is still live (not counted as a use: a page left open on
        the live stream is logged out after the idle timeout all the same)."""
        if self.store is None:
            return False
        found = await self.store.call(users.session_of_digest, session.token_sha256, time.time(),
                                      self.policy.idle_s, False)
        return found is not None


def _auth(request: Request) -> Auth:
    auth: Auth = request.app.state.auth
    return auth


async def current_session(request: Request) -> Session:
    """The caller's live session (401 without one); an unsafe request must also carry its CSRF token (403)."""
    token = request.cookies.get(COOKIE)
    session = await _auth(request).session(token) if token else None
    if session is None:
        raise HTTPException(401, "login required")
    if request.method in UNSAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise HTTPException(403, "CSRF token missing or wrong")
    return session


async def current_user(session: Session = Depends(current_session)) -> User:
    """The logged-in user; put it on every data route (401 without a login)."""
    return session.user


def require_role(role: str) -> Callable[..., Awaitable[User]]:
    """A dependency that lets through a user of `role` or higher (403 otherwise)."""
    if role not in _RANK:
        raise ValueError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")

    async def has_role(user: User = Depends(current_user)) -> User:
        if _RANK.get(user.role, -1) < _RANK[role]:
            raise HTTPException(403, f"this needs a {role} login")
        return user

    return has_role


async def metrics_reader(request: Request) -> None:
    """/metrics: the configured bearer token (a machine), or else a logged-in user."""
    expected = _auth(request).metrics_token
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    if expected and scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), expected.encode()):
        return
    await current_session(request)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def auth_router() -> APIRouter:
    router = APIRouter()

    @router.post("/api/login")
    async def login(body: LoginRequest, request: Request, response: Response) -> Me:
        auth = _auth(request)
        left = auth.throttle.locked_for(body.name, time.monotonic())
        if left > 0:
            wait = math.ceil(left)
            raise HTTPException(429, f"too many failed logins for {body.name}: try again in {wait} s",
                                headers={"Retry-After": str(wait)})
        if auth.store is None:
            raise HTTPException(503, "this terminal keeps no users")
        opened = await users.login(auth.store, body.name, body.password, auth.policy)
        if opened is None:
            locked = auth.throttle.failed(body.name, time.monotonic())
            log.warning("login failed for user %r from %s%s", body.name, _client(request),
                        f"; the name is refused for {auth.throttle.lock_s:.0f} s" if locked else "")
            raise HTTPException(401, "wrong name or password")
        auth.throttle.succeeded(body.name)
        old = request.cookies.get(COOKIE)
        if old:  # the browser's previous session ends: one browser, one session
            await auth.store.call(users.logout, old)
        token, session = opened
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/",
                            secure=request.url.scheme == "https")
        log.info("user %s (%s) logged in from %s", session.user.name, session.user.role, _client(request))
        return Me(name=session.user.name, role=session.user.role, csrf=session.csrf)

    @router.post("/api/logout")
    async def logout(request: Request, response: Response,
                     session: Session = Depends(current_session)) -> dict[str, str]:
        auth = _auth(request)
        if auth.store is not None:
            await auth.store.call(users.logout, request.cookies.get(COOKIE, ""))
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        log.info("user %s logged out", session.user.name)
        return {"status": "logged out"}

    @router.get("/api/me")
    async def me(session: Session = Depends(current_session)) -> Me:
        return Me(name=session.user.name, role=session.user.role, csrf=session.csrf)

    return router


def install_auth(app: FastAPI, auth: Auth) -> None:
    """Give `app` its logins: the state the dependencies read, and the login routes."""
    app.state.auth = auth
    app.include_router(auth_router())
