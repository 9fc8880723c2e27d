"""The officer's lane terminal in a real browser (Debian chromium driven by Playwright), at a desk
(1920x1080, keys) and on a phone (390x844, touch).

A lane of a real edge runtime (the web server, the store, the passage book, the live stream) is
given a morning of vehicles through the runtime's own ingest: the under-vehicle camera's pass and
analysis readings as the kind builds them (edge/kinds/under_vehicle/readings.py), the lock's and
the iris reader's states, advance declarations from the declarations file. Then the officer logs
in through /login; a vehicle with an object under it arrives while the page is up and must be in
the list within 2 s of its last reading (the analysis, stored); its view shows the image with the
flagged region drawn where the region is on the original image; R asks for a note (it is
flagged), Enter releases it, and the API says the officer did. A clear or machine-released
vehicle takes one key (or one tap) and no dialog. After logout the page's own fetch gets a 401.
Screenshots for the docs (docs/lane-terminal-desktop.png and docs/lane-terminal-phone.png) are
written only with KOUAN_SCREENSHOTS=docs; otherwise they go to the test's temporary folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from drivers.iso6346 import iso6346_check_digit
from drivers.under_vehicle import PassHeader
from edge.config import EdgeConfig
from edge.ingest import Reading
from edge.kinds.under_vehicle.readings import analysis_reading, pass_reading, pass_state
from tests.browser_harness import chromium
from tests.conftest import Broker
from tests.lane_harness import TEST_PASSWORD, TEST_USER, EdgeThread, wait_until

PAGE = 50  # the page's page size (passages.js)

DOCS = Path(__file__).resolve().parent.parent / "docs"


def shot_path(tmp_path: Path, name: str) -> Path:
    """Where a screenshot goes: docs/ when asked for (KOUAN_SCREENSHOTS=docs), else the test's own folder."""
    return (DOCS if os.environ.get("KOUAN_SCREENSHOTS") == "docs" else tmp_path) / name


DEVICES = ("uvss", "lock-1", "iris-1", "scanner")
LIST_WITHIN_S = 2.0
REGION = (2630, 1180, 420, 300)  # x, y, width, height on the 4096x2048 original


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as instance:
        yield instance


# ---------------------------------------------------------------- a lane and its vehicles


@dataclass(frozen=True)
class Vehicle:
    plate: str
    card: str
    lock: str
    container: str
    declared: bool = True
    lock_read: str | None = None  # the lock the reader sees (None: the declared one)
    iris: str = "match"
    flagged_region: tuple[int, int, int, int] | None = None
    analysed: bool = True


def lane_config(tmp: Path, broker: Broker, auto_release: bool) -> EdgeConfig:
    (tmp / "scans").mkdir(exist_ok=True)
    return EdgeConfig.model_validate({
        "lane": {"id": "khorgos-in-03", "name": "Khorgos inbound 3"},
        "store": {"path": str(tmp / "edge.sqlite3")},
        "mqtt": {"url": broker.url},
        "web": {"host": "127.0.0.1", "port": 0},
        "devices": [
            {"id": "uvss", "name": "Under-vehicle camera", "kind": "under_vehicle", "analyse": False},
            {"id": "lock-1", "name": "E-lock reader", "kind": "smart_lock", "transport": "mqtt"},
            {"id": "iris-1", "name": "Driver iris reader", "kind": "iris", "transport": "mqtt"},
            {"id": "scanner", "name": "Container scanner", "kind": "scanner", "folder": str(tmp / "scans")},
        ],
        "passages": {"deadlines": {"uvss": 120, "lock-1": 120, "iris-1": 120}, "auto_release": auto_release,
                     "declarations_file": str(tmp / "declarations.jsonl")},
    })


