"""The review flow over real HTTP, on SQLite and PostgreSQL: a lane's passage in, a verdict back out.

Claim, renew, verdict under the fence; a stale fence 409; an expired lease taken over; re-checks;
the item's detail with earlier passes; images, pixels and the DICOS export; the long poll.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
import zipfile
from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import numpy as np
import pytest

from contract.uplink import ImageWire, PassageUpload, ReasonWire, RegionWire, VerdictPage
from hub import queue as review_queue
from hub.db.engine import Database, make_engine
from hub.routes import verdicts as verdict_routes
from tests import hub_images
from tests.hub_db import fresh_postgres_url
from tests.hub_harness import REVIEWER, REVIEWER2, SUPERVISOR, Hub, put_passage, running_hub, upload_blob
from tests.lane_harness import wait_until

LEASE_S = 1.0


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    review = {"lease_s": LEASE_S, "recheck_share": 0.0}
    if request.param == "sqlite":
        with running_hub(tmp_path_factory.mktemp("hub"), review=review) as running:
            yield running
        return
    with fresh_postgres_url() as url, running_hub(tmp_path_factory.mktemp("hub"), url, review=review) as running:
        yield running


_ids = iter(range(1, 10_000))


def send_passage(hub: Hub, *, plate: str = "", flagged: bool = True, score: float = 0.9,
                 image: bytes | None = None) -> tuple[int, PassageUpload]:
    """An image uploaded and a referred passage naming it; (the review item's id, the document)."""
    data = image if image is not None else hub_images.png16(40, 64, seed=next(_ids))
    sha = hashlib.sha256(data).hexdigest()
    assert upload_blob(hub.edge, data, "image/png").json()["complete"] is True
    passage_id = next(_ids)
    upload = PassageUpload(
        lane="L1", passage_id=passage_id, revision=1, state="flagged" if flagged else "clear", plate=plate,
        arrived_at=datetime.fromtimestamp(time.time() - 30, timezone.utc), refer=True,
        reasons=[ReasonWire(code="foreign_object", words="a box under the truck", holds=True)] if flagged else [],
        images=[ImageWire(sha256=sha, media_type="image/png", size=len(data), device_id="uv1", kind="under_vehicle",
                          width=64, height=40, score=score,
                          regions=[RegionWire(x=3, y=4, width=10, height=8, score=0.8)])])
    ack = put_passage(hub.edge, upload)
    assert ack.status_code == 200, ack.text
    assert ack.json()["status"] == "stored"
    return ack.json()["review_item"], upload


def claim(client: httpx.Client, item_id: int) -> int:
    answer = client.post(f"/api/v1/review/{item_id}/claim")
    assert answer.status_code == 200, answer.text
    return int(answer.json()["fence"])


def test_claim_renew_verdict_and_the_stale_fence(hub: Hub) -> None:
    item_id, upload = send_passage(hub)
    queue = hub.reviewer.get("/api/v1/queue").json()
    assert item_id in [i["id"] for i in queue["items"]] and queue["depth"] >= 1
    fence = claim(hub.reviewer, item_id)
    other = hub.reviewer2.post(f"/api/v1/review/{item_id}/claim")
    assert other.status_code == 409 and other.json()["code"] == "not_allowed"
    renewed = hub.reviewer.post(f"/api/v1/review/{item_id}/renew", json={"fence": fence}).json()
    assert renewed["fence"] == fence and renewed["lease_until"] > time.time()
    stale = hub.reviewer.post(f"/api/v1/review/{item_id}/verdict", json={"fence": fence - 1, "verdict": "clear"})
    assert stale.status_code == 409 and stale.json()["code"] == "stale_claim"
    foreign = hub.reviewer2.post(f"/api/v1/review/{item_id}/verdict", json={"fence": fence, "verdict": "clear"})
    assert foreign.status_code == 409
    no_note = hub.reviewer.post(f"/api/v1/review/{item_id}/verdict", json={"fence": fence, "verdict": "suspicious"})
    assert no_note.status_code == 422 and "note" in no_note.json()["detail"]
    done = hub.reviewer.post(f"/api/v1/review/{item_id}/verdict",
                             json={"fence": fence, "verdict": "clear", "note": "only the cross member"})
    assert done.status_code == 200
    cursor = done.json()["cursor"]
    again = hub.reviewer.post(f"/api/v1/review/{item_id}/verdict", json={"fence": fence, "verdict": "clear"})
    assert again.status_code == 409
    page = VerdictPage.model_validate(hub.edge.get("/api/v1/verdicts", params={"after": cursor - 1}).json())
    assert [(v.passage_id, v.verdict, v.reviewer, v.stage) for v in page.verdicts] == \
        [(upload.passage_id, "clear", REVIEWER, "review")]
    assert hub.other_edge.get("/api/v1/verdicts", params={"after": cursor - 1}).json()["verdicts"] == []
    detail = hub.reviewer.get(f"/api/v1/review/{item_id}").json()
    assert detail["item"]["state"] == "decided"
    assert [v["cursor"] for v in detail["verdicts"]] == [cursor]
    assert PassageUpload.model_validate(detail["passage"]) == upload


def test_expired_lease_taken_over_old_holder_refused(hub: Hub) -> None:
    item_id, _ = send_passage(hub, score=0.99)
    old = claim(hub.reviewer, item_id)
    time.sleep(LEASE_S + 0.2)
    late_renew = hub.reviewer2.post(f"/api/v1/review/{item_id}/claim")
    assert late_renew.status_code == 200
    new = late_renew.json()["fence"]
    assert new > old
    refused = hub.reviewer.post(f"/api/v1/review/{item_id}/verdict",
                                json={"fence": old, "verdict": "suspicious", "note": "box"})
    assert refused.status_code == 409 and refused.json()["code"] == "stale_claim"
    assert hub.reviewer.post(f"/api/v1/review/{item_id}/renew", json={"fence": old}).status_code == 409
    assert hub.reviewer2.post(f"/api/v1/review/{item_id}/release", json={"fence": new}).status_code == 204
    assert hub.reviewer.get(f"/api/v1/review/{item_id}").json()["item"]["state"] == "queued"


def test_claim_next_takes_the_queue_in_order(hub: Hub) -> None:
    while (answer := hub.reviewer.post("/api/v1/queue/claim")).status_code == 200:  # empty the queue first
        claimed = answer.json()
        hub.reviewer.post(f"/api/v1/review/{claimed['item_id']}/verdict",
                          json={"fence": claimed["fence"], "verdict": "clear"})
    assert answer.status_code == 204
    low, _ = send_passage(hub, flagged=False, score=0.1)
    high, _ = send_passage(hub, flagged=True, score=0.5)
    first = hub.reviewer.post("/api/v1/queue/claim").json()
    second = hub.reviewer2.post("/api/v1/queue/claim").json()
    assert (first["item_id"], second["item_id"]) == (high, low)
    assert hub.supervisor.post("/api/v1/queue/claim").status_code == 204


def test_suspicious_goes_to_recheck_and_an_overturn_reaches_the_lane(hub: Hub) -> None:
    item_id, upload = send_passage(hub)
    fence = claim(hub.reviewer, item_id)
    hub.reviewer.post(f"/api/v1/review/{item_id}/verdict", json={"fence": fence, "verdict": "suspicious",
                                                                 "note": "a box by the gearbox"})
    waiting = hub.supervisor.get("/api/v1/rechecks").json()["items"]
    assert item_id in [i["id"] for i in waiting]
    assert hub.reviewer.get("/api/v1/rechecks").status_code == 403
    bad = hub.supervisor.post(f"/api/v1/review/{item_id}/recheck", json={"verdict": "suspicious", "note": ""})
    assert bad.status_code == 422
    after = hub.edge.get("/api/v1/verdicts").json()["cursor"]
    overturned = hub.supervisor.post(f"/api/v1/review/{item_id}/recheck",
                                     json={"verdict": "clear", "note": "the box is the spare wheel"}).json()
    assert overturned["outcome"] == "overturned" and overturned["cursor"] > after
    page = hub.edge.get("/api/v1/verdicts", params={"after": after}).json()
    assert [(v["passage_id"], v["verdict"], v["stage"], v["reviewer"]) for v in page["verdicts"]] == \
        [(upload.passage_id, "clear", "recheck", SUPERVISOR)]
    twice = hub.supervisor.post(f"/api/v1/review/{item_id}/recheck", json={"verdict": "clear"})
    assert twice.status_code == 409
    confirmed_id, _ = send_passage(hub)
    fence = claim(hub.reviewer2, confirmed_id)
    hub.reviewer2.post(f"/api/v1/review/{confirmed_id}/verdict", json={"fence": fence, "verdict": "suspicious",
                                                                       "note": "wires"})
    confirmed = hub.supervisor.post(f"/api/v1/review/{confirmed_id}/recheck",
                                    json={"verdict": "suspicious", "note": "agreed"}).json()
    assert confirmed == {"outcome": "confirmed", "cursor": None}


def test_detail_shows_earlier_passes_of_the_plate(hub: Hub) -> None:
    first, upload = send_passage(hub, plate="鲁C12345")
    second, _ = send_passage(hub, plate="鲁C12345")
    detail = hub.reviewer.get(f"/api/v1/review/{second}").json()
    assert [(e["item_id"], e["passage_id"]) for e in detail["earlier"]] == [(first, upload.passage_id)]
    assert detail["earlier"][0]["images"][0]["sha256"] == upload.images[0].sha256
    assert hub.reviewer.get("/api/v1/review/999999").status_code == 404


def test_images_file_pixels_and_dicos_export(hub: Hub) -> None:
    data = hub_images.png16(40, 64, seed=777)
    item_id, upload = send_passage(hub, image=data)
    sha = upload.images[0].sha256
    file = hub.reviewer.get(f"/api/v1/images/{sha}")
    assert file.status_code == 200 and file.content == data
    assert file.headers["content-type"] == "image/png" and file.headers["etag"] == f'"{sha}"'
    assert file.headers["cache-control"] == "private, no-cache"  # asked again each time: a login is checked
    assert hub.reviewer.get(f"/api/v1/images/{sha}", headers={"If-None-Match": f'"{sha}"'}).status_code == 304
    pixels = hub.supervisor.get(f"/api/v1/images/{sha}/pixels")
    shape = tuple(int(pixels.headers[h]) for h in ("X-Width", "X-Height", "X-Bits", "X-Planes"))
    assert shape == (64, 40, 16, 1)
    expected = hub_images.scan_planes(40, 64, seed=777)[0]
    assert np.array_equal(np.frombuffer(pixels.content, "<u2").reshape(40, 64), expected)
    assert hub.reviewer.get(f"/api/v1/images/{'0' * 64}").status_code == 404
    fence = claim(hub.reviewer, item_id)
    hub.reviewer.post(f"/api/v1/review/{item_id}/verdict", json={"fence": fence, "verdict": "suspicious",
                                                                 "note": "box"})
    export = hub.reviewer.get(f"/api/v1/review/{item_id}/dicos")
    assert export.status_code == 200, export.text
    assert export.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(export.content)).namelist()
    assert {"image.dx.dcm", "machine.tdr.dcm", "operator-1-review.tdr.dcm", "manifest.json"} <= set(names)
    wrong = hub.reviewer.get(f"/api/v1/review/{item_id}/dicos", params={"image": "1" * 64})
    assert wrong.status_code == 404


