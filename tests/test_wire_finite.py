"""No NaN or Infinity on the wire: the contract refuses them (the hub answers 422 naming the field, on
SQLite and PostgreSQL), the edge sends a failed model's score as 1.0 with a note, and the queue is in
the order of the real scores (PostgreSQL sorts a NaN above every number; SQLite binds it as NULL)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from contract.uplink import ImageWire, PassageUpload, ReasonWire, RegionWire
from tests import hub_images
from tests.hub_db import fresh_postgres_url
from tests.hub_harness import Hub, put_passage, running_hub, upload_blob
from tests.uplink_lane import UplinkLane, pass_payload, png

NON_FINITE = [float("nan"), float("inf"), float("-inf")]


@pytest.fixture(params=["sqlite", "postgres"])
def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hub]:
    with (fresh_postgres_url() if request.param == "postgres" else nullcontext(None)) as url, \
            running_hub(tmp_path, url) as running:
        yield running


def _image(hub: Hub, seed: int, score: float | None, region_score: float | None = None) -> ImageWire:
    data = hub_images.png16(30, 40, seed=seed)
    assert upload_blob(hub.edge, data, "image/png").json()["complete"] is True
    regions = [RegionWire(x=1, y=2, width=3, height=4, score=region_score)]
    return ImageWire(sha256=hashlib.sha256(data).hexdigest(), media_type="image/png", size=len(data),
                     device_id="uv1", kind="under_vehicle", width=40, height=30, score=score, regions=regions)


def _document(passage_id: int, images: list[ImageWire]) -> PassageUpload:
    at = datetime(2026, 5, 1, 8, 0, tzinfo=timezone.utc)
    return PassageUpload(lane="L1", passage_id=passage_id, revision=1, state="flagged", arrived_at=at, refer=True,
                         reasons=[ReasonWire(code="foreign_object", words="object", holds=True)], images=images)


def _put_raw(hub: Hub, document: dict[str, Any]) -> Any:
    """PUT a document as the edge's JSON would say it (NaN, Infinity: Python's json allows them)."""
    body = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hub.edge.put(f"/api/v1/passages/{hashlib.sha256(body).hexdigest()}", content=body,
                        headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("bad", NON_FINITE, ids=["nan", "inf", "-inf"])
def test_the_wire_models_refuse_non_finite_scores(bad: float) -> None:
    with pytest.raises(ValidationError, match="finite"):
        RegionWire(x=0, y=0, width=1, height=1, score=bad)
    with pytest.raises(ValidationError, match="finite"):
        ImageWire(sha256="a" * 64, media_type="image/png", size=1, device_id="d", kind="k", score=bad)
    text = json.dumps({"sha256": "a" * 64, "media_type": "image/png", "size": 1, "device_id": "d", "kind": "k",
                       "score": bad})
    assert "NaN" in text or "Infinity" in text
    with pytest.raises(ValidationError, match="finite"):
        ImageWire.model_validate_json(text)
    assert ImageWire(sha256="a" * 64, media_type="image/png", size=1, device_id="d", kind="k", score=0.5).score == 0.5


def test_the_hub_refuses_nan_and_infinity_with_422_and_orders_by_real_score(hub: Hub) -> None:
    for n, score in enumerate((0.3, 0.99, 0.5), start=1):
        assert put_passage(hub.edge, _document(n, [_image(hub, n, score)])).json()["status"] == "stored"
    for n, bad in enumerate(NON_FINITE, start=10):
        document = _document(n, [_image(hub, n, 0.1, region_score=0.1)]).model_dump(mode="json")
        document["images"][0]["score"] = bad
        answer = _put_raw(hub, document)
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "invalid" and "images.0.score" in answer.json()["detail"]
        document["images"][0]["score"], document["images"][0]["regions"][0]["score"] = 0.1, bad
        answer = _put_raw(hub, document)
        assert answer.status_code == 422, answer.text
        assert "images.0.regions.0.score" in answer.json()["detail"]
    queue = hub.reviewer.get("/api/v1/queue").json()
    assert [(i["score"]) for i in queue["items"]] == [0.99, 0.5, 0.3] and queue["depth"] == 3
    assert hub.reviewer.post("/api/v1/queue/claim").json()["item_id"] == queue["items"][0]["id"]


def _edge_image(tmp_path: Path, finding: float, region: float) -> tuple[ImageWire, bytes]:
    lane = UplinkLane(tmp_path / "edge")
    try:
        sha = png(lane.media, 7)
        payload = pass_payload("X123", [sha], regions=2)
        payload["obs"][0]["findings"][0]["evidence"]["score"] = finding
        payload["obs"][0]["images"][0]["regions"][1]["score"] = region
        lane.reading(payload)
        (row,) = [r for r in lane.rows() if r["kind"] == "passage"]
        document = PassageUpload.model_validate_json(row["doc_json"])
        return document.images[0], lane.media.path(sha).read_bytes()
    finally:
        lane.close()


def test_the_edge_sends_a_failed_model_score_as_the_worst_case_with_a_note(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="edge.uplink.document"):
        image, _ = _edge_image(tmp_path, float("nan"), float("inf"))
    assert image.score == 1.0  # edge.uplink.document.FAILED_SCORE
    assert [r.score for r in image.regions] == [0.5, 1.0]
    assert image.label == "undercarriage · model score not a number, sent as 1.0"  # FAILED_NOTE
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("finding score is nan" in m for m in warned) and any("region score is inf" in m for m in warned)


def test_a_finite_score_is_sent_as_it_is(tmp_path: Path) -> None:
    image, _ = _edge_image(tmp_path, 0.25, 0.75)
    assert image.score == 0.25 and [r.score for r in image.regions] == [0.5, 0.75] and image.label == "undercarriage"


def test_the_edge_document_with_a_failed_score_reaches_review(hub: Hub, tmp_path: Path) -> None:
    """The edge's document of a NaN-scored image is taken (not refused, not a 500) and queued at 1.0."""
    image, data = _edge_image(tmp_path, float("nan"), 0.6)
    assert upload_blob(hub.edge, data, "image/png").json()["complete"] is True
    assert put_passage(hub.edge, _document(1, [_image(hub, 1, 0.99)])).json()["status"] == "stored"
    answer = put_passage(hub.edge, _document(2, [image]))
    assert answer.status_code == 200 and answer.json()["status"] == "stored", answer.text
    assert [i["score"] for i in hub.reviewer.get("/api/v1/queue").json()["items"]] == [1.0, 0.99]