def write_declarations(tmp: Path, vehicles: list[Vehicle]) -> None:
    lines = [json.dumps({
        "id": f"CN-KHG-{2400 + i}", "plate": v.plate, "driver_card": v.card, "cargo": "empty containers, return",
        "containers": [{"number": v.container, "lock_id": v.lock, "declared_empty": True}],
        "declared_at": (datetime.now(UTC) - timedelta(hours=3, minutes=7 * i)).isoformat(),
    }, ensure_ascii=False) for i, v in enumerate(vehicles) if v.declared]
    (tmp / "declarations.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def undercarriage(width: int, height: int, seed: int, region: tuple[int, int, int, int] | None) -> bytes:
    """A grey line-scan image of an undercarriage (rails, cross members, axles, a drive shaft), with a
    bright box-shaped object at `region` (original pixel coordinates of a 4096x2048 image)."""
    rng = np.random.default_rng(seed)
    sx, sy = width / 4096, height / 2048
    img = np.full((height, width), 38, np.uint8)
    img += (rng.integers(0, 18, (height, width))).astype(np.uint8)

    def rect(x: float, y: float, w: float, h: float, value: int) -> None:
        cv2.rectangle(img, (int(x * sx), int(y * sy)), (int((x + w) * sx), int((y + h) * sy)), value, -1)

    rect(1300, 0, 170, 2048, 92)                      # the two frame rails
    rect(2626, 0, 170, 2048, 92)
    for y in range(120, 2048, 330):                    # cross members
        rect(1300, y, 1496, 60, 78)
    for y in (300, 1500, 1760):                        # axles and their wheels
        rect(500, y, 3096, 90, 110)
        rect(260, y - 120, 240, 330, 60)
        rect(3596, y - 120, 240, 330, 60)
    rect(2000, 0, 90, 1500, 120)                       # drive shaft
    cv2.circle(img, (int(2045 * sx), int(1545 * sy)), int(150 * sx), 100, -1)  # differential
    rect(1500, 700, 700, 160, 70)                       # exhaust silencer
    if region is not None:
        x, y, w, h = region
        rect(x, y, w, h, 210)
        rect(x + 30, y + 30, w - 60, h - 60, 180)
        cv2.line(img, (int(x * sx), int((y + h / 2) * sy)), (int((x + w) * sx), int((y + h / 2) * sy)), 240, max(1, int(6 * sx)))
    img = cv2.GaussianBlur(img, (3, 3), 0)
    ok, encoded = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    assert ok
    return encoded.tobytes()


class Lane:
    """Readings into a running edge through its ingest, as its adapters hand them over."""

    def __init__(self, edge: EdgeThread) -> None:
        self.edge = edge
        assert edge.runtime is not None and edge.runtime.ingest is not None and edge.runtime.media is not None
        self.runtime = edge.runtime
        self.seq = 0

    def submit(self, reading: Reading) -> threading.Event:
        stored = threading.Event()
        reading.on_stored = stored.set
        self.runtime.ingest.submit(reading)
        return stored

    def state_reading(self, device: str, kind: str, message: str, state: dict[str, Any], at: float) -> Reading:
        self.seq += 1
        key = hashlib.sha256(f"{device}\0{self.seq}\0{json.dumps(state, sort_keys=True)}".encode()).hexdigest()
        return Reading(device, message, key, {"seq": self.seq, **state}, state=state, kind=kind, received_at=at,
                       device_time=datetime.fromtimestamp(at, UTC).isoformat())

    def pass_of(self, v: Vehicle, at: float, image: bytes, seed: int) -> tuple[Reading, dict[str, Any]]:
        stored = self.runtime.media.put_bytes(image)
        end = datetime.fromtimestamp(at, UTC)
        header = PassHeader(pass_id=f"P{seed:05d}", plate=v.plate, plate_confidence=0.97, speed_kmh=7.5,
                            direction="forward", start_time=end - timedelta(seconds=3), end_time=end,
                            line_rate_hz=2000.0, encoding="png", width=4096, height=2048, bit_depth=8,
                            image_size=len(image), sha256=stored.sha256)
        reading = pass_reading("uvss", header, "pending" if v.analysed else "model not loaded", lambda: None, lambda: None)
        reading.received_at = at
        return reading, pass_state(header, "pending")

    def analysis_of(self, v: Vehicle, state: dict[str, Any], at: float) -> Reading:
        region = v.flagged_region
        payload = {"image_sha256": state["image_sha256"], "model": "under_vehicle", "version": "2024.06",
                   "score": 0.91 if region else 0.0004, "flagged": region is not None,
                   "regions": [{"box": list(region), "score": 0.91}] if region else []}
        reading = analysis_reading("uvss", state, payload)
        reading.received_at = at
        return reading

    def vehicle(self, v: Vehicle, at: float, seed: int, image: bytes) -> threading.Event:
        """One vehicle's readings, first to last; the event is set when the last is stored."""
        pass_, state = self.pass_of(v, at, image, seed)
        last = self.submit(pass_)
        last = self.submit(self.state_reading("iris-1", "iris", "capture", {
            "card_id": v.card, "outcome": v.iris, "distance": 0.21 if v.iris == "match" else 0.47}, at + 0.6))
        last = self.submit(self.state_reading("lock-1", "smart_lock", "report", {
            "lock_id": v.lock_read or v.lock, "state": "sealed", "battery_pct": 81}, at + 0.9))
        if v.analysed:
            last = self.submit(self.analysis_of(v, state, at + 1.4 + (seed % 5) * 0.2))
        return last


def container(first_ten: str) -> str:
    return f"{first_ten}{iso6346_check_digit(first_ten)}"


HISTORY = [
    Vehicle("新F10231", "C-660231", "SEAL-20231", "CSQU3054383"),
    Vehicle("新F10877", "C-660877", "SEAL-20877", "MSKU1234565"),
    Vehicle("苏E88888", "C-700009", "SEAL-30009", "TGHU8897664", declared=False),
    Vehicle("新F11502", "C-661502", "SEAL-21502", "CAIU2298302", lock_read="SEAL-20666"),
    Vehicle("新F12018", "C-662018", "SEAL-22018", "TCNU7788121"),
    Vehicle("新F12230", "C-662230", "SEAL-22230", "FCIU4410214", iris="mismatch"),
    Vehicle("新F12611", "C-662611", "SEAL-22611", "GESU6002849"),
    Vehicle("新F12790", "C-662790", "SEAL-22790", "BMOU5521003"),
]
WAITING = Vehicle("新F13004", "C-663004", "SEAL-23004", "SEGU3141594", analysed=False)  # the pass alone, just now
EARLIER = [Vehicle(f"新F0{n:04d}", f"C-65{n:04d}", f"SEAL-1{n:04d}", container(f"TEMU{n:06d}"))
           for n in range(101, 151)]  # the early morning, all clear: with the rest, more than one page


def seed_lane(lane: Lane) -> dict[str, int]:
    """The morning so far: vehicles four minutes apart; the officer held one. Plate -> passage id."""
    now = time.time()
    last = None
    for i, v in enumerate(EARLIER):  # 05:00 to 07:00 or so
        last = lane.vehicle(v, now - 3 * 3600 + 150 * i, 1000 + i, undercarriage(256, 128, 1000 + i, None))
    for i, v in enumerate(HISTORY):  # each pass its own image: a pass is stored once per image
        last = lane.vehicle(v, now - 60 * (4 * (len(HISTORY) - i) + 1), i + 1, undercarriage(1024, 512, i, None))
    assert last is not None and last.wait(10), "the history's readings were not stored"
    waiting, _ = lane.pass_of(WAITING, now - 20, undercarriage(1024, 512, 99, None), 99)
    assert lane.submit(waiting).wait(10)
    try:
        ids = wait_until(lambda: _ids(lane.edge) if len(_ids(lane.edge)) == len(HISTORY) + 1 else None, 10,
                         what="the history's passages")
    except TimeoutError:
        seen = [(p["id"], p["plate"], p["state"], p["reason"]) for p in lane.edge.get("/api/passages?limit=200")["items"]]
        raise AssertionError(f"the history's passages: {seen}") from None
    assert lane.edge.get("/api/stats?hours=24")["passages"] == len(EARLIER) + len(HISTORY) + 1
    held = lane.edge.client.post(f"/api/passages/{ids['新F12018']}/hold", json={"note": "papers to check"})
    held.raise_for_status()
    return ids


def _ids(edge: EdgeThread) -> dict[str, int]:
    return {p["plate"]: p["id"] for p in edge.get("/api/passages?limit=50")["items"] if not p["plate"].startswith("新F0")}


@pytest.fixture(scope="module")
def flagged_image() -> bytes:
    return undercarriage(4096, 2048, 42, REGION)


def start_lane(tmp: Path, broker: Broker, auto_release: bool) -> tuple[EdgeThread, Lane, dict[str, int]]:
    write_declarations(tmp, [*EARLIER, *HISTORY, WAITING, FOREIGN_OBJECT])
    edge = EdgeThread(lane_config(tmp, broker, auto_release)).start()
    lane = Lane(edge)
    return edge, lane, seed_lane(lane)


FOREIGN_OBJECT = Vehicle("新F12345", "C-612345", "SEAL-12345", "CSLU1092339", flagged_region=REGION)


# ---------------------------------------------------------------- the page


def watch_errors(page: Any) -> list[str]:
    """The page's uncaught errors, to be none."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def log_in(page: Any, url: str, name: str = TEST_USER, password: str = TEST_PASSWORD) -> None:
    page.goto(url)
    page.wait_for_url("**/login")
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#link.up", timeout=15_000)
    page.wait_for_function("document.getElementById('user-name').textContent.length > 0")


def arrive_and_measure(lane: Lane, page: Any, image: bytes) -> tuple[int, float]:
    """The vehicle with an object under it drives through; seconds from its last reading stored
    (the analysis) to its flagged row shown."""
    stored_at: list[float] = []
    last = lane.vehicle(FOREIGN_OBJECT, time.time(), 7, image)
    threading.Thread(target=lambda: last.wait(10) and stored_at.append(time.monotonic()), daemon=True).start()
    row = page.locator("li.passage.st-flagged", has_text=FOREIGN_OBJECT.plate)
    row.wait_for(state="visible", timeout=10_000)
    seen_at = time.monotonic()
    assert last.wait(5)
    wait_until(lambda: stored_at, 2, what="the stored time")
    took = seen_at - stored_at[0]
    print(f"flagged passage in the list {took:.3f} s after its last reading was stored")
    return int(row.get_attribute("data-id")), took


def wait_fitted(page: Any) -> None:
    page.wait_for_function("!document.querySelector('.viewer').classList.contains('zoomed') "
                           "&& document.querySelector('.zoom-text').textContent === '100 %'", timeout=5_000)


def check_region_box(page: Any) -> None:
    """The region's box sits over the region of the displayed image (scaled from the original)."""
    page.wait_for_selector(".viewer.ready .region", timeout=15_000)
    page.wait_for_timeout(100)  # the fit is applied on the next animation frame
    img = page.locator(".viewer-img").bounding_box()
    box = page.locator(".viewer .region").first.bounding_box()
    x, y, w, h = REGION
    sx, sy = img["width"] / 4096, img["height"] / 2048
    expected = (img["x"] + x * sx, img["y"] + y * sy, w * sx, h * sy)
    got = (box["x"], box["y"], box["width"], box["height"])
    assert all(abs(a - b) <= 3 for a, b in zip(got, expected)), (got, expected)
    frame = page.locator(".viewer-frame").bounding_box()
    assert img["width"] <= frame["width"] + 1 and img["height"] <= frame["height"] + 1  # fitted


def release_flagged(page: Any, edge: EdgeThread, passage_id: int) -> None:
    page.keyboard.press("r")
    dialog = page.locator("#confirm")
    dialog.wait_for(state="visible", timeout=5_000)
    page.keyboard.press("Enter")  # no note yet: refused on the page, the dialog stays
    assert page.locator("#confirm-error").text_content()
    page.keyboard.type("object is a spare wheel bag, checked by hand")
    page.keyboard.press("Enter")
    dialog.wait_for(state="hidden", timeout=5_000)
    page.wait_for_selector(f'#view[data-passage="{passage_id}"] .passage-head.st-released', timeout=10_000)
    assert TEST_USER in (page.text_content("#action-result") or "")
    detail = edge.get(f"/api/passages/{passage_id}")
    assert (detail["state"], detail["acted_by"]) == ("released", TEST_USER)
    assert detail["note"] == "object is a spare wheel bag, checked by hand"
    assert page.locator(f'li.passage[data-id="{passage_id}"].st-released').count() == 1 or \
        page.locator(f'li.passage[data-id="{passage_id}"]').count() == 0  # "needs officer" may drop it


def pinch_and_drag(context: Any, page: Any) -> None:
    """Two fingers spread on the image zoom it; one finger drags it (real touches, through CDP)."""
    cdp = context.new_cdp_session(page)
    frame = page.locator(".viewer-frame").bounding_box()
    cx, cy = frame["x"] + frame["width"] / 2, frame["y"] + frame["height"] / 2

    def touch(kind: str, points: list[tuple[float, float]]) -> None:
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [
            {"x": x, "y": y, "id": i, "radiusX": 4, "radiusY": 4, "force": 1} for i, (x, y) in enumerate(points)]})

    def transform() -> str:
        return page.eval_on_selector(".viewer-stage", "e => e.style.transform")

    before = transform()
    touch("touchStart", [(cx - 20, cy), (cx + 20, cy)])
    for step in range(1, 7):
        touch("touchMove", [(cx - 20 - 12 * step, cy), (cx + 20 + 12 * step, cy)])
    page.wait_for_timeout(150)
    touch("touchMove", [(cx - 92, cy), (cx + 92, cy)])
    touch("touchEnd", [])
    page.wait_for_timeout(100)
    zoom = page.text_content(".zoom-text") or ""
    assert page.locator(".viewer.zoomed").count() == 1 and int(zoom.split()[0]) > 200, zoom
    zoomed = transform()
    assert zoomed != before
    touch("touchStart", [(cx, cy)])
    for step in range(1, 5):
        touch("touchMove", [(cx - 15 * step, cy + 5 * step)])
    page.wait_for_timeout(150)  # the finger rests before it lifts: a flick would fling, and Chrome
    touch("touchMove", [(cx - 60, cy + 20)])  # drops a tap that lands during a fling
    page.wait_for_timeout(50)
    touch("touchEnd", [])
    page.wait_for_timeout(100)
    assert transform() != zoomed and int((page.text_content(".zoom-text") or "").split()[0]) == int(zoom.split()[0])
    cdp.detach()


