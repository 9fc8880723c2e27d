"""The lane terminal's counts and its merged list in a real browser (Debian chromium, Playwright),
over a real edge runtime given its vehicles through its own ingest (the helpers of
test_lane_terminal_browser.py).

The "(N flagged)" title and the filter buttons' counts are the store's, not the loaded page's: with
more flagged vehicles than one page holds the title says how many there are, and under the Held
filter (no flagged row shown) it still does; a vehicle flagged meanwhile counts at once, and a burst
of live updates costs fewer count requests than updates.

The "Needs officer" filter merges a page of each state it shows: a passage not loaded yet that
changes state must show as it is now when its part is loaded (even where the source of its new
state had paged past it, or another source holds it as it was), and one that no longer matches
must not show at all; a row the officer holds stays while selected, and leaves when the selection
moves on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from edge.config import EdgeConfig
from tests.browser_harness import chromium
from tests.conftest import Broker
from tests.lane_harness import EdgeThread, wait_until
from tests.test_lane_terminal_browser import (REGION, Lane, Vehicle, container, log_in, shot_path, undercarriage,
                                              watch_errors)

PAGE = 50  # the page's page size (passages.js)
NEEDS = ("flagged", "reviewed", "open", "analysing")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as instance:
        yield instance


def vehicle(n: int, flagged: bool) -> Vehicle:
    return Vehicle(f"新F3{n:04d}", f"C-67{n:04d}", f"SEAL-3{n:04d}", container(f"TEMU{300000 + n:06d}"),
                   flagged_region=REGION if flagged else None)


def start_edge(tmp: Path, broker: Broker, vehicles: list[Vehicle]) -> tuple[EdgeThread, Lane]:
    declared = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    (tmp / "declarations.jsonl").write_text("".join(json.dumps({
        "id": f"CN-KHG-{5000 + i}", "plate": v.plate, "driver_card": v.card, "cargo": "empty containers, return",
        "containers": [{"number": v.container, "lock_id": v.lock, "declared_empty": True}], "declared_at": declared,
    }, ensure_ascii=False) + "\n" for i, v in enumerate(vehicles)), encoding="utf-8")
    config = EdgeConfig.model_validate({
        "lane": {"id": "khorgos-in-05", "name": "Khorgos inbound 5"},
        "store": {"path": str(tmp / "edge.sqlite3")},
        "mqtt": {"url": broker.url},
        "web": {"host": "127.0.0.1", "port": 0},
        "devices": [
            {"id": "uvss", "name": "Under-vehicle camera", "kind": "under_vehicle", "analyse": False},
            {"id": "lock-1", "name": "E-lock reader", "kind": "smart_lock", "transport": "mqtt"},
            {"id": "iris-1", "name": "Driver iris reader", "kind": "iris", "transport": "mqtt"},
        ],
        # long deadlines: the vehicles left waiting must still wait when the test looks
        "passages": {"deadlines": {"uvss": 3600, "lock-1": 3600, "iris-1": 3600},
                     "declarations_file": str(tmp / "declarations.jsonl")},
    })
    edge = EdgeThread(config).start()
    return edge, Lane(edge)


def all_passages(edge: EdgeThread) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    before = ""
    while True:
        page = edge.get(f"/api/passages?limit=200{before}")
        out += page["items"]
        if page["next"] is None:
            return out
        before = f"&before={page['next']}"


def rest_of(lane: Lane, v: Vehicle, state: dict[str, Any], at: float) -> Any:
    """The iris, the lock and the analysis (an object under it) of a vehicle whose pass alone was read: flagged."""
    v = replace(v, flagged_region=REGION)
    lane.submit(lane.state_reading("iris-1", "iris", "capture", {"card_id": v.card, "outcome": "match",
                                                                "distance": 0.21}, at))
    lane.submit(lane.state_reading("lock-1", "smart_lock", "report", {"lock_id": v.lock, "state": "sealed",
                                                                     "battery_pct": 81}, at + 0.2))
    return lane.submit(lane.analysis_of(v, state, at + 0.4))


def shown(page: Any) -> dict[int, str]:
    rows = page.eval_on_selector_all("#passages li", "els => els.map((e) => [Number(e.dataset.id), e.dataset.state])")
    return {pid: state for pid, state in rows}


def wait_title(page: Any, want: str, timeout: float = 10.0) -> None:
    """The page's title becomes `want` (the failure says what it was instead)."""
    try:
        page.wait_for_function(f"document.title === {json.dumps(want)}", timeout=timeout * 1000)
    except PlaywrightTimeout:
        raise AssertionError(f"the title is {page.title()!r}, not {want!r}") from None


def count_requests(page: Any) -> list[str]:
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/passages/counts" in r.url else None)
    return asked


