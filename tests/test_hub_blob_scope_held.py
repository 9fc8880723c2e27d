"""A finished image is held for the lanes whose edges uploaded it, and only those see it or name it.

Real HTTP against a running hub on SQLite and PostgreSQL: HEAD and POST by an edge of another lane answer
as if the hub had no such bytes (so that edge uploads them itself and its lane becomes a holder, one file
kept), and a passage may name only images its own lane holds (else 409 `missing_images`). Also the
migration's backfill of holders from `blobs.edge_id`.
"""

from __future__ import annotations

import hashlib
import time
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import insert, select

from contract.uplink import UPLOAD_OFFSET, ImageWire, ObservationWire, PassageUpload, Refusal
from hub import accounts
from hub.db.engine import Database, alembic_config, make_engine, upgrade
from hub.db.models import Blob, BlobHolder, Upload
from tests import hub_images
from tests.hub_db import fresh_postgres_url, sqlite_url
from tests.hub_harness import Hub, hub, put_passage, upload_blob  # noqa: F401  (hub: fixture)

BLOB = "/api/v1/blobs/{}"


def picture(seed: int) -> tuple[bytes, ImageWire]:
    data = hub_images.png16(30, 40, seed=seed)
    return data, ImageWire(sha256=hashlib.sha256(data).hexdigest(), media_type="image/png", size=len(data),
                           device_id="uv1", kind="under_vehicle", width=40, height=30)


def document(lane: str, passage_id: int, images: list[ImageWire], observed: list[str] | None = None) -> PassageUpload:
    at = datetime(2026, 5, 1, 8, 0, tzinfo=timezone.utc)
    observations = [ObservationWire(device_id="scan1", kind="scanner", said="scan", at=at, images=observed)] \
        if observed else []
    return PassageUpload(lane=lane, passage_id=passage_id, revision=1, state="flagged", arrived_at=at, refer=True,
                         images=images, observations=observations)


def holders(hub: Hub, digest: str) -> list[str]:
    with hub.database.read_session() as s:
        return sorted(s.scalars(select(BlobHolder.lane).where(BlobHolder.sha256 == digest)))


def copies(hub: Hub, digest: str) -> list[Path]:
    """Every file named after `digest` under the blob root: the stored one, and any partial left."""
    return sorted(p for p in hub.config.blobs.root.rglob(f"{digest}*") if p.suffix != ".lock")


def test_another_lanes_blob_is_not_held_for_it_until_it_uploads_the_bytes(hub: Hub) -> None:
    data, image = picture(201)
    assert upload_blob(hub.edge, data, "image/png").json()["complete"] is True
    assert hub.other_edge.head(BLOB.format(image.sha256)).status_code == 404  # the old hub said 200: "held"
    opened = hub.other_edge.post(BLOB.format(image.sha256), json={"size": len(data), "media_type": "image/png"})
    assert opened.json() == {"sha256": image.sha256, "size": len(data), "offset": 0, "complete": False}
    assert hub.edge.head(BLOB.format(image.sha256)).headers[UPLOAD_OFFSET] == str(len(data))  # L1 holds it still
    assert holders(hub, image.sha256) == ["L1"]
    done = upload_blob(hub.other_edge, data, "image/png", chunk=800)
    assert done.json() == {"sha256": image.sha256, "size": len(data), "offset": len(data), "complete": True}
    assert holders(hub, image.sha256) == ["L1", "L2"]
    assert copies(hub, image.sha256) == [hub.app.state.hub.blobs.path(image.sha256)]  # one file, no partial
    assert hub.other_edge.head(BLOB.format(image.sha256)).status_code == 200


