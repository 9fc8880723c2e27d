"""The hub's tables (SQLAlchemy 2 declarative). docs/hub.md's Store section lists them.

Times are float epoch seconds (REAL / DOUBLE PRECISION) so that ages and leases are plain
arithmetic; JSON documents are Text. Constraint and index names are explicit, so that the
hand-written migrations match these models by name on every database.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Double, ForeignKey, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}

NAME = 64  # names, lanes, ports, user names
SHA = 64  # hex SHA-256


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Edge(Base):
    """One lane's edge node and the SHA-256 of its bearer token."""

    __tablename__ = "edges"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME), unique=True)
    lane: Mapped[str] = mapped_column(String(NAME), index=True)
    port: Mapped[str] = mapped_column(String(NAME))
    token_sha256: Mapped[str] = mapped_column(String(SHA), unique=True)
    created_at: Mapped[float] = mapped_column(Double)
    revoked_at: Mapped[float | None] = mapped_column(Double)


class User(Base):
    """A person: reviewer, supervisor or admin, with an argon2id password hash."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Double)
    disabled_at: Mapped[float | None] = mapped_column(Double)


class WebSession(Base):
    """A browser's login; the token itself is only in the cookie."""

    __tablename__ = "web_sessions"
    token_sha256: Mapped[str] = mapped_column(String(SHA), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(NAME))
    created_at: Mapped[float] = mapped_column(Double)
    seen_at: Mapped[float] = mapped_column(Double)


class Blob(Base):
    """An image the hub holds whole (checked), by SHA-256 of its bytes."""

    __tablename__ = "blobs"
    sha256: Mapped[str] = mapped_column(String(SHA), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(NAME))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    bits: Mapped[int | None] = mapped_column(Integer)
    planes: Mapped[int | None] = mapped_column(Integer)
    edge_id: Mapped[int] = mapped_column(ForeignKey("edges.id"))
    stored_at: Mapped[float] = mapped_column(Double)


class BlobHolder(Base):
    """A lane that holds a blob: one of its edges uploaded the bytes whole (migration 0003).

    An edge sees (HEAD) and names (PUT /passages) only the blobs its lane holds; uploading bytes
    the hub already keeps for another lane only adds a holder.
    """

    __tablename__ = "blob_holders"
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"), primary_key=True)
    lane: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    edge_id: Mapped[int] = mapped_column(ForeignKey("edges.id"))  # the lane's edge that uploaded it first
    held_at: Mapped[float] = mapped_column(Double)


class HubSecret(Base):
    """A secret of this hub database, made once (`secrets.token_bytes`) and kept (migration 0004).

    `recheck_seed`: the HMAC key of the re-check sample (hub/queue.py `recheck_chosen`), so that
    no one who sees item ids can tell which clear verdicts a supervisor will look at again.
    """

    __tablename__ = "hub_secrets"
    name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))  # hex
    created_at: Mapped[float] = mapped_column(Double)


class Upload(Base):
    """An image upload in progress (hub/uploads.py), of the edge `edge_id` only."""

    __tablename__ = "uploads"
    sha256: Mapped[str] = mapped_column(String(SHA), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(NAME))
    offset: Mapped[int] = mapped_column(BigInteger)
    edge_id: Mapped[int] = mapped_column(ForeignKey("edges.id"))
    started_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)
    generation: Mapped[str] = mapped_column(String(32), server_default="")  # rewritten with every change (0002)


