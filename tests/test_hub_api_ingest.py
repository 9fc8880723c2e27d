"""Passage documents over real HTTP: held images first, the path's hash, the token's lane, re-sends."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import pytest

from contract.uplink import ImageWire, ObservationWire, PassageAck, PassageUpload, Refusal, canonical_sha256
from tests import hub_images
from tests.hub_harness import Hub, put_passage, running_hub, upload_blob


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with running_hub(tmp_path_factory.mktemp("hub")) as running:
        yield running


def image(hub: Hub, seed: int, upload: bool = True, client: httpx.Client | None = None) -> ImageWire:
    data = hub_images.png16(30, 40, seed=seed)
    if upload:
        assert upload_blob(client or hub.edge, data, "image/png").json()["complete"] is True
    return ImageWire(sha256=hashlib.sha256(data).hexdigest(), media_type="image/png", size=len(data),
                     device_id="uv1", kind="under_vehicle", width=40, height=30)


def document(passage_id: int, images: list[ImageWire], *, lane: str = "L1", revision: int = 1,
             refer: bool = True, observed: list[str] | None = None) -> PassageUpload:
    at = datetime(2026, 5, 1, 8, 0, tzinfo=timezone.utc)
    observations = [ObservationWire(device_id="scan1", kind="scanner", said="scan", at=at, images=observed)] \
        if observed else []
    return PassageUpload(lane=lane, passage_id=passage_id, revision=revision, state="flagged", arrived_at=at,
                         refer=refer, images=images, observations=observations)


def test_missing_image_is_409_naming_it(hub: Hub) -> None:
    held, missing = image(hub, 1), image(hub, 2, upload=False)
    answer = put_passage(hub.edge, document(1, [held, missing]))
    assert answer.status_code == 409
    refusal = Refusal.model_validate(answer.json())
    assert (refusal.code, refusal.missing) == ("missing_images", [missing.sha256])
    observed_only = image(hub, 3, upload=False)
    answer = put_passage(hub.edge, document(2, [held], observed=[observed_only.sha256]))
    assert answer.status_code == 409 and answer.json()["missing"] == [observed_only.sha256]
    assert hub.reviewer.get("/api/v1/queue").json()["depth"] == 0  # nothing half there
    image(hub, 2)  # the edge uploads it, then re-sends the passage
    assert put_passage(hub.edge, document(1, [held, missing])).json()["status"] == "stored"


def test_wrong_lane_is_403(hub: Hub) -> None:
    answer = put_passage(hub.edge, document(3, [image(hub, 4)], lane="L2"))
    assert answer.status_code == 403 and answer.json()["code"] == "wrong_lane"
    own = image(hub, 4, client=hub.other_edge)  # lane L2 uploads the bytes itself: then it holds them
    assert put_passage(hub.other_edge, document(3, [own], lane="L2")).status_code == 200


def test_the_path_must_be_the_documents_hash(hub: Hub) -> None:
    upload = document(4, [image(hub, 5)])
    answer = hub.edge.put(f"/api/v1/passages/{'0' * 64}", content=upload.model_dump_json(),
                          headers={"Content-Type": "application/json"})
    assert answer.status_code == 422 and answer.json()["code"] == "hash_mismatch"
    assert canonical_sha256(upload) in answer.json()["detail"]
    junk = hub.edge.put(f"/api/v1/passages/{'0' * 64}", json={"lane": "L1", "passage_id": -1})
    assert junk.status_code == 422 and junk.json()["code"] == "invalid" and "passage_id" in junk.json()["detail"]


def test_resending_is_harmless_and_revisions_only_move_forward(hub: Hub) -> None:
    pictures = [image(hub, 6)]
    first = PassageAck.model_validate(put_passage(hub.edge, document(5, pictures, revision=2)).json())
    assert first.status == "stored" and first.review_item is not None
    again = PassageAck.model_validate(put_passage(hub.edge, document(5, pictures, revision=2)).json())
    assert (again.status, again.review_item) == ("duplicate", first.review_item)
    older = put_passage(hub.edge, document(5, pictures, revision=1)).json()
    assert older["status"] == "superseded"
    newer = put_passage(hub.edge, document(5, pictures, revision=3)).json()
    assert newer["status"] == "stored" and newer["review_item"] == first.review_item
    items = [i for i in hub.reviewer.get("/api/v1/queue").json()["items"] if i["passage_id"] == 5]
    assert len(items) == 1
    unreferred = put_passage(hub.edge, document(6, pictures, refer=False)).json()
    assert unreferred["status"] == "stored" and unreferred["review_item"] is None
