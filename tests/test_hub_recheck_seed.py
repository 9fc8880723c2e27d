"""The re-check sample is keyed by a secret seed of the hub database (SQLite and PostgreSQL): another
database chooses other items, the share is the configured one, one database's choice survives restarts,
and nobody who sees item ids can compute it (no plain hash of the id)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import delete, select

from hub import queue
from hub.db.engine import Database
from hub.ingest import ReviewPolicy
from tests.hub_db import fresh_postgres_url, hub_db, migrated, sqlite_url  # noqa: F401  (fixture)
from tests.hub_samples import T0, add_edge, passage, store

IDS = range(1, 201)


def _seed(db: Database) -> bytes:
    with db.session() as s:
        return queue.recheck_seed(s)


def _chosen(db: Database, share: float, ids: range = IDS) -> set[int]:
    seed = _seed(db)
    return {i for i in ids if queue.recheck_chosen(seed, i, share)}


@contextmanager
def _another(db: Database, tmp_path: Path) -> Iterator[Database]:
    """A second, freshly migrated hub database of the same kind as `db`."""
    if db.engine.dialect.name == "postgresql":
        with fresh_postgres_url() as url, migrated(url) as other:
            yield other
        return
    (tmp_path / "other").mkdir()
    with migrated(sqlite_url(tmp_path / "other")) as other:
        yield other


def test_two_hub_databases_choose_different_items(hub_db: Database, tmp_path: Path) -> None:
    with _another(hub_db, tmp_path) as other:
        assert len(_seed(hub_db)) == 32 and _seed(hub_db) != _seed(other)
        for share in (0.1, 0.5):
            mine, theirs = _chosen(hub_db, share), _chosen(other, share)
            assert mine and theirs and mine != theirs
    plain = {i for i in IDS if int(hashlib.sha256(str(i).encode()).hexdigest()[:8], 16) / 2**32 < 0.5}
    assert _chosen(hub_db, 0.5) != plain  # what a reviewer could compute from the id alone


def test_the_share_is_the_configured_one(hub_db: Database) -> None:
    ids = range(1, 1001)
    assert 50 <= len(_chosen(hub_db, 0.1, ids)) <= 150
    assert 400 <= len(_chosen(hub_db, 0.5, ids)) <= 600
    assert _chosen(hub_db, 0.0, ids) == set() and _chosen(hub_db, 1.0, ids) == set(ids)
    assert _chosen(hub_db, 0.1, ids) <= _chosen(hub_db, 0.5, ids)  # one draw per item, compared with the share


def test_a_choice_is_stable_across_restarts(hub_db: Database) -> None:
    url = hub_db.engine.url.render_as_string(hide_password=False)
    before, seed = _chosen(hub_db, 0.5), _seed(hub_db)
    for _ in range(2):  # a new process: a new engine, the migration run again
        with migrated(url) as again:
            assert _seed(again) == seed and _chosen(again, 0.5) == before


def test_a_missing_seed_is_made_once_and_kept(hub_db: Database) -> None:
    from hub.db.models import HubSecret

    with hub_db.session() as s:
        s.execute(delete(HubSecret))
    made = _seed(hub_db)
    assert len(made) == 32 and _seed(hub_db) == made
    with hub_db.read_session() as s:
        assert s.scalars(select(HubSecret.name)).all() == ["recheck_seed"]


def test_decide_sends_the_seeded_choice_to_recheck(hub_db: Database) -> None:
    edge = add_edge(hub_db)
    ids = []
    for n in range(1, 25):
        ack = store(hub_db, edge, passage("lane-1", n), now=T0 + n)
        assert ack.review_item is not None
        ids.append(ack.review_item)
    policy = ReviewPolicy(recheck_share=0.5)
    expected = _chosen(hub_db, 0.5, range(min(ids), max(ids) + 1))
    assert 0 < len(expected) < len(ids)
    for n in range(len(ids)):
        with hub_db.session() as s:
            claim = queue.claim_next(s, "ann", T0 + 100 + n, policy)
        assert claim is not None
        with hub_db.session() as s:
            queue.decide(s, claim.item_id, claim.fence, "ann", "clear", "", T0 + 101 + n, policy)
    with hub_db.read_session() as s:
        assert {i.id for i in queue.pending_rechecks(s)} == expected
