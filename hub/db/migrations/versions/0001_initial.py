"""The hub's first schema: accounts, edges, blobs, uploads, passages, the review queue, verdicts, audit log.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _name(length: int = 64) -> sa.String:
    return sa.String(length=length)


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Double(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "edges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _name(), nullable=False),
        sa.Column("lane", _name(), nullable=False),
        sa.Column("port", _name(), nullable=False),
        sa.Column("token_sha256", _name(), nullable=False),
        _at("created_at"),
        _at("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_edges"),
        sa.UniqueConstraint("name", name="uq_edges_name"),
        sa.UniqueConstraint("token_sha256", name="uq_edges_token_sha256"),
    )
    op.create_index("ix_edges_lane", "edges", ["lane"])

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _name(), nullable=False),
        sa.Column("role", _name(16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        _at("created_at"),
        _at("disabled_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("name", name="uq_users_name"),
    )

    op.create_table(
        "web_sessions",
        sa.Column("token_sha256", _name(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf", _name(), nullable=False),
        _at("created_at"),
        _at("seen_at"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_web_sessions_user_id", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_sha256", name="pk_web_sessions"),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])

    op.create_table(
        "blobs",
        sa.Column("sha256", _name(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", _name(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("bits", sa.Integer(), nullable=True),
        sa.Column("planes", sa.Integer(), nullable=True),
        sa.Column("edge_id", sa.Integer(), nullable=False),
        _at("stored_at"),
        sa.ForeignKeyConstraint(["edge_id"], ["edges.id"], name="fk_blobs_edge_id"),
        sa.PrimaryKeyConstraint("sha256", name="pk_blobs"),
    )

    op.create_table(
        "uploads",
        sa.Column("sha256", _name(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", _name(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("edge_id", sa.Integer(), nullable=False),
        _at("started_at"),
        _at("updated_at"),
        sa.ForeignKeyConstraint(["edge_id"], ["edges.id"], name="fk_uploads_edge_id"),
        sa.PrimaryKeyConstraint("sha256", name="pk_uploads"),
    )

    op.create_table(
        "passages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lane", _name(), nullable=False),
        sa.Column("edge_passage_id", sa.BigInteger(), nullable=False),
        sa.Column("port", _name(), nullable=False),
        sa.Column("edge_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("doc_sha256", _name(), nullable=False),
        sa.Column("doc_json", sa.Text(), nullable=False),
        sa.Column("state", _name(16), nullable=False),
        sa.Column("plate", _name(32), nullable=False),
        sa.Column("containers", sa.Text(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("acted_by", _name(), nullable=False),
        _at("arrived_at"),
        _at("decided_at", nullable=True),
        _at("received_at"),
        sa.ForeignKeyConstraint(["edge_id"], ["edges.id"], name="fk_passages_edge_id"),
        sa.PrimaryKeyConstraint("id", name="pk_passages"),
        sa.UniqueConstraint("lane", "edge_passage_id", name="uq_passages_lane_edge_passage_id"),
    )
    op.create_index("ix_passages_arrived_at", "passages", ["arrived_at"])
    op.create_index("ix_passages_port", "passages", ["port"])

    op.create_table(
        "passage_keys",
        sa.Column("passage_id", sa.Integer(), nullable=False),
        sa.Column("kind", _name(16), nullable=False),
        sa.Column("value", _name(), nullable=False),
        sa.ForeignKeyConstraint(["passage_id"], ["passages.id"], name="fk_passage_keys_passage_id",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("passage_id", "kind", "value", name="pk_passage_keys"),
    )
    op.create_index("ix_passage_keys_kind_value", "passage_keys", ["kind", "value"])

    op.create_table(
        "passage_docs",
        sa.Column("sha256", _name(), nullable=False),
        sa.Column("passage_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        _at("received_at"),
        sa.ForeignKeyConstraint(["passage_id"], ["passages.id"], name="fk_passage_docs_passage_id"),
        sa.PrimaryKeyConstraint("sha256", name="pk_passage_docs"),
    )
    op.create_index("ix_passage_docs_passage_id", "passage_docs", ["passage_id"])

    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("passage_id", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        _at("deadline_at"),
        _at("created_at"),
        sa.Column("state", _name(16), nullable=False),
        sa.Column("claimed_by", _name(), nullable=True),
        _at("claimed_at", nullable=True),
        _at("lease_until", nullable=True),
        sa.Column("fence", sa.Integer(), nullable=False),
        sa.Column("verdict", _name(16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("decided_by", _name(), nullable=True),
        _at("decided_at", nullable=True),
        sa.Column("review_s", sa.Double(), nullable=True),
        sa.Column("rechecked_by", _name(), nullable=True),
        _at("rechecked_at", nullable=True),
        sa.Column("recheck_verdict", _name(16), nullable=True),
        sa.Column("recheck_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["passage_id"], ["passages.id"], name="fk_review_items_passage_id"),
        sa.PrimaryKeyConstraint("id", name="pk_review_items"),
        sa.UniqueConstraint("passage_id", name="uq_review_items_passage_id"),
    )
    op.create_index("ix_review_items_queue", "review_items",
                    ["state", "priority", "score", "deadline_at", "created_at"])

    op.create_table(
        "verdicts",
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("lane", _name(), nullable=False),
        sa.Column("edge_passage_id", sa.BigInteger(), nullable=False),
        sa.Column("verdict", _name(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reviewer", _name(), nullable=False),
        sa.Column("stage", _name(16), nullable=False),
        _at("decided_at"),
        sa.ForeignKeyConstraint(["item_id"], ["review_items.id"], name="fk_verdicts_item_id"),
        sa.PrimaryKeyConstraint("cursor", name="pk_verdicts"),
    )
    op.create_index("ix_verdicts_item_id", "verdicts", ["item_id"])
    op.create_index("ix_verdicts_lane_cursor", "verdicts", ["lane", "cursor"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        _at("at"),
        sa.Column("actor", _name(128), nullable=False),
        sa.Column("action", _name(), nullable=False),
        sa.Column("subject", _name(200), nullable=False),
        sa.Column("detail_json", sa.Text(), nullable=False),
        sa.Column("prev_sha256", _name(), nullable=False),
        sa.Column("sha256", _name(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )


def downgrade() -> None:
    for table in ("audit_log", "verdicts", "review_items", "passage_docs", "passage_keys", "passages",
                  "uploads", "blobs", "web_sessions", "users", "edges"):
        op.drop_table(table)