class Passage(Base):
    """The newest accepted revision of one lane's passage, with the columns the queue and stats read."""

    __tablename__ = "passages"
    __table_args__ = (UniqueConstraint("lane", "edge_passage_id", name="uq_passages_lane_edge_passage_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lane: Mapped[str] = mapped_column(String(NAME))
    edge_passage_id: Mapped[int] = mapped_column(BigInteger)
    port: Mapped[str] = mapped_column(String(NAME), index=True)
    edge_id: Mapped[int] = mapped_column(ForeignKey("edges.id"))
    revision: Mapped[int] = mapped_column(Integer)
    doc_sha256: Mapped[str] = mapped_column(String(SHA))
    doc_json: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    plate: Mapped[str] = mapped_column(String(32))
    containers: Mapped[str] = mapped_column(Text)  # JSON list of container numbers
    flagged: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[float] = mapped_column(Double)
    acted_by: Mapped[str] = mapped_column(String(NAME))
    arrived_at: Mapped[float] = mapped_column(Double, index=True)
    decided_at: Mapped[float | None] = mapped_column(Double)
    received_at: Mapped[float] = mapped_column(Double)


class PassageKey(Base):
    """A plate or container number of a passage, to find earlier passes of the same vehicle."""

    __tablename__ = "passage_keys"
    __table_args__ = (Index("ix_passage_keys_kind_value", "kind", "value"),)
    passage_id: Mapped[int] = mapped_column(ForeignKey("passages.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # "plate" or "container"
    value: Mapped[str] = mapped_column(String(NAME), primary_key=True)


class PassageDoc(Base):
    """Every passage document ever accepted, by the SHA-256 of its canonical JSON."""

    __tablename__ = "passage_docs"
    sha256: Mapped[str] = mapped_column(String(SHA), primary_key=True)
    passage_id: Mapped[int] = mapped_column(ForeignKey("passages.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[float] = mapped_column(Double)


class ReviewItem(Base):
    """A passage's images waiting for (or past) a reviewer: the queue's row, its lease and verdict."""

    __tablename__ = "review_items"
    __table_args__ = (Index("ix_review_items_queue", "state", "priority", "score", "deadline_at", "created_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    passage_id: Mapped[int] = mapped_column(ForeignKey("passages.id"), unique=True)
    flagged: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[float] = mapped_column(Double)
    priority: Mapped[int] = mapped_column(Integer)  # the tier: 0 flagged, 1 not; lower first
    deadline_at: Mapped[float] = mapped_column(Double)
    created_at: Mapped[float] = mapped_column(Double)
    state: Mapped[str] = mapped_column(String(16))  # queued, claimed, decided, recheck, rechecked
    claimed_by: Mapped[str | None] = mapped_column(String(NAME))
    claimed_at: Mapped[float | None] = mapped_column(Double)
    lease_until: Mapped[float | None] = mapped_column(Double)
    fence: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(NAME))
    decided_at: Mapped[float | None] = mapped_column(Double)
    review_s: Mapped[float | None] = mapped_column(Double)
    rechecked_by: Mapped[str | None] = mapped_column(String(NAME))
    rechecked_at: Mapped[float | None] = mapped_column(Double)
    recheck_verdict: Mapped[str | None] = mapped_column(String(16))
    recheck_note: Mapped[str | None] = mapped_column(Text)


class VerdictRow(Base):
    """One verdict for a lane, on the feed's cursor (which only grows, in commit order)."""

    __tablename__ = "verdicts"
    __table_args__ = (Index("ix_verdicts_lane_cursor", "lane", "cursor"),)
    cursor: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id"), index=True)
    lane: Mapped[str] = mapped_column(String(NAME))
    edge_passage_id: Mapped[int] = mapped_column(BigInteger)
    verdict: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(NAME))
    stage: Mapped[str] = mapped_column(String(16))  # review, recheck
    decided_at: Mapped[float] = mapped_column(Double)


class AuditEntry(Base):
    """One link of the append-only, hash-chained audit log (ids 1, 2, 3, ... without gaps)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[float] = mapped_column(Double)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(NAME))
    subject: Mapped[str] = mapped_column(String(200))
    detail_json: Mapped[str] = mapped_column(Text)
    prev_sha256: Mapped[str] = mapped_column(String(SHA))
    sha256: Mapped[str] = mapped_column(String(SHA))
