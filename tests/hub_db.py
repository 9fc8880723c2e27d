"""Test fixtures for the hub's store: a migrated `Database` on SQLite and on PostgreSQL.

`hub_db` is parametrised over ["sqlite", "postgres"]: SQLite in the test's tmp_path; PostgreSQL
a fresh database `kouan_t_<hex>` on the server KOUAN_TEST_POSTGRES names (skipped when unset),
dropped afterwards. `fresh_postgres_url()` gives such a database's URL to tests that start
processes of their own. Import them: `from tests.hub_db import hub_db, fresh_postgres_url`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from hub.db.engine import Database, make_engine, upgrade

POSTGRES_ENV = "KOUAN_TEST_POSTGRES"


def postgres_server() -> str:
    """The URL of the test PostgreSQL server (pytest.skip when KOUAN_TEST_POSTGRES is unset)."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    return url


@contextmanager
def fresh_postgres_url() -> Iterator[str]:
    """A new, empty database on the test server: its URL; dropped (WITH FORCE) when the block ends."""
    server = make_url(postgres_server())
    name = f"kouan_t_{secrets.token_hex(6)}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'hub.db'}"


@contextmanager
def migrated(url: str) -> Iterator[Database]:
    """A `Database` at `url`, migrated to head, disposed when the block ends."""
    database = Database(make_engine(url))
    try:
        upgrade(database.engine)
        yield database
    finally:
        database.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def hub_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated hub store, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        with migrated(sqlite_url(tmp_path)) as database:
            yield database
        return
    with fresh_postgres_url() as url, migrated(url) as database:
        yield database
