"""A person's session: log in (the cookie and the CSRF token), log out, who am I.

After 5 failed logins for one name within 5 minutes the name is refused for 60 s (429 with
Retry-After). The password check runs in a read-only transaction: its deliberate slowness holds
no write lock.
"""

from __future__ import annotations

import logging
import math
import time

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from contract.uplink import API
from hub import accounts
from hub.accounts import SessionInfo
from hub.routes.errors import ApiError, errors
from hub.state import HubState, hub_state
from hub.web.auth import COOKIE, current_session

log = logging.getLogger(__name__)
router = APIRouter(prefix=API, tags=["session"])


class LoginRequest(BaseModel):
    """What the login form sends."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, description="The person's name, as `kouan hub user add` made it.")
    password: str = Field(min_length=1, max_length=1024, description="Their password.")


class Me(BaseModel):
    """Who is logged in, and the CSRF token their page sends on unsafe requests."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The person's name.")
    role: str = Field(description="reviewer, supervisor or admin.")
    csrf: str = Field(description="Send it as header X-CSRF-Token on every POST, PUT, PATCH and DELETE.")


def _me(session: SessionInfo) -> Me:
    return Me(name=session.user.name, role=session.user.role, csrf=session.csrf)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/login", responses=errors(401, 422, 429), summary="Log in: sets the session cookie")
def login(body: LoginRequest, request: Request, response: Response, hub: HubState = Depends(hub_state)) -> Me:
    left = hub.throttle.locked_for(body.name, time.monotonic())
    if left > 0:
        wait = math.ceil(left)
        raise ApiError(429, "throttled", f"too many failed logins for {body.name}: try again in {wait} s",
                       headers={"Retry-After": str(wait)})
    with hub.database.read_session() as s:
        user = accounts.authenticate(s, body.name, body.password)
    if user is None:
        locked = hub.throttle.failed(body.name, time.monotonic())
        log.warning("hub login failed for %r from %s%s", body.name, _client(request),
                    f"; the name is refused for {hub.throttle.lock_s:.0f} s" if locked else "")
        raise ApiError(401, "unauthorized", "wrong name or password")
    hub.throttle.succeeded(body.name)
    with hub.database.session() as s:
        old = request.cookies.get(COOKIE)
        if old:  # one browser, one session
            accounts.close_session(s, old)
        token, session = accounts.open_session(s, user, time.time())
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")
    log.info("%s %s logged in to the hub from %s", user.role, user.name, _client(request))
    return _me(session)


@router.post("/logout", status_code=204, response_class=Response, responses=errors(401, 403),
             summary="Log out: ends the session")
def logout(request: Request, session: SessionInfo = Depends(current_session),
           hub: HubState = Depends(hub_state)) -> Response:
    with hub.database.session() as s:
        accounts.close_session(s, request.cookies.get(COOKIE, ""))
    log.info("%s %s logged out of the hub", session.user.role, session.user.name)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/me", responses=errors(401), summary="Who is logged in, with the session's CSRF token")
def me(session: SessionInfo = Depends(current_session)) -> Me:
    return _me(session)
