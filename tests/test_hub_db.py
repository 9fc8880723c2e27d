"""The hub's engine and migrations on SQLite and PostgreSQL: schema == models, concurrent start, transactions."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

from hub.db.engine import Database, make_engine, upgrade
from hub.db.models import Base, Edge
from tests.hub_db import fresh_postgres_url, hub_db, sqlite_url  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]


def test_migration_matches_models(hub_db: Database) -> None:
    with hub_db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert diff == []
    assert version == "0004"
    assert set(inspect(hub_db.engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}


def test_upgrade_again_changes_nothing(hub_db: Database) -> None:
    with hub_db.session() as s:
        s.add(Edge(name="e", lane="l", port="p", token_sha256="0" * 64, created_at=1.0))
    upgrade(hub_db.engine)
    with hub_db.session() as s:
        assert s.scalars(select(Edge.name)).all() == ["e"]


def test_session_rolls_back_on_error(hub_db: Database) -> None:
    with pytest.raises(RuntimeError), hub_db.session() as s:
        s.add(Edge(name="e", lane="l", port="p", token_sha256="1" * 64, created_at=1.0))
        s.flush()
        raise RuntimeError("boom")
    with hub_db.session() as s:
        assert s.scalars(select(Edge)).all() == []


def _upgrade_in_two_processes(url: str) -> None:
    code = "import sys; from hub.db.engine import make_engine, upgrade; upgrade(make_engine(sys.argv[1]))"
    procs = [subprocess.Popen([sys.executable, "-c", code, url], cwd=ROOT, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    errors = [proc.communicate(timeout=60)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], errors
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    finally:
        engine.dispose()


def test_two_processes_migrate_together_sqlite(tmp_path: Path) -> None:
    _upgrade_in_two_processes(sqlite_url(tmp_path))


def test_two_processes_migrate_together_postgres() -> None:
    with fresh_postgres_url() as url:
        _upgrade_in_two_processes(url)


def test_sqlite_pragmas_and_immediate_transactions(tmp_path: Path) -> None:
    """WAL, foreign keys, and a write transaction that waits for another instead of failing."""
    database = Database(make_engine(sqlite_url(tmp_path)))
    upgrade(database.engine)
    try:
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        entered, counts = threading.Event(), []

        def bump(pause: bool) -> None:
            with database.session() as s:
                count = s.execute(select(Edge).where(Edge.name.like("n%"))).all()
                if pause:
                    entered.set()
                    threading.Event().wait(0.3)  # the other writer must wait for this transaction
                s.add(Edge(name=f"n{len(count)}", lane="l", port="p", token_sha256=f"{len(count):064d}",
                           created_at=1.0))
                counts.append(len(count))

        first = threading.Thread(target=bump, args=(True,))
        first.start()
        entered.wait(5)
        bump(False)  # a deferred transaction would read 0 too and then fail on the unique name
        first.join()
        assert sorted(counts) == [0, 1]
        with database.read_session() as reader, database.session() as writer:
            reader.execute(select(Edge)).all()  # a reader holds no write lock
            writer.add(Edge(name="w", lane="l", port="p", token_sha256="9" * 64, created_at=1.0))
    finally:
        database.dispose()