def log_out_and_refused(page: Any) -> None:
    page.click("#logout")
    page.wait_for_url("**/login", timeout=10_000)
    status = page.evaluate("fetch('/api/passages').then((r) => r.status)")
    assert status == 401


def no_horizontal_scroll(page: Any) -> None:
    wide = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert wide[0] <= wide[1], f"horizontal scrolling: content {wide[0]} px in {wide[1]} px"


# ---------------------------------------------------------------- the tests


def test_desk_terminal(tmp_path: Path, mosquitto: Broker, browser: Any, flagged_image: bytes) -> None:
    started = time.monotonic()
    edge, lane, ids = start_lane(tmp_path, mosquitto, auto_release=True)
    try:
        context = browser.new_context(viewport={"width": 1920, "height": 1080})
        page = context.new_page()
        errors = watch_errors(page)
        log_in(page, edge.url)
        page.click('button.filter[data-filter="all"]')
        page.wait_for_selector(f'li.passage[data-id="{ids["新F10231"]}"]')
        for device_id in DEVICES:
            page.wait_for_selector(f'#device-strip li[data-device="{device_id}"] .status', timeout=5_000)
        assert page.locator('#device-strip li[data-device="uvss"] .seen').text_content().endswith("ago")

        passage_id, took = arrive_and_measure(lane, page, flagged_image)
        assert took < LIST_WITHIN_S, f"{took:.3f} s from the last reading to the row"
        assert int(page.locator("#passages li").first.get_attribute("data-id")) == passage_id  # newest first
        assert "object" in page.locator(f'li[data-id="{passage_id}"] .reason').text_content()
        page.wait_for_function("document.getElementById('announce').textContent.includes('新F12345')")  # aria-live

        page.keyboard.press("Escape")
        page.keyboard.press("j")  # the newest row
        page.keyboard.press("Enter")
        page.wait_for_selector(f'#view[data-passage="{passage_id}"]')
        check_region_box(page)
        assert page.locator(".compare-table tr.mismatch").count() == 0  # declared, and all it declared was seen
        assert FOREIGN_OBJECT.plate in page.text_content(".passage-head")
        page.screenshot(path=str(shot_path(tmp_path, "lane-terminal-desktop.png")))

        page.mouse.move(960 + 300, 500)  # the wheel zooms, a drag pans; the box stays on the region
        page.mouse.wheel(0, -400)
        page.wait_for_timeout(100)
        assert page.locator(".viewer.zoomed").count() == 1
        page.click(".viewer-tools button[aria-label='Fit the image']")
        wait_fitted(page)
        check_region_box(page)

        release_flagged(page, edge, passage_id)
        stats = edge.get("/api/stats?hours=24")  # the officer's release lets a machine hold go
        assert stats["machine_held_let_go"] >= 1 and stats["holds_by_reason"]["foreign_object"]["let_go"] >= 1
        page.wait_for_function("(() => { const f = document.getElementById('fig-let-go'); "
                               "return /^[0-9]+ %$/.test(f.textContent) && f.title.includes('object under vehicle: '); })()",
                               timeout=20_000)

        # a vehicle the machine released: one key holds it, no dialog
        machine = ids["新F10231"]
        assert edge.get(f"/api/passages/{machine}")["acted_by"] == "machine"
        page.click(f'li.passage[data-id="{machine}"] button.row')
        page.wait_for_selector(f'#view[data-passage="{machine}"] .passage-head.st-released')
        page.keyboard.press("h")
        page.wait_for_selector(f'#view[data-passage="{machine}"] .passage-head.st-held', timeout=10_000)
        assert not page.locator("#confirm").is_visible()
        assert edge.get(f"/api/passages/{machine}")["acted_by"] == TEST_USER

        # a refusal is shown in the server's words: a held vehicle is held already
        page.keyboard.press("h")
        page.wait_for_function("document.getElementById('action-result').textContent.includes('already held')")

        page.keyboard.press("?")
        page.locator("#keys").wait_for(state="visible")
        page.keyboard.press("Escape")

        # paged: the newest 50, then the next page from the cursor
        total = len(EARLIER) + len(HISTORY) + 2
        page.click('button.filter[data-filter="all"]')
        page.wait_for_function(f"document.querySelectorAll('#passages li').length === {PAGE}")
        page.click("#older")
        page.wait_for_function(f"document.querySelectorAll('#passages li').length === {total}")
        assert page.locator("#older").is_hidden()
        ids_shown = [int(i) for i in page.eval_on_selector_all("#passages li", "els => els.map((e) => e.dataset.id)")]
        assert ids_shown == sorted(ids_shown, reverse=True) and len(set(ids_shown)) == total
        log_out_and_refused(page)
        assert errors == [], errors
        context.close()
    finally:
        edge.stop()
    print(f"desk terminal test took {time.monotonic() - started:.1f} s")


