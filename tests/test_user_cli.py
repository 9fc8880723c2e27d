"""`kouan user add / passwd / list` through `edge.cli.main`, on a real store file."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from edge import users
from edge.cli import main
from edge.store import Store
from edge.store_schema import store_migrations
from edge.users import SessionPolicy


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "edge.toml"
    path.write_text('[lane]\nid = "lane-u"\n\n[store]\npath = "edge.sqlite3"\n', encoding="utf-8")
    return path


def kouan(monkeypatch: pytest.MonkeyPatch, stdin: str, *argv: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(list(argv))


def open_store(config: Path) -> Store:
    return Store(config.parent / "edge.sqlite3", store_migrations())


def test_add_then_list_then_log_in(config: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert kouan(monkeypatch, "officer-pass-1\n", "user", "add", "wang.li", "--role", "officer",
                 "--config", str(config), "--password-stdin") == 0
    assert kouan(monkeypatch, "", "user", "add", "chen", "--role", "supervisor", "--config", str(config),
                 "--password-stdin") == 2, "an empty line is a password too short"
    assert kouan(monkeypatch, "super-pass-2\n", "user", "add", "chen", "--role", "supervisor",
                 "--config", str(config), "--password-stdin") == 0
    capsys.readouterr()
    assert kouan(monkeypatch, "", "user", "list", "--config", str(config)) == 0
    listed = [line.split("\t")[:2] for line in capsys.readouterr().out.splitlines()]
    assert listed == [["chen", "supervisor"], ["wang.li", "officer"]]
    store = open_store(config)
    try:
        (hashed,) = store.read("SELECT password_hash FROM users WHERE name='wang.li'")[0]
        assert hashed.startswith("$argon2id$") and "officer-pass-1" not in hashed
        assert users.verify_password(hashed, "officer-pass-1") and not users.verify_password(hashed, "officer-pass-")
    finally:
        store.close()


def test_a_name_that_exists_is_refused_with_exit_2(config: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("user", "add", "wang", "--role", "officer", "--config", str(config), "--password-stdin")
    assert kouan(monkeypatch, "first-password\n", *argv) == 0
    assert kouan(monkeypatch, "second-password\n", *argv) == 2
    err = capsys.readouterr().err
    assert "user wang exists" in err and "kouan user passwd wang" in err and "kouan user list" in err
    store = open_store(config)
    try:
        (hashed,) = store.read("SELECT password_hash FROM users WHERE name='wang'")[0]
        assert users.verify_password(hashed, "first-password"), "the first password stands"
    finally:
        store.close()


def test_a_short_password_or_bad_name_is_refused(config: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert kouan(monkeypatch, "1234567\n", "user", "add", "wang", "--role", "officer",
                 "--config", str(config), "--password-stdin") == 2
    assert "at least 8 characters" in capsys.readouterr().err
    assert kouan(monkeypatch, "long-enough\n", "user", "add", "wang li", "--role", "officer",
                 "--config", str(config), "--password-stdin") == 2
    with pytest.raises(SystemExit):
        kouan(monkeypatch, "long-enough\n", "user", "add", "wang", "--role", "admin", "--config", str(config))
    capsys.readouterr()
    assert kouan(monkeypatch, "", "user", "list", "--config", str(config)) == 0
    assert capsys.readouterr().out == "", "nobody was added"


def test_passwd_changes_the_password_and_ends_the_sessions(config: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert kouan(monkeypatch, "old-password\n", "user", "add", "wang", "--role", "officer",
                 "--config", str(config), "--password-stdin") == 0
    store = open_store(config)
    (user,) = [account.user for account in users.list_users(store)]
    token, _ = users.open_session(store, user, SessionPolicy(), now=1000.0)
    store.close()
    assert kouan(monkeypatch, "short\n", "user", "passwd", "wang", "--config", str(config), "--password-stdin") == 2
    assert kouan(monkeypatch, "new-password\n", "user", "passwd", "wang", "--config", str(config),
                 "--password-stdin") == 0
    assert kouan(monkeypatch, "new-password\n", "user", "passwd", "nobody", "--config", str(config),
                 "--password-stdin") == 2
    assert "no user nobody" in capsys.readouterr().err
    store = open_store(config)
    try:
        (hashed,) = store.read("SELECT password_hash FROM users WHERE name='wang'")[0]
        assert users.verify_password(hashed, "new-password") and not users.verify_password(hashed, "old-password")
        assert users.session_user(store, token, 1001.0) is None
    finally:
        store.close()


def test_without_stdin_it_asks_twice(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["typed-password", "typed-passwort"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    argv = ("user", "add", "wang", "--role", "officer", "--config", str(config))
    assert kouan(monkeypatch, "", *argv) == 2, "the two entries differ"
    answers = iter(["typed-password", "typed-password"])
    assert kouan(monkeypatch, "", *argv) == 0
    store = open_store(config)
    try:
        (hashed,) = store.read("SELECT password_hash FROM users WHERE name='wang'")[0]
        assert users.verify_password(hashed, "typed-password")
    finally:
        store.close()
