"""People, web sessions and edge tokens of the hub, on SQLite and PostgreSQL; each change audited."""

from __future__ import annotations

import hashlib

import pytest
from argon2 import PasswordHasher, profiles
from sqlalchemy import select

from hub import accounts, audit
from hub.db.engine import Database
from hub.db.models import AuditEntry, Edge, User, WebSession
from tests.hub_db import hub_db  # noqa: F401  (fixture)

T0 = 1_700_000_000.0


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at its cheapest parameters, so the tests measure behaviour, not the hash's cost."""
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))
    accounts._dummy_hash.cache_clear()


def test_passwords_are_argon2id_at_default_cost(hub_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher())
    with hub_db.session() as s:
        accounts.add_user(s, "ann", "reviewer", "correct horse", actor="root", now=T0)
        stored = s.scalars(select(User.password_hash)).one()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and "correct horse" not in stored
    with hub_db.read_session() as s:
        assert accounts.authenticate(s, "ann", "correct horse") is not None


def _actions(db: Database) -> list[tuple[str, str, str]]:
    with db.session() as s:
        return [(e.actor, e.action, e.subject) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_users_passwords_and_audit(hub_db: Database) -> None:
    with hub_db.session() as s:
        ann = accounts.add_user(s, "ann", "reviewer", "correct horse", actor="root", now=T0)
        accounts.add_user(s, "sue", "supervisor", "battery staple", actor="root", now=T0)
    assert (ann.name, ann.role) == ("ann", "reviewer")
    with hub_db.read_session() as s:
        assert accounts.authenticate(s, "ann", "correct horse") == ann
        assert accounts.authenticate(s, "ann", "wrong horse!") is None
        assert accounts.authenticate(s, "nobody", "correct horse") is None
        assert [u.name for u in accounts.list_users(s)] == ["ann", "sue"]
    with hub_db.session() as s:
        accounts.set_password(s, "ann", "new password", actor="root", now=T0 + 1)
        accounts.disable_user(s, "sue", actor="root", now=T0 + 2)
    with hub_db.read_session() as s:
        assert accounts.authenticate(s, "ann", "correct horse") is None
        assert accounts.authenticate(s, "ann", "new password") == ann
        assert accounts.authenticate(s, "sue", "battery staple") is None
        assert [u.name for u in accounts.list_users(s)] == ["ann"]
    assert _actions(hub_db) == [("root", "user_added", "user:ann"), ("root", "user_added", "user:sue"),
                                ("root", "password_set", "user:ann"), ("root", "user_disabled", "user:sue")]
    with hub_db.read_session() as s:
        assert audit.verify(s).ok


@pytest.mark.parametrize(("name", "role", "password", "error", "words"), [
    ("bad name", "reviewer", "long enough", accounts.InvalidName, "1 to 64"),
    ("x" * 65, "reviewer", "long enough", accounts.InvalidName, "1 to 64"),
    ("ann", "officer", "long enough", accounts.InvalidRole, "reviewer, supervisor, admin"),
    ("ann", "admin", "short", accounts.InvalidPassword, "at least 8"),
])
def test_add_user_refusals_in_words(hub_db: Database, name: str, role: str, password: str,
                                    error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words), hub_db.session() as s:
        accounts.add_user(s, name, role, password, actor="root")
    assert _actions(hub_db) == []


def test_taken_names_and_unknown_users(hub_db: Database) -> None:
    with hub_db.session() as s:
        accounts.add_user(s, "ann", "reviewer", "long enough", actor="root")
    with pytest.raises(accounts.NameTaken, match="user ann exists"), hub_db.session() as s:
        accounts.add_user(s, "ann", "admin", "long enough", actor="root")
    with pytest.raises(accounts.NoSuchUser, match="no user bob"), hub_db.session() as s:
        accounts.set_password(s, "bob", "long enough", actor="root")
    with hub_db.session() as s:
        accounts.disable_user(s, "ann", actor="root")
    with pytest.raises(accounts.AccountError, match="already disabled"), hub_db.session() as s:
        accounts.disable_user(s, "ann", actor="root")
    assert [a for _, a, _ in _actions(hub_db)] == ["user_added", "user_disabled"]


def test_sessions_idle_lifetime_logout_and_disable(hub_db: Database) -> None:
    with hub_db.session() as s:
        ann = accounts.add_user(s, "ann", "reviewer", "long enough", actor="root", now=T0)
        token, opened = accounts.open_session(s, ann, T0)
        stored = s.scalars(select(WebSession.token_sha256)).all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]  # the token itself is nowhere in the store
    with hub_db.session() as s:
        seen = accounts.session_for(s, token, T0 + 50, idle_s=60, lifetime_s=100)
    assert seen is not None and seen.user == ann and seen.csrf == opened.csrf and seen.seen_at == T0 + 50
    with hub_db.session() as s:
        assert accounts.session_for(s, token, T0 + 99, idle_s=60, lifetime_s=100) is not None  # 49 s idle
        assert accounts.session_for(s, token, T0 + 101, idle_s=60, lifetime_s=100) is None  # past its lifetime
        assert accounts.session_for(s, token, T0 + 10, idle_s=60, lifetime_s=100) is None  # and deleted
        idle_token, _ = accounts.open_session(s, ann, T0)
        assert accounts.session_for(s, idle_token, T0 + 61, idle_s=60, lifetime_s=100) is None
        out_token, _ = accounts.open_session(s, ann, T0)
        accounts.close_session(s, out_token)
        assert accounts.session_for(s, out_token, T0 + 1, idle_s=60, lifetime_s=100) is None
        kept, _ = accounts.open_session(s, ann, T0)
        accounts.disable_user(s, "ann", actor="root", now=T0 + 1)
        assert accounts.session_for(s, kept, T0 + 2, idle_s=60, lifetime_s=100) is None
        assert s.scalars(select(WebSession)).all() == []


