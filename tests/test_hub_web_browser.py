"""The reviewer web app (hub/web/static/) against a real hub, in a real browser.

A real hub (tests/hub_harness.py: create_app on SQLite, uvicorn on a free port) gets a lane's
passages the way an edge sends them: 16-bit PNG scans uploaded over HTTP with the edge's token
(POST/PATCH blob), then the passage documents (PUT), one with an earlier pass of the same plate. Then, in Debian
chromium: a reviewer logs in, claims the flagged scan with N, the viewer shows its full-depth
samples (window/level changes the drawn pixel, O hides the region outline), gives a suspicious
verdict with a note; the queue says who holds the other item; a claim taken over after its lease
ran out is reported lost on the next renewal and the page returns to the queue; leaving an item
gives it back. A supervisor
overturns the verdict in the re-check view; a reviewer never sees that view, and the server
refuses its route anyway.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from contract.uplink import API, ImageWire, PassageUpload, ReasonWire, RegionWire
from hub import queue
from tests.browser_harness import chromium
from tests.hub_harness import PASSWORDS, REVIEWER, REVIEWER2, SUPERVISOR, Hub, put_passage, running_hub, upload_blob

REGION = RegionWire(x=700, y=400, width=300, height=200, score=0.93)
MAGENTA = [255, 60, 240, 255]


def scan(width: int, height: int, seed: int) -> np.ndarray:
    """A 16-bit transmission-like scan: a horizontal gradient, a dense block, noise."""
    rng = np.random.default_rng(seed)
    img = np.linspace(8000, 60000, width)[None, :].repeat(height, 0)
    img[height // 3: height // 2, width // 4: width // 2] = 3000
    img += rng.normal(0, 200, img.shape)
    return np.clip(img, 0, 65535).astype(np.uint16)


@dataclass
class Desk:
    """The running hub, the scans it holds (by sha256) and the item the reviewer decided."""

    hub: Hub
    images: dict[str, np.ndarray]
    decided: list[int]


def send_scan(edge: httpx.Client, img: np.ndarray) -> ImageWire:
    ok, png = cv2.imencode(".png", img)
    assert ok
    data = png.tobytes()
    answer = upload_blob(edge, data, "image/png")
    assert answer.status_code == 200 and answer.json()["complete"], answer.text
    return ImageWire(sha256=hashlib.sha256(data).hexdigest(), media_type="image/png", size=len(data),
                     device_id="scanner-1", kind="scanner", label="16-bit transmission", width=img.shape[1],
                     height=img.shape[0], score=0.93, regions=[REGION])


def passage(passage_id: int, plate: str, image: ImageWire, *, flagged: bool, refer: bool) -> PassageUpload:
    reasons = [ReasonWire(code="scan_anomaly", words="a dense block the declaration does not explain", holds=True)] \
        if flagged else [ReasonWire(code="random_check", words="chosen for a random image check", holds=False)]
    return PassageUpload(lane="L1", passage_id=passage_id, revision=1, state="flagged" if flagged else "clear",
                         plate=plate, containers=["MSCU1234565"] if flagged else [],
                         arrived_at=datetime.now(UTC), refer=refer, reasons=reasons, images=[image])


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    """A hub with four passages of lane L1: an earlier pass of plate ABC123 (not referred), then that
    plate flagged (10 minutes to decide), and two referred at random (1 s: overdue); three review items."""
    with running_hub(tmp_path_factory.mktemp("hub"), review={"deadline_s": 1.0}) as hub:  # the unflagged: overdue
        images: dict[str, np.ndarray] = {}
        for pid, plate, flagged, refer in [(1, "ABC123", False, False), (2, "ABC123", True, True),
                                           (3, "XYZ789", False, True), (4, "QRS456", False, True)]:
            img = scan(2000, 1500, pid)
            wire = send_scan(hub.edge, img)
            images[wire.sha256] = img
            answer = put_passage(hub.edge, passage(pid, plate, wire, flagged=flagged, refer=refer))
            assert answer.status_code == 200, answer.text
        yield Desk(hub, images, [])


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as instance:
        yield instance


def log_in(browser: Any, hub: Hub, name: str) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors  # checked by done()
    page.goto(f"{hub.url}/login.html")
    page.fill("#name", name)
    page.fill("#password", PASSWORDS[name])
    page.click("button[type=submit]")
    page.wait_for_url(f"{hub.url}/#/queue")
    page.wait_for_selector("#queue-rows tr")
    return page


def done(page: Any) -> None:
    """Close the page; it must have thrown no error meanwhile."""
    errors = page.errors
    page.close()
    assert not errors, errors


def frame(page: Any) -> None:
    page.evaluate("() => new Promise(requestAnimationFrame)")


def drawn(page: Any, client: dict[str, float]) -> list[int]:
    r = page.evaluate("() => window.kouanViewer.canvasRect(0)")
    return page.evaluate(f"() => window.kouanViewer.pixelAt({client['x'] - r['x']}, {client['y'] - r['y']}, 0)")


def test_reviewer_claims_views_and_decides_a_16_bit_scan(desk: Desk, browser: Any, tmp_path: Path) -> None:
    hub = desk.hub
    page = log_in(browser, hub, REVIEWER)
    page.screenshot(path=str(tmp_path / "queue.png"))
    assert page.inner_text("#user-name") == REVIEWER
    assert page.is_hidden("#nav-rechecks")
    rows = page.locator("#queue-rows tr")
    assert rows.count() == 3
    assert "flagged" in rows.nth(0).inner_text()  # flagged first
    page.wait_for_selector("#queue-rows td.deadline.overdue")
    deadlines = page.locator("#queue-rows td.deadline")
    assert deadlines.nth(0).get_attribute("class") == "deadline" and ":" in deadlines.nth(0).inner_text()
    assert "overdue" in deadlines.nth(1).inner_text()
    assert deadlines.nth(1).evaluate("td => getComputedStyle(td).color") == "rgb(248, 81, 73)"  # red
    page.keyboard.press("n")
    page.wait_for_url("**/#/review/*")
    page.wait_for_function("window.kouanViewer.loaded", timeout=20_000)
    frame(page)
    item_id = int(page.url.rsplit("/", 1)[1])
    desk.decided.append(item_id)
    assert page.evaluate("window.kouanViewer.renderer") == "webgl2"
    assert "dense block" in page.inner_text("#detail")
    assert "Held by you" in page.inner_text("#lease")
    img = desk.images[page.evaluate("window.kouanViewer.panes[0].sha256")]
    # full depth reached the page: the drawn grey is the 16-bit sample through window/level
    low, high = page.evaluate("[window.kouanViewer.panes[0].low, window.kouanViewer.panes[0].high]")
    point = page.evaluate("window.kouanViewer.imageToClient(1500, 1200, 0)")
    point = {"x": round(point["x"]), "y": round(point["y"])}
    under = page.evaluate(f"window.kouanViewer.clientToImage({point['x']}, {point['y']}, 0)")
    value = float(img[int(under["y"]), int(under["x"])])
    want = 255 * min(max((value - low) / (high - low), 0), 1)
    before = drawn(page, point)
    assert abs(before[0] - want) <= 12, (before, want)  # noise: at this zoom a 2x2 box of samples is drawn
    # right drag down a quarter of the canvas: level up a quarter of the range, a darker pixel
    r = page.evaluate("window.kouanViewer.canvasRect(0)")
    page.mouse.move(r["x"] + 100, r["y"] + 100)
    page.mouse.down(button="right")
    page.mouse.move(r["x"] + 100, r["y"] + 100 + r["height"] / 4, steps=4)
    page.mouse.up(button="right")
    frame(page)
    after = drawn(page, point)
    assert after[0] < before[0] - 20, (before, after)
    # the region outline, and O hides it
    edge = page.evaluate(f"window.kouanViewer.imageToClient({REGION.x + REGION.width / 2}, {REGION.y}, 0)")
    edge = {"x": edge["x"], "y": edge["y"] - 1}
    assert drawn(page, edge) == MAGENTA
    page.screenshot(path=str(tmp_path / "review.png"))
    page.keyboard.press("o")
    assert drawn(page, edge) != MAGENTA
    # the earlier pass of the same plate, side by side
    page.keyboard.press("s")
    page.wait_for_function("window.kouanViewer.panes.length === 2 && window.kouanViewer.panes[1].loaded")
    earlier = page.evaluate("window.kouanViewer.panes[1].sha256")
    assert earlier in desk.images and earlier != page.evaluate("window.kouanViewer.panes[0].sha256")
    page.keyboard.press("s")
    # the help card lists the verdict keys
    page.keyboard.press("?")
    assert page.is_visible("#help") and "Shift+S" in page.inner_text("#help")
    page.keyboard.press("Escape")
    assert not page.is_visible("#help")
    # suspicious asks for a note; Ctrl+Enter sends it
    page.keyboard.press("Shift+S")
    assert page.is_visible("#note-dialog")
    page.keyboard.type("dense block behind the cab, not declared")
    page.keyboard.press("Control+Enter")
    page.wait_for_url("**/#/queue")
    assert "Verdict suspicious sent" in page.inner_text("#notice")
    detail = hub.reviewer2.get(f"{API}/review/{item_id}").json()
    assert [(v["verdict"], v["reviewer"], v["note"]) for v in detail["verdicts"]] == [
        ("suspicious", REVIEWER, "dense block behind the cab, not declared")]
    # who holds what: the other reviewer claims the next item and this queue says so
    claim = hub.reviewer2.post(f"{API}/queue/claim", json={}).json()
    page.wait_for_function(f"document.querySelector('#queue-rows tr[data-item=\"{claim['item_id']}\"] td.held')"
                           f"?.textContent === '{REVIEWER2}'", timeout=8000)
    assert rows.count() == 2
    done(page)


def test_a_claim_taken_over_is_reported_lost(desk: Desk, browser: Any) -> None:
    hub = desk.hub
    page = log_in(browser, hub, REVIEWER)
    page.keyboard.press("n")
    page.wait_for_url("**/#/review/*")
    item_id = int(page.url.rsplit("/", 1)[1])
    page.wait_for_function("window.kouanViewer.loaded", timeout=20_000)
    # leaving the item (Esc) gives it back
    page.keyboard.press("Escape")
    page.wait_for_url("**/#/queue")
    page.wait_for_function(f"document.querySelector('#queue-rows tr[data-item=\"{item_id}\"] td.held')"
                           f"?.textContent === '–'", timeout=8000)
    held = {i["id"]: i["claimed_by"] for i in hub.reviewer2.get(f"{API}/queue").json()["items"]}
    assert held[item_id] is None
    page.keyboard.press("n")
    page.wait_for_url(f"**/#/review/{item_id}")
    page.wait_for_function("window.kouanViewer.loaded", timeout=20_000)
    state = hub.app.state.hub
    with hub.database.session() as s:  # the other reviewer, after this one's lease ran out (two minutes on)
        queue.claim_item(s, item_id, REVIEWER2, time.time() + 120, state.policy)
    page.wait_for_url("**/#/queue", timeout=8000)  # the next renewal (every 5 s) is refused 409
    assert "claim on this item was lost" in page.inner_text("#notice")
    assert not page.evaluate("window.kouanViewer.loaded")
    done(page)


def test_supervisor_overturns_and_a_reviewer_cannot_recheck(desk: Desk, browser: Any) -> None:
    hub = desk.hub
    item_id = desk.decided[0]
    reviewer = log_in(browser, hub, REVIEWER)
    assert reviewer.is_hidden("#nav-rechecks")
    reviewer.goto(f"{hub.url}/#/rechecks")
    reviewer.wait_for_selector("#queue-view:not([hidden])")
    assert reviewer.is_hidden("#rechecks-view")
    done(reviewer)
    assert hub.reviewer.get(f"{API}/rechecks").status_code == 403
    assert hub.reviewer.post(f"{API}/review/{item_id}/recheck", json={"verdict": "clear", "note": ""}).status_code == 403
    page = log_in(browser, hub, SUPERVISOR)
    page.click("#nav-rechecks")
    page.wait_for_selector(f"#recheck-rows tr[data-item='{item_id}']")
    page.click(f"#recheck-rows tr[data-item='{item_id}'] button")
    page.wait_for_url(f"**/#/recheck/{item_id}")
    page.wait_for_function("window.kouanViewer.loaded", timeout=20_000)
    assert f"suspicious by {REVIEWER}" in page.inner_text("#detail")
    page.keyboard.press("Shift+C")
    page.wait_for_url("**/#/rechecks")
    assert "overturned" in page.inner_text("#notice")
    verdicts = hub.reviewer2.get(f"{API}/review/{item_id}").json()["verdicts"]
    assert [(v["verdict"], v["stage"], v["reviewer"]) for v in verdicts] == [
        ("suspicious", "review", REVIEWER), ("clear", "recheck", SUPERVISOR)]
    page.goto(f"{hub.url}/stats.html")
    page.wait_for_selector("#lanes tr[data-key='L1']")
    assert page.inner_text("#lanes tr[data-key='L1'] td:first-of-type") == "4"
    done(page)
