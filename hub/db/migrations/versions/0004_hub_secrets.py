"""Hub secrets: a random seed per hub database for the re-check sample.

Before, the clear verdicts a supervisor re-checks were chosen by SHA-256 of the item id alone, which
anyone who sees item ids could compute: a reviewer (who may claim any item) could clear only items
that would never be re-checked. The choice is now an HMAC-SHA256 keyed by `recheck_seed`, 32 bytes
from `secrets.token_bytes` made here, once per database (hub/queue.py makes one at first use if the
row is missing).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "hub_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_hub_secrets"),
    )
    op.bulk_insert(table, [{"name": "recheck_seed", "value": secrets.token_bytes(32).hex(), "created_at": time.time()}])


def downgrade() -> None:
    op.drop_table("hub_secrets")