def test_password_change_ends_sessions(hub_db: Database) -> None:
    with hub_db.session() as s:
        ann = accounts.add_user(s, "ann", "reviewer", "long enough", actor="root", now=T0)
        token, _ = accounts.open_session(s, ann, T0)
        accounts.set_password(s, "ann", "another one", actor="ann", now=T0 + 1)
        assert accounts.session_for(s, token, T0 + 2, idle_s=60, lifetime_s=100) is None


def test_edge_tokens(hub_db: Database) -> None:
    with hub_db.session() as s:
        edge, token = accounts.add_edge(s, "edge-a", "lane-1", "port-n", actor="root", now=T0)
        other, other_token = accounts.add_edge(s, "edge-b", "lane-2", "port-n", actor="root", now=T0)
        stored = set(s.scalars(select(Edge.token_sha256)))
    assert token != other_token and token not in stored
    assert stored == {hashlib.sha256(t.encode()).hexdigest() for t in (token, other_token)}
    with hub_db.read_session() as s:
        assert accounts.edge_for_token(s, token) == edge
        assert accounts.edge_for_token(s, "not a token") is None
        assert accounts.list_edges(s) == [edge, other]
    with hub_db.session() as s:
        accounts.revoke_edge(s, "edge-a", actor="root", now=T0 + 1)
    with hub_db.read_session() as s:
        assert accounts.edge_for_token(s, token) is None
        assert accounts.edge_for_token(s, other_token) == other
        assert accounts.list_edges(s) == [other]
    with pytest.raises(accounts.NameTaken), hub_db.session() as s:
        accounts.add_edge(s, "edge-a", "lane-1", "port-n", actor="root")
    with pytest.raises(accounts.NoSuchEdge), hub_db.session() as s:
        accounts.revoke_edge(s, "edge-z", actor="root")
    with pytest.raises(accounts.InvalidName, match="lane"), hub_db.session() as s:
        accounts.add_edge(s, "edge-c", "", "port-n", actor="root")
    assert _actions(hub_db) == [("root", "edge_added", "edge:edge-a"), ("root", "edge_added", "edge:edge-b"),
                                ("root", "edge_revoked", "edge:edge-a")]
