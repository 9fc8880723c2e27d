"""The passage API of the lane terminal on the real runtime: declarations over HTTP (the single
window's token, or a supervisor) and MQTT, the list and the view, the officer's release and hold
recorded with their name, the MQTT topic of each passage, the day's figures and the metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest

from edge.config import EdgeConfig
from firmware_stubs.under_vehicle import CameraConfig, UnderVehicleCamera, parse_events
from tests.conftest import Broker
from tests.lane_harness import TEST_USER, EdgeThread, MqttListener, ensure_user, login_client, wait_until

TOKEN = "single-window-token-0123456789"
DECLARATION = {"id": "D-9", "plate": "新F12345", "driver_card": "CARD123",
               "containers": [{"number": "CSQU3054383", "lock_id": "SEAL-0001", "declared_empty": True}]}


@pytest.fixture
def lane(tmp_path: Path, mosquitto: Broker, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    name = f"pa-{request.node.name[5:25].replace('_', '-')}"
    config = EdgeConfig.model_validate({
        "lane": {"id": name}, "store": {"path": str(tmp_path / "edge.sqlite3")}, "mqtt": {"url": mosquitto.url},
        "web": {"host": "127.0.0.1", "port": 0},
        "passages": {"deadlines": {"uvss": 2}, "declarations_token": TOKEN},
        "devices": [{"id": "uvss", "kind": "under_vehicle", "analyse": False}],
    })
    listener = MqttListener(mosquitto.host, mosquitto.port, f"kouan/{name}/passages/+")
    edge = EdgeThread(config).start()
    ensure_user(tmp_path / "edge.sqlite3", "boss", "supervisor", "boss-password-1")
    client = login_client(edge.url)
    try:
        yield {"edge": edge, "lane": name, "client": client, "listener": listener, "broker": mosquitto}
    finally:
        client.close()
        edge.stop()
        listener.close()


def pass_vehicle(broker: Broker, lane: str, plate: str) -> UnderVehicleCamera:
    camera = UnderVehicleCamera(CameraConfig(lane=lane, device="uvss", scale=0.1,
                                             events=parse_events(f"0.1:pass={plate}/clean")), broker.url)
    camera.start()
    return camera


def first_passage(client: httpx.Client, state: str) -> dict[str, Any]:
    items = client.get("/api/passages").json()["items"]
    return items[0] if items and items[0]["state"] == state else {}


def test_declared_over_http_the_passage_is_listed_viewed_and_published(lane: dict[str, Any]) -> None:
    client: httpx.Client = lane["client"]
    url = lane["edge"].url.rstrip("/")
    assert httpx.post(url + "/api/declarations", json=DECLARATION).status_code == 401
    sent = httpx.post(url + "/api/declarations", json=DECLARATION, headers={"Authorization": f"Bearer {TOKEN}"})
    assert sent.status_code == 200 and sent.json() == {"id": "D-9", "outcome": "new"}
    bad = httpx.post(url + "/api/declarations", json={**DECLARATION, "containers": [{"number": "CSQU3054384"}]},
                     headers={"Authorization": f"Bearer {TOKEN}"})
    assert bad.status_code == 422 and "check digit" in json.dumps(bad.json())
    assert client.post("/api/declarations", json=DECLARATION).status_code == 403  # an officer may not declare
    supervisor = login_client(lane["edge"].url, "boss", "boss-password-1")
    try:
        by_hand = supervisor.post("/api/declarations", json={**DECLARATION, "id": "D-10", "plate": "苏E88888"})
        assert by_hand.json() == {"id": "D-10", "outcome": "new"}
    finally:
        supervisor.close()
    camera = pass_vehicle(lane["broker"], lane["lane"], "新F12345")
    try:
        # analysis is off here: "not analysed" holds the vehicle, so the officer decides
        summary = wait_until(lambda: first_passage(client, "flagged"), 15, what="a flagged passage")
    finally:
        camera.stop()
    assert summary["plate"] == "新F12345" and summary["declaration_id"] == "D-9" and summary["reason"] == "not analysed"
    passage = client.get(f"/api/passages/{summary['id']}").json()
    assert passage["declaration"]["containers"][0]["number"] == "CSQU3054383"
    assert passage["observations"][0]["device_id"] == "uvss" and passage["observations"][0]["images"][0]["sha256"]
    assert [t["what"] for t in passage["timeline"]][:3] == ["arrival", "declaration", "reading"]
    _, topic, published = lane["listener"].wait_for(lambda p: p.get("state") == "flagged", 5)
    assert topic == f"kouan/{lane['lane']}/passages/{summary['id']}" and published["reasons"] == passage["reasons"]
    assert client.get("/api/passages/999").status_code == 404


def test_the_officer_releases_a_flagged_vehicle_with_a_note_and_is_recorded(lane: dict[str, Any]) -> None:
    client: httpx.Client = lane["client"]
    camera = pass_vehicle(lane["broker"], lane["lane"], "苏E88888")  # nobody declared it
    try:
        summary = wait_until(lambda: first_passage(client, "flagged"), 15, what="a flagged passage")
    finally:
        camera.stop()
    pid = summary["id"]
    refused = client.post(f"/api/passages/{pid}/release", json={"note": "", "confirmed": True})
    assert refused.status_code == 409 and "confirmation and a note" in refused.json()["detail"]
    stale = client.post(f"/api/passages/{pid}/release",  # the page showed an older version of it
                        json={"note": "papers checked", "confirmed": True, "version": summary["version"] - 1})
    assert stale.status_code == 409 and "changed while it was shown" in stale.json()["detail"]
    released = client.post(f"/api/passages/{pid}/release", json={"note": "papers checked by hand", "confirmed": True})
    assert released.status_code == 200
    assert (released.json()["state"], released.json()["acted_by"]) == ("released", TEST_USER)
    assert client.post(f"/api/passages/{pid}/release", json={}).status_code == 409  # already released
    assert client.post(f"/api/passages/{pid}/hold", json={"surprise": 1}).status_code == 422
    held = client.post(f"/api/passages/{pid}/hold", json={"note": "supervisor asked"})
    assert held.json()["state"] == "held" and held.json()["timeline"][-1]["by"] == TEST_USER
    stats = client.get("/api/stats").json()
    assert stats["passages"] == 1 and stats["by_state"] == {"held": 1} and stats["released_directly"] == 0
    metrics = client.get("/metrics").text
    assert 'kouan_passages_decided_total{outcome="flagged"} 1.0' in metrics
    assert "kouan_passage_decision_seconds_count 1.0" in metrics


def test_a_declaration_over_mqtt_is_stored_and_a_bad_one_refused(lane: dict[str, Any]) -> None:
    broker: Broker = lane["broker"]
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="single-window-test")
    publisher.connect(broker.host, broker.port)
    publisher.loop_start()
    try:
        topic = f"kouan/{lane['lane']}/declarations"
        publisher.publish(topic, b"{not json", qos=1).wait_for_publish(5)
        publisher.publish(topic, json.dumps({**DECLARATION, "id": "D-MQTT"}).encode(), qos=1).wait_for_publish(5)
    finally:
        publisher.loop_stop()
        publisher.disconnect()
    client: httpx.Client = lane["client"]
    wait_until(lambda: 'kouan_declarations_accepted_total 1.0' in client.get("/metrics").text, 10,
               what="the MQTT declaration stored")
    assert "kouan_declarations_refused_total 1.0" in client.get("/metrics").text
    camera = pass_vehicle(broker, lane["lane"], "新F12345")
    try:
        summary = wait_until(lambda: first_passage(client, "flagged"), 15, what="a flagged passage")
    finally:
        camera.stop()
    assert summary["declaration_id"] == "D-MQTT"


def test_the_waiting_counts_are_the_whole_stores_and_need_a_login(lane: dict[str, Any]) -> None:
    """GET /api/passages/counts (the page's "(N flagged)" title and filter counts): behind the login like
    every data route, every waiting state there (0 when none), counted over the store, not a page."""
    client: httpx.Client = lane["client"]
    url = lane["edge"].url.rstrip("/")
    refused = httpx.get(url + "/api/passages/counts")
    assert refused.status_code == 401 and "flagged" not in refused.text
    zero = {"open": 0, "analysing": 0, "clear": 0, "flagged": 0, "held": 0, "reviewed": 0}
    assert client.get("/api/passages/counts").json() == {"by_state": zero}
    for plate in ("苏E88888", "苏E77777"):  # nobody declared them, and nothing analyses: both flagged
        camera = pass_vehicle(lane["broker"], lane["lane"], plate)
        try:
            wait_until(lambda p=plate: first_passage(client, "flagged").get("plate") == p, 15, what=f"{plate} flagged")
        finally:
            camera.stop()
    assert client.get("/api/passages/counts").json() == {"by_state": {**zero, "flagged": 2}}
    assert len(client.get("/api/passages?limit=1").json()["items"]) == 1  # a page of one; the count is the store's
    newest = first_passage(client, "flagged")
    assert client.post(f"/api/passages/{newest['id']}/hold", json={"note": "papers"}).status_code == 200
    assert client.get("/api/passages/counts").json() == {"by_state": {**zero, "flagged": 1, "held": 1}}
    assert client.get("/api/passages/123456").status_code == 404  # the counts route takes no id from the detail's