def test_the_title_counts_every_flagged_vehicle_under_any_filter(tmp_path: Path, mosquitto: Broker,
                                                                 browser: Any) -> None:
    flagged = [vehicle(n, True) for n in range(58)]
    late = [vehicle(100 + n, True) for n in range(6)]  # they arrive while the page is up
    edge, lane = start_edge(tmp_path, mosquitto, [*flagged, *late])
    try:
        now = time.time()
        last = None
        for i, v in enumerate(flagged):
            last = lane.vehicle(v, now - 3600 + 30 * i, 3000 + i, undercarriage(256, 128, 3000 + i, REGION))
        assert last is not None and last.wait(20)
        wait_until(lambda: sum(p["state"] == "flagged" for p in all_passages(edge)) == len(flagged), 20,
                   what="every vehicle flagged")
        for p in all_passages(edge)[-3:]:  # the officer held three of them
            assert edge.client.post(f"/api/passages/{p['id']}/hold", json={"note": "papers"}).status_code == 200
        total = len(flagged) - 3
        assert sum(p["state"] == "flagged" for p in all_passages(edge)) == total > PAGE

        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        page = context.new_page()
        errors = watch_errors(page)
        asked = count_requests(page)
        log_in(page, edge.url)
        page.wait_for_function(f"document.querySelectorAll('#passages li').length === {PAGE}")
        title = f"({total} flagged) Kouan Khorgos inbound 5"
        wait_title(page, title, 5)
        assert page.locator('button.filter[data-filter="flagged"] .count').text_content() == str(total)
        assert page.locator('button.filter[data-filter="needs"] .count').text_content() == str(total)
        assert page.locator('button.filter[data-filter="held"] .count').text_content() == "3"
        assert page.locator('button.filter[data-filter="all"] .count').count() == 0
        assert edge.get("/api/passages/counts")["by_state"]["flagged"] == total

        page.click('button.filter[data-filter="held"]')
        page.wait_for_function("document.querySelectorAll('#passages li').length === 3")
        assert page.locator("#passages li.st-flagged").count() == 0
        wait_title(page, title, 1)  # no flagged row shown, and the vehicles still wait

        # a burst of vehicles flagged while the officer looks at the held ones: each counts, and the
        # page asks for the counts fewer times than the live stream told it of a change
        page.evaluate("window.__passageEvents = 0; "
                      "new EventSource('/api/live').addEventListener('passage', () => window.__passageEvents++)")
        page.wait_for_timeout(300)
        asked.clear()
        now = time.time()
        for i, v in enumerate(late):
            last = lane.vehicle(v, now - 10 + i, 4000 + i, undercarriage(256, 128, 4000 + i, REGION))
        assert last.wait(20)
        title = f"({total + len(late)} flagged) Kouan Khorgos inbound 5"
        wait_title(page, title)
        page.wait_for_timeout(1000)  # let any request still coming come
        events = page.evaluate("window.__passageEvents")
        print(f"{events} passage events, {len(asked)} count requests")
        assert events >= 2 * len(late) and 1 <= len(asked) < events, (events, asked)
        assert page.locator('button.filter[data-filter="flagged"] .count').text_content() == str(total + len(late))
        assert page.title() == title and page.locator("#passages li").count() == 3
        page.screenshot(path=str(shot_path(tmp_path, "lane-counts-held.png")))

        page.click('button.filter[data-filter="flagged"]')
        page.wait_for_function(f"document.querySelectorAll('#passages li').length === {PAGE}")
        assert page.title() == title
        assert errors == [], errors
        context.close()
    finally:
        edge.stop()


