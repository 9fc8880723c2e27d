"""Alembic environment: runs on the connection `hub.db.engine.upgrade` passes in (config.attributes).

Run without one (the `alembic` command with `sqlalchemy.url` set), it makes its own engine.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from hub.db.models import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    from hub.db.engine import make_engine

    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection in config.attributes and no sqlalchemy.url: use hub.db.engine.upgrade")
    engine = make_engine(url)
    with engine.connect() as own:
        _run(own)
    engine.dispose()
