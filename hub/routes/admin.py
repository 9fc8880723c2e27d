"""An admin's routes: people, edge tokens and the audit log (nothing of the review itself).

Every change is audited by the store in the same transaction, with the admin as the actor. An
edge's token is in the answer to its creation only; the hub keeps its SHA-256.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from contract.uplink import API
from hub import accounts, audit
from hub.accounts import EdgeInfo, UserInfo
from hub.routes.errors import MAX_INT, ApiError, errors
from hub.state import HubState, hub_state
from hub.web.auth import person

log = logging.getLogger(__name__)
router = APIRouter(prefix=API, tags=["admin"])
admin = person("admin")
Name = Annotated[str, Path(min_length=1, max_length=64, description="The user's or edge's name.")]
Role = Annotated[str, Field(pattern="^(reviewer|supervisor|admin)$", description="reviewer, supervisor or admin.")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserOut(_Body):
    """A person who may log in."""

    id: int
    name: str
    role: Role


class UserList(_Body):
    users: list[UserOut] = Field(description="Those not disabled, by name.")


class NewUser(_Body):
    """A person to add."""

    name: str = Field(min_length=1, max_length=64, description="Letters, digits and . _ @ -")
    role: Role
    password: str = Field(min_length=1, max_length=1024, description="At least 8 characters.")


class NewPassword(_Body):
    password: str = Field(min_length=1, max_length=1024, description="At least 8 characters.")


class EdgeOut(_Body):
    """An edge (one lane's node) that may upload."""

    id: int
    name: str
    lane: str
    port: str


class EdgeList(_Body):
    edges: list[EdgeOut] = Field(description="Those not revoked, by name.")


class NewEdge(_Body):
    """An edge to register."""

    name: str = Field(min_length=1, max_length=64)
    lane: str = Field(min_length=1, max_length=64, description="The lane whose passages it may upload.")
    port: str = Field(min_length=1, max_length=64, description="The border port the lane belongs to.")


class EdgeCreated(EdgeOut):
    token: str = Field(description="The edge's bearer token: shown this once, the hub keeps only its hash.")


class AuditEntryOut(_Body):
    id: int
    at: float = Field(description="Epoch s.")
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]
    sha256: str


class AuditPage(_Body):
    """Entries newest first; ask with `before=next_before` for the page after."""

    entries: list[AuditEntryOut]
    next_before: int | None = Field(description="The `before` of the next page; null at the first entry.")


class AuditCheck(_Body):
    """The audit chain recomputed."""

    ok: bool
    entries: int
    first_bad_id: int | None
    reason: str


@contextmanager
def _answers() -> Iterator[None]:
    try:
        yield
    except (accounts.NoSuchUser, accounts.NoSuchEdge) as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    except accounts.NameTaken as exc:
        raise ApiError(409, "name_taken", str(exc)) from None
    except (accounts.InvalidName, accounts.InvalidPassword, accounts.InvalidRole) as exc:
        raise ApiError(422, "invalid", str(exc)) from None
    except accounts.AccountError as exc:
        raise ApiError(409, "conflict", str(exc)) from None


def _user(info: UserInfo) -> UserOut:
    return UserOut(id=info.id, name=info.name, role=info.role)


def _edge(info: EdgeInfo) -> EdgeOut:
    return EdgeOut(id=info.id, name=info.name, lane=info.lane, port=info.port)


@router.get("/users", responses=errors(401, 403), summary="People who may log in")
def users(_admin: UserInfo = Depends(admin), hub: HubState = Depends(hub_state)) -> UserList:
    with hub.database.read_session() as s:
        return UserList(users=[_user(u) for u in accounts.list_users(s)])


@router.post("/users", status_code=201, responses=errors(401, 403, 409, 422), summary="Add a person")
def add_user(body: NewUser, user: UserInfo = Depends(admin), hub: HubState = Depends(hub_state)) -> UserOut:
    with _answers(), hub.database.session() as s:
        return _user(accounts.add_user(s, body.name, body.role, body.password, user.name))


@router.post("/users/{name}/password", status_code=204, response_class=Response,
             responses=errors(401, 403, 404, 422), summary="Set a person's password")
def set_password(name: Name, body: NewPassword, user: UserInfo = Depends(admin),
                 hub: HubState = Depends(hub_state)) -> Response:
    with _answers(), hub.database.session() as s:
        accounts.set_password(s, name, body.password, user.name)
    return Response(status_code=204)


@router.post("/users/{name}/disable", status_code=204, response_class=Response,
             responses=errors(401, 403, 404, 409), summary="Disable a person (their sessions end)")
def disable_user(name: Name, user: UserInfo = Depends(admin), hub: HubState = Depends(hub_state)) -> Response:
    with _answers(), hub.database.session() as s:
        accounts.disable_user(s, name, user.name)
    return Response(status_code=204)


@router.get("/edges", responses=errors(401, 403), summary="Edges that may upload")
def edges(_admin: UserInfo = Depends(admin), hub: HubState = Depends(hub_state)) -> EdgeList:
    with hub.database.read_session() as s:
        return EdgeList(edges=[_edge(e) for e in accounts.list_edges(s)])


@router.post("/edges", status_code=201, responses=errors(401, 403, 409, 422), summary="Register an edge (its token once)")
def add_edge(body: NewEdge, user: UserInfo = Depends(admin), hub: HubState = Depends(hub_state)) -> EdgeCreated:
    with _answers(), hub.database.session() as s:
        info, token = accounts.add_edge(s, body.name, body.lane, body.port, user.name)
    return EdgeCreated(**_edge(info).model_dump(), token=token)


@router.post("/edges/{name}/revoke", status_code=204, response_class=Response,
             responses=errors(401, 403, 404, 409), summary="Revoke an edge's token")
def revoke_edge(name: Name, user: UserInfo = Depends(admin), hub: HubState = Depends(hub_state)) -> Response:
    with _answers(), hub.database.session() as s:
        accounts.revoke_edge(s, name, user.name)
    return Response(status_code=204)


@router.get("/audit", responses=errors(401, 403, 422), summary="The audit log, a page at a time")
def audit_page(before: Annotated[int | None, Query(ge=1, le=MAX_INT, description="Entries with a smaller id (the next page).")] = None,
               limit: Annotated[int, Query(ge=1, le=1000, description="Entries per page.")] = 100,
               _admin: UserInfo = Depends(admin), hub: HubState = Depends(hub_state)) -> AuditPage:
    with hub.database.read_session() as s:
        records = audit.page(s, before, limit)
    entries = [AuditEntryOut(id=r.id, at=r.at, actor=r.actor, action=r.action, subject=r.subject, detail=r.detail,
                             sha256=r.sha256) for r in records]
    last = entries[-1].id if entries else None
    return AuditPage(entries=entries, next_before=last if last is not None and last > 1 and len(entries) == limit else None)


@router.get("/audit/verify", responses=errors(401, 403), summary="Recompute the audit chain")
def audit_verify(_admin: UserInfo = Depends(admin), hub: HubState = Depends(hub_state)) -> AuditCheck:
    with hub.database.read_session() as s:
        report = audit.verify(s)
    return AuditCheck(ok=report.ok, entries=report.entries, first_bad_id=report.first_bad_id, reason=report.reason)
