"""People (reviewer, supervisor, admin) with argon2id passwords, their web sessions, and edge tokens.

A web session's token and an edge's token are random (`secrets.token_urlsafe(32)`); the store
keeps only their SHA-256, so a copy of the database logs nobody in. 32 random bytes need no slow
hash; a password does (argon2id via argon2-cffi). Every change of an account or a token appends
an audit entry in the same transaction.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub import audit
from hub.db.models import Edge, User, WebSession

log = logging.getLogger(__name__)

ROLES: tuple[str, ...] = ("reviewer", "supervisor", "admin")
NAME_RULE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
MIN_PASSWORD_LEN = 8
MAX_PASSWORD_LEN = 1024
_hasher = PasswordHasher()


class AccountError(ValueError):
    """An account or token task that cannot be done, in words for the admin."""


class InvalidName(AccountError):
    """A user, edge, lane or port name outside the rule."""


class InvalidPassword(AccountError):
    """A password too short or too long."""


class InvalidRole(AccountError):
    """Not one of ROLES."""


class NameTaken(AccountError):
    """A user or edge of that name exists (also a disabled or revoked one)."""


class NoSuchUser(AccountError):
    """No user of that name."""


class NoSuchEdge(AccountError):
    """No edge of that name."""


@dataclass(frozen=True)
class UserInfo:
    """A person as the routes see them."""

    id: int
    name: str
    role: str


@dataclass(frozen=True)
class EdgeInfo:
    """An edge (one lane's node) as the ingest routes see it."""

    id: int
    name: str
    lane: str
    port: str


@dataclass(frozen=True)
class SessionInfo:
    """A live web session: whose, its CSRF token, when it opened and was last used."""

    user: UserInfo
    csrf: str
    created_at: float
    seen_at: float


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_name(what: str, name: str) -> None:
    if not isinstance(name, str) or not NAME_RULE.match(name):
        raise InvalidName(f"a {what} is 1 to 64 of A-Z a-z 0-9 . _ @ - (not {name!r})")


def _hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LEN:
        raise InvalidPassword(f"a password needs at least {MIN_PASSWORD_LEN} characters")
    if len(password) > MAX_PASSWORD_LEN:
        raise InvalidPassword(f"a password has at most {MAX_PASSWORD_LEN} characters")
    return _hasher.hash(password)


@cache
def _dummy_hash() -> str:
    """What an unknown name's password is checked against, so it takes as long as a known one's."""
    return _hasher.hash(secrets.token_urlsafe(16))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _user_row(s: Session, name: str) -> User:
    row = s.scalars(select(User).where(User.name == name).with_for_update()).first()
    if row is None:
        raise NoSuchUser(f"no user {name}")
    return row


def _info(row: User) -> UserInfo:
    return UserInfo(row.id, row.name, row.role)


# ---------------------------------------------------------------- people


def add_user(s: Session, name: str, role: str, password: str, actor: str, now: float | None = None) -> UserInfo:
    """Create a person; InvalidName / InvalidRole / InvalidPassword / NameTaken say why not."""
    _check_name("user name", name)
    if role not in ROLES:
        raise InvalidRole(f"role must be one of {', '.join(ROLES)} (not {role!r})")
    if s.scalar(select(User.id).where(User.name == name)) is not None:
        raise NameTaken(f"user {name} exists")
    at = _now(now)
    row = User(name=name, role=role, password_hash=_hash_password(password), created_at=at)
    _insert_named(s, row, "user")
    audit.append(s, actor, "user_added", f"user:{name}", {"role": role}, at)
    log.info("user %s added as %s by %s", name, role, actor)
    return _info(row)


def set_password(s: Session, name: str, password: str, actor: str, now: float | None = None) -> None:
    """Change a person's password and end every session of theirs."""
    row = _user_row(s, name)
    if row.disabled_at is not None:
        raise AccountError(f"user {name} is disabled")
    row.password_hash = _hash_password(password)
    s.execute(delete(WebSession).where(WebSession.user_id == row.id))
    audit.append(s, actor, "password_set", f"user:{name}", {}, _now(now))
    log.info("password of user %s set by %s; their sessions ended", name, actor)


def disable_user(s: Session, name: str, actor: str, now: float | None = None) -> None:
    """Disable a person (the name stays taken, the audit log keeps naming them) and end their sessions."""
    row = _user_row(s, name)
    if row.disabled_at is not None:
        raise AccountError(f"user {name} is already disabled")
    at = _now(now)
    row.disabled_at = at
    s.execute(delete(WebSession).where(WebSession.user_id == row.id))
    audit.append(s, actor, "user_disabled", f"user:{name}", {}, at)
    log.info("user %s disabled by %s", name, actor)


def list_users(s: Session) -> list[UserInfo]:
    """The people who may log in (not the disabled), by name."""
    rows = s.scalars(select(User).where(User.disabled_at.is_(None)).order_by(User.name))
    return [_info(row) for row in rows]


def authenticate(s: Session, name: str, password: str) -> UserInfo | None:
    """The person if `password` is theirs and they are not disabled; slow by design, also for unknown names.

    It only reads: call it in a `Database.read_session()` so the slow check holds no write lock.
    """
    row = s.scalars(select(User).where(User.name == name)).first() if isinstance(name, str) else None
    if row is None or row.disabled_at is not None:
        _verify(_dummy_hash(), password)
        return None
    return _info(row) if _verify(row.password_hash, password) else None


# ---------------------------------------------------------------- web sessions


def open_session(s: Session, user: UserInfo, now: float) -> tuple[str, SessionInfo]:
    """A new session for `user`: its token (for the cookie, never stored) and itself."""
    token = secrets.token_urlsafe(32)
    info = SessionInfo(user, secrets.token_urlsafe(32), now, now)
    s.add(WebSession(token_sha256=token_sha256(token), user_id=user.id, csrf=info.csrf, created_at=now, seen_at=now))
    s.flush()
    return token, info


def session_for(s: Session, token: str, now: float, idle_s: float, lifetime_s: float) -> SessionInfo | None:
    """The live session of `token` (its use noted), or None: unknown, idle too long, too old, user disabled."""
    row = s.get(WebSession, token_sha256(token))
    if row is None:
        return None
    user = s.get(User, row.user_id)
    if user is None or user.disabled_at is not None or now - row.seen_at > idle_s or now - row.created_at > lifetime_s:
        s.delete(row)
        s.flush()
        return None
    row.seen_at = max(row.seen_at, now)
    return SessionInfo(_info(user), row.csrf, row.created_at, row.seen_at)


def close_session(s: Session, token: str) -> None:
    """End the session of `token` (logout); nothing if there is none."""
    s.execute(delete(WebSession).where(WebSession.token_sha256 == token_sha256(token)))


# ---------------------------------------------------------------- edges


def add_edge(s: Session, name: str, lane: str, port: str, actor: str,
             now: float | None = None) -> tuple[EdgeInfo, str]:
    """Register an edge; its token, shown this once (the store keeps only its SHA-256)."""
    _check_name("edge name", name)
    _check_name("lane", lane)
    _check_name("port", port)
    if s.scalar(select(Edge.id).where(Edge.name == name)) is not None:
        raise NameTaken(f"edge {name} exists")
    at = _now(now)
    token = secrets.token_urlsafe(32)
    row = Edge(name=name, lane=lane, port=port, token_sha256=token_sha256(token), created_at=at)
    _insert_named(s, row, "edge")
    audit.append(s, actor, "edge_added", f"edge:{name}", {"lane": lane, "port": port}, at)
    log.info("edge %s of lane %s (port %s) added by %s", name, lane, port, actor)
    return EdgeInfo(row.id, name, lane, port), token


def revoke_edge(s: Session, name: str, actor: str, now: float | None = None) -> None:
    """Revoke an edge's token: it can upload and read nothing more (the name stays taken)."""
    row = s.scalars(select(Edge).where(Edge.name == name).with_for_update()).first()
    if row is None:
        raise NoSuchEdge(f"no edge {name}")
    if row.revoked_at is not None:
        raise AccountError(f"edge {name} is already revoked")
    at = _now(now)
    row.revoked_at = at
    audit.append(s, actor, "edge_revoked", f"edge:{name}", {"lane": row.lane}, at)
    log.info("edge %s revoked by %s", name, actor)


def edge_for_token(s: Session, token: str) -> EdgeInfo | None:
    """The edge whose token this is, or None (unknown or revoked)."""
    row = s.scalars(select(Edge).where(Edge.token_sha256 == token_sha256(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    return EdgeInfo(row.id, row.name, row.lane, row.port)


def list_edges(s: Session) -> list[EdgeInfo]:
    """The edges not revoked, by name."""
    rows = s.scalars(select(Edge).where(Edge.revoked_at.is_(None)).order_by(Edge.name))
    return [EdgeInfo(row.id, row.name, row.lane, row.port) for row in rows]


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def _insert_named(s: Session, row: User | Edge, what: str) -> None:
    """Insert `row` under a savepoint: a name taken meanwhile by another transaction is NameTaken."""
    try:
        with s.begin_nested():
            s.add(row)
            s.flush()
    except IntegrityError:
        raise NameTaken(f"{what} {row.name} exists") from None