def test_long_poll_returns_within_half_a_second_of_the_verdict(hub: Hub) -> None:
    item_id, upload = send_passage(hub)
    fence = claim(hub.reviewer, item_id)
    after = hub.edge.get("/api/v1/verdicts").json()["cursor"]
    started = time.monotonic()
    empty = hub.edge.get("/api/v1/verdicts", params={"after": after, "wait": 0.4}).json()
    assert empty == {"verdicts": [], "cursor": after} and 0.35 < time.monotonic() - started < 2.0
    result: dict[str, object] = {}

    def poll() -> None:
        answer = hub.edge.get("/api/v1/verdicts", params={"after": after, "wait": 20}, timeout=30)
        result["page"], result["at"] = answer.json(), time.monotonic()

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.6)
    assert poller.is_alive()  # still waiting: there is nothing after the cursor yet
    hub.reviewer.post(f"/api/v1/review/{item_id}/verdict", json={"fence": fence, "verdict": "clear"})
    written = time.monotonic()
    poller.join(10)
    assert result["at"] - written < 0.5  # type: ignore[operator]
    page = VerdictPage.model_validate(result["page"])
    assert [v.passage_id for v in page.verdicts] == [upload.passage_id] and page.cursor > after


def _poll_in_thread(hub: Hub, after: int, wait: float) -> tuple[threading.Thread, dict[str, object]]:
    result: dict[str, object] = {}

    def poll() -> None:
        answer = hub.edge.get("/api/v1/verdicts", params={"after": after, "wait": wait}, timeout=wait + 10)
        result["page"], result["at"] = answer.json(), time.monotonic()

    poller = threading.Thread(target=poll)
    poller.start()
    wait_until(lambda: hub.app.state.hub.verdict_signal.waiting() >= 1, 10, what="the long poll waiting")
    return poller, result