def test_phone_terminal(tmp_path: Path, mosquitto: Broker, browser: Any, flagged_image: bytes) -> None:
    started = time.monotonic()
    edge, lane, ids = start_lane(tmp_path, mosquitto, auto_release=False)
    try:
        context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                      is_mobile=True, has_touch=True)
        page = context.new_page()
        errors = watch_errors(page)
        log_in(page, edge.url)
        page.wait_for_selector("li.passage")
        no_horizontal_scroll(page)
        summary = page.locator("#devices-toggle")
        assert "of 4 online" in summary.text_content()
        assert not page.locator('#device-strip li[data-device="uvss"]').is_visible()  # folded
        summary.tap()
        for device_id in DEVICES:
            assert page.locator(f'#device-strip li[data-device="{device_id}"]').is_visible()
        summary.tap()

        passage_id, took = arrive_and_measure(lane, page, flagged_image)
        assert took < LIST_WITHIN_S, f"{took:.3f} s from the last reading to the row"
        page.locator(f'li.passage[data-id="{passage_id}"] button.row').tap()
        page.wait_for_selector("body.viewing #view-pane", state="visible")
        check_region_box(page)
        pinch_and_drag(context, page)
        page.locator(".viewer-tools button[aria-label='Fit the image']").tap()
        wait_fitted(page)
        check_region_box(page)
        no_horizontal_scroll(page)
        for button in ("#release", "#hold", "#back"):
            size = page.locator(button).bounding_box()
            assert size["height"] >= 44 and size["width"] >= 44, (button, size)
        page.screenshot(path=str(shot_path(tmp_path, "lane-terminal-phone.png")))
        page.keyboard.press("j")  # the list behind the full-screen view must not move: R is for what is shown
        release_flagged(page, edge, passage_id)
        page.locator("#back").tap()
        page.wait_for_selector("body:not(.viewing)")

        # a clear vehicle (auto release is off here): one tap on Release, no dialog
        page.click('button.filter[data-filter="all"]')
        clear = ids["新F10877"]
        assert edge.get(f"/api/passages/{clear}")["state"] == "clear"
        page.locator(f'li.passage[data-id="{clear}"] button.row').tap()
        page.wait_for_selector(f'#view[data-passage="{clear}"] .passage-head.st-clear')
        page.locator("#release").tap()
        page.wait_for_selector(f'#view[data-passage="{clear}"] .passage-head.st-released', timeout=10_000)
        assert not page.locator("#confirm").is_visible()
        assert edge.get(f"/api/passages/{clear}")["acted_by"] == TEST_USER
        page.locator("#back").tap()
        log_out_and_refused(page)
        assert errors == [], errors
        context.close()
    finally:
        edge.stop()
    print(f"phone terminal test took {time.monotonic() - started:.1f} s")
