"""Blob holders: the lanes a blob is held for, so that an edge sees and names only its lane's images.

Before, any edge could learn whether the hub held an image (HEAD) and name another lane's image as
evidence of its own passage. A blob is now held for each lane whose edge uploaded the bytes whole
(hub/ingest.py `record_blob`); a blob already kept at the upgrade is held for its uploader's lane.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "blob_holders",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("lane", sa.String(length=64), nullable=False),
        sa.Column("edge_id", sa.Integer(), nullable=False),
        sa.Column("held_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["sha256"], ["blobs.sha256"], name="fk_blob_holders_sha256"),
        sa.ForeignKeyConstraint(["edge_id"], ["edges.id"], name="fk_blob_holders_edge_id"),
        sa.PrimaryKeyConstraint("sha256", "lane", name="pk_blob_holders"),
    )
    op.execute("INSERT INTO blob_holders (sha256, lane, edge_id, held_at) "
               "SELECT blobs.sha256, edges.lane, blobs.edge_id, blobs.stored_at "
               "FROM blobs JOIN edges ON edges.id = blobs.edge_id")


def downgrade() -> None:
    op.drop_table("blob_holders")