def test_a_verdict_in_this_process_wakes_the_long_poll_not_its_next_look(hub: Hub,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verdict_routes, "POLL_S", 10.0)  # a look at the database only every 10 s
    item_id, upload = send_passage(hub)
    fence = claim(hub.reviewer, item_id)
    after = hub.edge.get("/api/v1/verdicts").json()["cursor"]
    poller, result = _poll_in_thread(hub, after, 20)
    hub.reviewer.post(f"/api/v1/review/{item_id}/verdict", json={"fence": fence, "verdict": "suspicious",
                                                                 "note": "a box"})
    written = time.monotonic()
    poller.join(15)
    assert result["at"] - written < 2.0  # type: ignore[operator]
    page = VerdictPage.model_validate(result["page"])
    assert [(v.passage_id, v.stage) for v in page.verdicts] == [(upload.passage_id, "review")]
    poller, result = _poll_in_thread(hub, page.cursor, 20)  # and a supervisor's overturn likewise
    overturned = hub.supervisor.post(f"/api/v1/review/{item_id}/recheck", json={"verdict": "clear", "note": "tools"})
    written = time.monotonic()
    assert overturned.json()["outcome"] == "overturned"
    poller.join(15)
    assert result["at"] - written < 2.0  # type: ignore[operator]
    assert [(v["stage"], v["verdict"]) for v in result["page"]["verdicts"]] == [("recheck", "clear")]  # type: ignore[index]
    assert hub.app.state.hub.verdict_signal.waiting() == 0


