"""Engines, migrations and transactions for the hub's store (SQLite by default, PostgreSQL when it grows).

SQLite: WAL, foreign keys on, a 30 s busy timeout, and every transaction opened with
`BEGIN IMMEDIATE` (SQLAlchemy's pysqlite recipe: the driver's own transaction handling is off,
the "begin" event emits the statement). Writers queue on the database's write lock instead of
failing, and a select-then-update inside one transaction is atomic across threads and processes.
PostgreSQL: a pooled engine that checks a connection before use.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_S = 30.0
# pg_advisory_xact_lock key held while migrating, so two hub processes starting together queue.
MIGRATION_LOCK = 0x4B4F55414E01
# Execution option of the engine `Database.read_session` binds: SQLite opens a plain (deferred) BEGIN.
READ_ONLY = "kouan_read_only"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url` (`sqlite:///path` or `postgresql+psycopg://...`) set up as the module says."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S}, **kwargs)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver must not open transactions on its own; _sqlite_begin opens every one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    deferred = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


def is_postgres(bind: Engine | Connection | Session) -> bool:
    """Whether `bind` talks to PostgreSQL (else SQLite)."""
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    return engine.dialect.name == "postgresql"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the hub's migrations, run programmatically on `connection`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (Alembic `upgrade head`), all in one transaction.

    Two processes starting together queue: on PostgreSQL behind an advisory lock taken first in
    the transaction, on SQLite behind `BEGIN IMMEDIATE`; the second then finds nothing to do.
    """
    with engine.begin() as connection:
        if is_postgres(connection):
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        command.upgrade(alembic_config(connection), "head")
    log.info("hub schema at head (%s)", engine.url.render_as_string(hide_password=True))


@dataclass
class Database:
    """The hub's store: an engine and transactions on it, one `Session` each."""

    engine: Engine
    _factory: sessionmaker[Session] = field(init=False, repr=False)
    _read_factory: sessionmaker[Session] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._factory = sessionmaker(self.engine, expire_on_commit=False)
        self._read_factory = sessionmaker(self.engine.execution_options(**{READ_ONLY: True}),
                                          expire_on_commit=False)

    @classmethod
    def open(cls, url: str, migrate: bool = True) -> Database:
        """The store at `url`, migrated to head unless `migrate` is False."""
        database = cls(make_engine(url))
        if migrate:
            upgrade(database.engine)
        return database

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self._factory.begin() as session:
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A transaction that only reads (the queue page, an item, stats, the feed, a password check).

        On SQLite it does not take the write lock (WAL readers wait for no writer, nor it for
        them); writing in it may fail with "database is locked". On PostgreSQL it is `session()`.
        """
        with self._read_factory.begin() as session:
            yield session

    def dispose(self) -> None:
        """Close the engine's pooled connections."""
        self.engine.dispose()
