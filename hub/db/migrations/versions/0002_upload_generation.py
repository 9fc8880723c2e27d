"""An upload's generation: a nonce rewritten with every change to its offset or part file.

A hub process keeps a running SHA-256 of the chunks it appended (hub/uploads.py); it may use it at
the finish only while the row still holds the generation it wrote, so a hash state is never applied
to an upload another process appended to or started over. Rows in progress at the upgrade get ""
(no process holds a hash of them: they are read back from disk when they finish).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("generation", sa.String(length=32), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.drop_column("generation")
