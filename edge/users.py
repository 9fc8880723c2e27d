"""Who may use the lane terminal, and their sessions, kept in the edge's own store (`core:3`).

A user has a name, a role (an officer; a supervisor may also do what only a supervisor may) and
an argon2id hash of the password (argon2-cffi). A login opens a session: a random token
(`secrets.token_urlsafe(32)`) that only the browser keeps, while the store keeps its SHA-256, so a
copy of the database logs nobody in. A session ends at its absolute lifetime (a shift), after an
idle gap, at logout, when the user's password changes, or when the user is disabled.

The functions that take a `Store` run on the store's thread (`AsyncStore.call`), or in a command's
own connection beside the running edge (SQLite WAL). Checking a password is slow by design, so
`login` runs it in a worker thread: neither the event loop nor the store thread waits on it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import sqlite3
import time
from collections import deque
from dataclasses import dataclass
from functools import cache
from typing import Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from edge.store import AsyncStore, Store

log = logging.getLogger(__name__)

Role = Literal["officer", "supervisor"]
ROLES: tuple[str, ...] = get_args(Role)
MIN_PASSWORD_LEN = 8
NAME_RULE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_hasher = PasswordHasher()


class UserError(ValueError):
    """A user task that cannot be done, in words for the operator."""


class UserExists(UserError):
    """The name is taken."""


class NoSuchUser(UserError):
    """No user has that name."""


@dataclass(frozen=True)
class User:
    """Who is logged in: what the routes see."""

    id: int
    name: str
    role: str


@dataclass(frozen=True)
class Account:
    """A user as `kouan user list` shows it."""

    user: User
    created_at: float
    disabled: bool


@dataclass(frozen=True)
class Session:
    """A live session: its user, its CSRF token (synchronizer token) and when it ends at the latest."""

    user: User
    csrf: str
    token_sha256: str
    expires_at: float


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lives: `lifetime_s` at most from login, `idle_s` at most between requests."""

    lifetime_s: float = 12 * 3600.0
    idle_s: float = 30 * 60.0


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    """The argon2id hash of a password long enough to be one (UserError otherwise)."""
    if len(password) < MIN_PASSWORD_LEN:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LEN} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` is the one hashed (slow by design: never on the event loop)."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    """A hash to check an unknown name's password against, so it takes as long as a known one's."""
    return _hasher.hash(secrets.token_urlsafe(16))


# ---------------------------------------------------------------- on the store thread


def add_user(store: Store, name: str, role: str, password: str, now: float | None = None) -> User:
    """Create a user; UserExists if the name is taken, UserError for a bad name, role or password."""
    if not NAME_RULE.match(name):
        raise UserError(f"a user name is 1 to 64 of A-Z a-z 0-9 . _ @ - (not {name!r})")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)} (not {role!r})")
    hashed = hash_password(password)
    try:
        cur = store.execute_write(
            "INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
            (name, role, hashed, time.time() if now is None else now))
    except sqlite3.IntegrityError:
        raise UserExists(f"user {name} exists") from None
    log.info("user %s added as %s", name, role)
    return User(int(cur.lastrowid or 0), name, role)


def set_password(store: Store, name: str, password: str) -> None:
    """Change a user's password and end every session of theirs."""
    hashed = hash_password(password)
    rows = store.read("SELECT id FROM users WHERE name=?", (name,))
    if not rows:
        raise NoSuchUser(f"no user {name}")
    store.execute_writes([("UPDATE users SET password_hash=? WHERE id=?", (hashed, rows[0][0])),
                          ("DELETE FROM sessions WHERE user_id=?", (rows[0][0],))])
    log.info("password of user %s changed; their sessions ended", name)


def list_users(store: Store) -> list[Account]:
    rows = store.read("SELECT id, name, role, created_at, disabled FROM users ORDER BY name")
    return [Account(User(row[0], row[1], row[2]), row[3], bool(row[4])) for row in rows]


def _credentials(store: Store, name: str) -> tuple[User, str] | None:
    rows = store.read("SELECT id, name, role, password_hash FROM users WHERE name=? AND disabled=0", (name,))
    return (User(rows[0][0], rows[0][1], rows[0][2]), rows[0][3]) if rows else None


def _rehash(store: Store, user_id: int, password_hash: str) -> None:
    store.execute_write("UPDATE users SET password_hash=? WHERE id=?", (password_hash, user_id))


def open_session(store: Store, user: User, policy: SessionPolicy, now: float) -> tuple[str, Session]:
    """A new session for `user` (and the ended ones cleared away); returns its token and itself."""
    store.execute_write("DELETE FROM sessions WHERE expires_at <= ? OR last_used <= ?", (now, now - policy.idle_s))
    token = secrets.token_urlsafe(32)
    session = Session(user, secrets.token_urlsafe(32), token_digest(token), now + policy.lifetime_s)
    store.execute_write(
        "INSERT INTO sessions (token_sha256, user_id, csrf, created_at, last_used, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
        (session.token_sha256, user.id, session.csrf, now, now, session.expires_at))
    return token, session


def session_user(store: Store, token: str, now: float, idle_s: float = SessionPolicy.idle_s,
                 refresh: bool = True) -> Session | None:
    """The live session of `token`, or None (unknown, past its lifetime, idle too long, user
    disabled); `refresh` counts this as a use, which restarts the idle timeout."""
    return session_of_digest(store, token_digest(token), now, idle_s, refresh)


def session_of_digest(store: Store, digest: str, now: float, idle_s: float = SessionPolicy.idle_s,
                      refresh: bool = True) -> Session | None:
    """`session_user` by the token's SHA-256 (what a `Session` carries)."""
    rows = store.read(
        "SELECT u.id, u.name, u.role, s.csrf, s.expires_at, s.last_used FROM sessions s "
        "JOIN users u ON u.id = s.user_id WHERE s.token_sha256=? AND u.disabled=0", (digest,))
    if not rows:
        return None
    user_id, name, role, csrf, expires_at, last_used = rows[0]
    if now >= expires_at or now - last_used >= idle_s:
        store.execute_write("DELETE FROM sessions WHERE token_sha256=?", (digest,))
        return None
    if refresh:
        store.execute_write("UPDATE sessions SET last_used=? WHERE token_sha256=?", (now, digest))
    return Session(User(user_id, name, role), csrf, digest, expires_at)


def logout(store: Store, token: str) -> bool:
    """End the session of `token`; whether there was one."""
    return store.execute_write("DELETE FROM sessions WHERE token_sha256=?", (token_digest(token),)).rowcount > 0


# ---------------------------------------------------------------- from the event loop


async def login(store: AsyncStore, name: str, password: str, policy: SessionPolicy,
                now: float | None = None) -> tuple[str, Session] | None:
    """Check a name and password and open a session (its token, itself), or None if they are wrong."""
    found = await store.call(_credentials, name)
    ok = await asyncio.to_thread(verify_password, found[1] if found else _dummy_hash(), password)
    if found is None or not ok:
        return None
    user, old_hash = found
    if _hasher.check_needs_rehash(old_hash):  # the hasher's parameters were raised since
        await store.call(_rehash, user.id, await asyncio.to_thread(_hasher.hash, password))
    return await store.call(open_session, user, policy, time.time() if now is None else now)


class LoginThrottle:
    """After `failures` failed logins for one name within `window_s`, that name is refused for
    `lock_s` (in this process's memory; a restart forgets it)."""

    def __init__(self, failures: int = 5, window_s: float = 300.0, lock_s: float = 60.0,
                 max_names: int = 10_000) -> None:
        self.failures, self.window_s, self.lock_s, self.max_names = failures, window_s, lock_s, max_names
        self._failed: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    def locked_for(self, name: str, now: float) -> float:
        """Seconds the name is still refused for (0: it may try)."""
        until = self._locked_until.get(name, 0.0)
        if until <= now:
            self._locked_until.pop(name, None)
            return 0.0
        return until - now

    def failed(self, name: str, now: float) -> bool:
        """Count a failure; True when it locks the name."""
        if name not in self._failed and len(self._failed) >= self.max_names:
            self._forget_old(now)
        times = self._failed.setdefault(name, deque(maxlen=self.failures))
        times.append(now)
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if len(times) >= self.failures:
            self._locked_until[name] = now + self.lock_s
            return True
        return False

    def succeeded(self, name: str) -> None:
        self._failed.pop(name, None)

    def _forget_old(self, now: float) -> None:
        """Keep the table bounded: drop names with no failure in the window (or, if none, the oldest)."""
        stale = [n for n, times in self._failed.items() if not times or times[-1] <= now - self.window_s]
        for name in stale or [min(self._failed, key=lambda n: self._failed[n][-1])]:
            del self._failed[name]