def test_a_verdict_from_another_hub_process_is_seen_by_the_poll(hub: Hub) -> None:
    """Written through the library on an engine of its own (as another hub process would): no wake-up here."""
    item_id, upload = send_passage(hub)
    after = hub.edge.get("/api/v1/verdicts").json()["cursor"]
    poller, result = _poll_in_thread(hub, after, 20)
    other = Database(make_engine(hub.config.database.url))
    try:
        with other.session() as s:
            held = review_queue.claim_item(s, item_id, REVIEWER2, time.time(), hub.app.state.hub.policy)
        with other.session() as s:
            review_queue.decide(s, item_id, held.fence, REVIEWER2, "clear", "", time.time(), hub.app.state.hub.policy)
        written = time.monotonic()
    finally:
        other.dispose()
    poller.join(15)
    assert result["at"] - written < verdict_routes.POLL_S + 2.0  # type: ignore[operator]
    assert [v["passage_id"] for v in result["page"]["verdicts"]] == [upload.passage_id]  # type: ignore[index]


def test_stats_count_the_lanes_passages(hub: Hub) -> None:
    send_passage(hub)
    stats = hub.reviewer.get("/api/v1/stats").json()
    assert stats["overall"]["passages"] >= 1 and "L1" in stats["lanes"] and "P1" in stats["ports"]
    assert stats["lanes"]["L1"]["passages"] == stats["overall"]["passages"]
    only_l2 = hub.reviewer.get("/api/v1/stats", params={"lane": "L2"}).json()
    assert only_l2["overall"]["passages"] == 0


def test_two_reviewers_racing_for_the_next_item_never_share_one(hub: Hub) -> None:
    for _ in range(3):
        send_passage(hub)
    claims: list[int] = []
    clients = [hub.reviewer, hub.reviewer2, hub.login(REVIEWER), hub.login(REVIEWER2)]
    barrier = threading.Barrier(len(clients))

    def grab(client: httpx.Client) -> None:
        barrier.wait()
        answer = client.post("/api/v1/queue/claim")
        if answer.status_code == 200:
            claims.append(answer.json()["item_id"])

    threads = [threading.Thread(target=grab, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(claims) == len(set(claims)) >= 3
