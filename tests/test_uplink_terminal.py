"""The uplink in the real edge runtime, with the real hub, and what the officer sees of it in a
real browser (Debian chromium via Playwright): a flagged vehicle's pass reaches the hub's queue,
GET /api/uplink and /metrics say the outbox is empty, the line beside the devices says the hub is
reachable; a reviewer's suspicious verdict appears in the list and the passage view, and once a
supervisor's re-check clears it the officer releases it with one key, no note."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from drivers.under_vehicle import PassHeader
from edge.config import EdgeConfig
from edge.kinds.under_vehicle.readings import pass_reading
from tests.browser_harness import chromium
from tests.conftest import Broker
from tests.hub_harness import Hub, running_hub
from tests.lane_harness import TEST_PASSWORD, TEST_USER, EdgeThread, wait_until
from tests.test_lane_terminal_browser import undercarriage

PLATE = "新F31415"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    (tmp_path / "hub").mkdir()
    with running_hub(tmp_path / "hub") as running:
        yield running


def edge_config(tmp: Path, broker: Broker, hub: Hub) -> EdgeConfig:
    return EdgeConfig.model_validate({
        "lane": {"id": "L1", "name": "Lane with an uplink"},
        "store": {"path": str(tmp / "edge" / "edge.sqlite3")},
        "mqtt": {"url": broker.url, "client_id": f"kouan-edge-uplink-{time.time_ns()}"},
        "web": {"host": "127.0.0.1", "port": 0},
        "devices": [{"id": "uvss", "name": "Under-vehicle camera", "kind": "under_vehicle", "analyse": False}],
        "passages": {"deadlines": {"uvss": 30}},
        "uplink": {"hub_url": hub.url, "token": hub.edge_tokens["edge-1"], "backoff_base_s": 0.2,
                   "backoff_cap_s": 1.0, "poll_s": 0.1},
    })


def drive_through(edge: EdgeThread) -> None:
    """An undeclared truck's pass, as the camera's adapter hands it to ingest (its image stored first)."""
    runtime = edge.runtime
    assert runtime is not None and runtime.media is not None and runtime.ingest is not None
    image = undercarriage(4096, 1024, 5, None)
    sha = runtime.media.put_bytes(image).sha256
    end = datetime.now(UTC)
    header = PassHeader(pass_id="P31415", plate=PLATE, plate_confidence=0.97, speed_kmh=7.5, direction="forward",
                        start_time=end - timedelta(seconds=3), end_time=end, line_rate_hz=2000.0, encoding="png",
                        width=4096, height=1024, bit_depth=8, image_size=len(image), sha256=sha)
    stored = threading.Event()
    runtime.ingest.submit(pass_reading("uvss", header, "model not loaded", lambda: None, stored.set))
    assert stored.wait(10)


def queue_item(hub: Hub) -> dict[str, Any] | None:
    return next((i for i in hub.reviewer.get("/api/v1/queue").json()["items"] if i["plate"] == PLATE), None)


def metric(text: str, name: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(name + " "))
    return float(line.split()[1])


def test_the_terminal_shows_the_outbox_and_the_hubs_verdict(tmp_path: Path, mosquitto: Broker, hub: Hub) -> None:
    edge = EdgeThread(edge_config(tmp_path, mosquitto, hub)).start()
    try:
        drive_through(edge)
        item = wait_until(lambda: queue_item(hub), 15, what="the flagged pass in the hub's queue")
        passage_id = item["passage_id"]
        assert edge.get(f"/api/passages/{passage_id}")["state"] == "flagged"
        status = wait_until(lambda: (s := edge.get("/api/uplink"))["depth"] == 0 and s, 10, what="the outbox empty")
        assert status["configured"] is True and status["hub_reachable"] is True and status["refused"] == 0
        assert status["hub_url"] == hub.url
        assert edge.client is not None
        metrics = edge.client.get("/metrics").text
        assert metric(metrics, "kouan_outbox_depth") == 0 and metric(metrics, "kouan_uplink_bytes_total") > 1000
        assert metric(metrics, "kouan_uplink_hub_reachable") == 1

        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(edge.url)
            page.wait_for_url("**/login")
            page.fill("#name", TEST_USER)
            page.fill("#password", TEST_PASSWORD)
            page.click("#login-form button[type=submit]")
            page.wait_for_selector("#link.up", timeout=15_000)
            line = page.locator("#uplink")
            line.wait_for(state="visible", timeout=10_000)
            text = line.text_content() or ""
            assert "Hub" in text and "reachable" in text and "all sent" in text, text

            # a reviewer at the hub finds it suspicious: the list and the view say so
            claim = hub.reviewer.post(f"/api/v1/review/{item['id']}/claim").json()
            answer = hub.reviewer.post(f"/api/v1/review/{item['id']}/verdict", json={
                "fence": claim["fence"], "verdict": "suspicious", "note": "a box strapped to the frame"})
            assert answer.status_code == 200, answer.text
            page.click("button.filter[data-filter='all']")
            row = page.locator(f"li.passage[data-id='{passage_id}'].st-held")
            row.wait_for(state="visible", timeout=5_000)
            assert "suspicious" in (row.locator(".hub-verdict.suspicious").text_content() or "")
            row.locator("button.row").click()
            verdict = page.locator("#view .verdict-suspicious")
            verdict.wait_for(state="visible", timeout=5_000)
            shown = verdict.text_content() or ""
            assert "Suspicious" in shown and "a box strapped to the frame" in shown and "physical inspection" in shown
            page.screenshot(path=str(tmp_path / "uplink-verdict.png"))

            # the supervisor's re-check clears the images: reviewed; but nobody declared this vehicle,
            # which the hub does not judge, so R still asks for a note
            recheck = hub.supervisor.post(f"/api/v1/review/{item['id']}/recheck",
                                          json={"verdict": "clear", "note": "the frame's own toolbox"})
            assert recheck.status_code == 200, recheck.text
            page.wait_for_selector(f"li.passage[data-id='{passage_id}'].st-reviewed .hub-verdict.clear", timeout=5_000)
            page.wait_for_selector("#view .verdict-clear", timeout=5_000)
            assert "holds for more than the images the hub saw" in (page.text_content("#view .verdict-advice") or "")
            page.wait_for_function("document.querySelector('#release span').textContent === 'Release…'", timeout=5_000)
            page.screenshot(path=str(tmp_path / "uplink-reviewed.png"))
            page.locator(f"li.passage[data-id='{passage_id}'] button.row").focus()
            page.keyboard.press("r")
            page.locator("#confirm").wait_for(state="visible", timeout=5_000)
            page.keyboard.type("undeclared: papers checked by hand")
            page.keyboard.press("Enter")
            page.wait_for_selector(f"li.passage[data-id='{passage_id}'].st-released", timeout=5_000)
            assert errors == []
        released = edge.get(f"/api/passages/{passage_id}")
        assert (released["state"], released["acted_by"]) == ("released", TEST_USER)
        wait_until(lambda: hub.reviewer.get(f"/api/v1/review/{item['id']}").json()["passage"]["state"] == "released",
                   10, what="the release at the hub")
    finally:
        edge.stop()