def test_a_blob_is_held_for_its_lane_not_its_edge(hub: Hub) -> None:
    """A second edge of lane L1 (a replaced node) sees what the first uploaded, and may name it."""
    data, image = picture(202)
    assert upload_blob(hub.edge, data, "image/png").json()["complete"] is True
    with hub.database.session() as s:
        _info, hub.edge_tokens["edge-1b"] = accounts.add_edge(s, "edge-1b", "L1", "P1", actor="test")
    second = hub.edge_client("edge-1b")
    assert second.head(BLOB.format(image.sha256)).status_code == 200
    assert hub.other_edge.head(BLOB.format(image.sha256)).status_code == 404  # lane L2 does not hold it
    assert put_passage(second, document("L1", 2021, [image])).json()["status"] == "stored"
    assert put_passage(hub.other_edge, document("L2", 2021, [image])).json()["missing"] == [image.sha256]


def test_a_passage_cannot_name_another_lanes_images(hub: Hub) -> None:
    theirs_data, theirs = picture(203)
    seen_data, seen = picture(204)
    assert upload_blob(hub.edge, theirs_data, "image/png").json()["complete"] is True
    assert upload_blob(hub.edge, seen_data, "image/png").json()["complete"] is True
    depth = hub.reviewer.get("/api/v1/queue").json()["depth"]
    answer = put_passage(hub.other_edge, document("L2", 2031, [theirs]))
    assert answer.status_code == 409  # the old hub stored it: lane L1's image as L2's evidence
    refusal = Refusal.model_validate(answer.json())
    assert (refusal.code, refusal.missing) == ("missing_images", [theirs.sha256])
    own_data, own = picture(205)
    assert upload_blob(hub.other_edge, own_data, "image/png").json()["complete"] is True
    observed = put_passage(hub.other_edge, document("L2", 2032, [own], observed=[seen.sha256]))
    assert observed.status_code == 409 and observed.json()["missing"] == [seen.sha256]
    assert hub.reviewer.get("/api/v1/queue").json()["depth"] == depth  # nothing stored of either
    assert put_passage(hub.other_edge, document("L2", 2033, [own])).json()["status"] == "stored"
    assert put_passage(hub.edge, document("L1", 2031, [theirs], observed=[seen.sha256])).json()["status"] == "stored"
    assert hub.reviewer.get("/api/v1/queue").json()["depth"] == depth + 2


def test_a_blob_stored_but_not_recorded_is_recorded_for_its_uploader(hub: Hub, tmp_path: Path) -> None:
    """Killed between moving edge-1's upload into the store and recording it; edge-2 asks first."""
    data, image = picture(206)
    opened = hub.edge.post(BLOB.format(image.sha256), json={"size": len(data), "media_type": "image/png"})
    assert opened.status_code == 200
    loose = tmp_path / "loose"
    loose.write_bytes(data)
    hub.app.state.hub.blobs.put_file(loose, image.sha256)
    (hub.config.blobs.root / "partial" / f"{image.sha256}.part").unlink()  # moved into the store
    assert hub.other_edge.head(BLOB.format(image.sha256)).status_code == 404  # the old hub: 200, and held for L2
    assert holders(hub, image.sha256) == ["L1"]
    with hub.database.read_session() as s:
        assert s.get(Upload, image.sha256) is None
        assert s.get(Blob, image.sha256).edge_id == hub.edges["edge-1"].id  # type: ignore[union-attr]
    assert hub.edge.head(BLOB.format(image.sha256)).status_code == 200


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_upgrade_holds_existing_blobs_for_their_uploaders_lane(engine: str, tmp_path: Path) -> None:
    with (fresh_postgres_url() if engine == "postgres" else nullcontext(sqlite_url(tmp_path))) as url:
        database = Database(make_engine(url))
        try:
            with database.engine.begin() as connection:
                command.upgrade(alembic_config(connection), "0002")
            with database.session() as s:
                edge, _token = accounts.add_edge(s, "edge-9", "L9", "P1", actor="test")
                s.execute(insert(Blob).values(sha256="a" * 64, size=3, media_type="image/png", edge_id=edge.id,
                                              stored_at=time.time()))
            upgrade(database.engine)
            with database.read_session() as s:
                rows = [(r.sha256, r.lane, r.edge_id) for r in s.scalars(select(BlobHolder))]
            assert rows == [("a" * 64, "L9", edge.id)]
        finally:
            database.dispose()