def test_a_passage_not_loaded_yet_that_changes_shows_as_it_is_now(tmp_path: Path, mosquitto: Broker,
                                                                  browser: Any) -> None:
    """Needs officer: 30 flagged and 60 waiting vehicles, interleaved. The first page asks each state for
    50: the flagged are all loaded (that source is done), the waiting only the newest 50; the merge
    shows the newest 50 rows and keeps the rest for "Older". Then, below the rows shown: a waiting
    vehicle never loaded is flagged (the flagged source paged past it), a loaded but unshown waiting
    one is flagged, and an unshown flagged one is held (no longer needs the officer)."""
    vehicles = [vehicle(n, n % 3 == 0) for n in range(90)]
    edge, lane = start_edge(tmp_path, mosquitto, vehicles)
    try:
        now = time.time()
        pending: dict[str, tuple[Vehicle, dict[str, Any]]] = {}
        last = None
        for i, v in enumerate(vehicles):
            at = now - 600 + 5 * i
            image = undercarriage(256, 128, 5000 + i, REGION if v.flagged_region else None)
            if v.flagged_region:
                last = lane.vehicle(v, at, 5000 + i, image)
            else:  # the pass alone: it waits for the lock, the iris and the analysis
                reading, state = lane.pass_of(v, at, image, 5000 + i)
                pending[v.plate] = (v, state)
                last = lane.submit(reading)
        assert last is not None and last.wait(20)
        wait_until(lambda: len(all_passages(edge)) == len(vehicles)
                   and sum(p["state"] == "flagged" for p in all_passages(edge)) == 30, 20, what="90 passages")
        passages = all_passages(edge)  # newest first
        waiting_state = {p["state"] for p in passages if p["plate"] in pending}
        assert len(waiting_state) == 1 and waiting_state <= set(NEEDS), waiting_state
        by_plate = {p["plate"]: p["id"] for p in passages}
        ids = [p["id"] for p in passages]
        waiting = [p["id"] for p in passages if p["plate"] in pending]
        first_rows = set(ids[:PAGE])
        loaded_floor = waiting[PAGE - 1]  # the waiting source's first page ends here
        kept = [pid for pid in ids if pid >= loaded_floor and pid not in first_rows]  # loaded, not shown
        never = waiting[PAGE:]  # the waiting source's second page
        kept_waiting = [pid for pid in kept if pid in waiting]
        kept_flagged = [pid for pid in kept if pid not in waiting]
        assert never and kept_waiting and kept_flagged, (never, kept)

        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        page = context.new_page()
        errors = watch_errors(page)
        log_in(page, edge.url)
        page.wait_for_function(f"document.querySelectorAll('#passages li').length === {PAGE}")
        assert set(shown(page)) == first_rows and page.locator("#older").is_visible()

        plate_of = {pid: plate for plate, pid in by_plate.items()}
        to_flag = [never[-1], kept_waiting[0]]
        done = None
        for pid in to_flag:
            v, state = pending[plate_of[pid]]
            done = rest_of(lane, v, state, now - 600 + 5 * vehicles.index(v) + 2)
        held = kept_flagged[-1]
        assert edge.client.post(f"/api/passages/{held}/hold", json={"note": "papers"}).status_code == 200
        assert done is not None and done.wait(20)
        wait_until(lambda: all(edge.get(f"/api/passages/{pid}")["state"] == "flagged" for pid in to_flag), 20,
                   what="the two vehicles flagged")
        marker = ids[0]  # a shown row held last: once it leaves the list, the page has had every update before
        assert edge.client.post(f"/api/passages/{marker}/hold", json={"note": "papers"}).status_code == 200
        page.wait_for_selector(f'li.passage[data-id="{marker}"]', state="detached", timeout=10_000)
        assert set(shown(page)) == first_rows - {marker}  # the three are all below the rows shown

        while page.locator("#older").is_visible():
            before = page.locator("#passages li").count()
            page.click("#older")
            page.wait_for_function(f"document.querySelectorAll('#passages li').length !== {before} "
                                   "|| document.getElementById('older').hidden", timeout=10_000)
        now_shown = shown(page)
        truth = {p["id"]: p["state"] for p in all_passages(edge) if p["state"] in NEEDS}
        wrong = [f"{what}: passage {pid} shown as {now_shown.get(pid, 'nothing')}" for what, pid, want in (
            ("a waiting vehicle flagged before its page was loaded", never[-1], "flagged"),
            ("a vehicle loaded but not shown yet, flagged since", kept_waiting[0], "flagged"),
            ("a flagged vehicle held before its row was shown", held, None)) if now_shown.get(pid) != want]
        assert not wrong, wrong
        assert now_shown == truth
        order = [int(i) for i in page.eval_on_selector_all("#passages li", "els => els.map((e) => e.dataset.id)")]
        assert order == sorted(order, reverse=True)
        wait_title(page, "(31 flagged) Kouan Khorgos inbound 5")  # 30, one held, two flagged since
        assert page.locator('button.filter[data-filter="needs"] .count').text_content() == str(len(truth))
        assert page.locator('button.filter[data-filter="held"] .count').text_content() == "2"
        page.locator(f'li.passage[data-id="{never[-1]}"]').scroll_into_view_if_needed()
        page.screenshot(path=str(shot_path(tmp_path, "lane-merged-older.png")))

        # the officer holds the flagged vehicle they look at: its row stays while it is selected (held now),
        # and leaves the list when the selection moves on
        mine = next(pid for pid, state in shown(page).items() if state == "flagged")
        page.click(f'li.passage[data-id="{mine}"] button.row')
        page.wait_for_selector(f'#view[data-passage="{mine}"] .passage-head.st-flagged')
        page.keyboard.press("h")
        page.wait_for_selector(f'li.passage.selected.st-held[data-id="{mine}"]', timeout=10_000)
        page.keyboard.press("j")
        try:
            page.wait_for_selector(f'li.passage[data-id="{mine}"]', state="detached", timeout=5_000)
        except PlaywrightTimeout:
            raise AssertionError("the held row stayed under Needs officer after the selection moved on") from None
        assert page.locator("li.passage.selected").count() == 1
        assert errors == [], errors
        context.close()
    finally:
        edge.stop()
