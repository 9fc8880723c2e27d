"""The lane terminal in a real browser (Debian chromium driven by Playwright).

The page sends a caller without a session to the login page, and after the login comes back.
Both locks appear online; a tamper scripted in the serial stub shows on the page without a reload,
pushed over the live stream when the page was up before it happened. (Waits are generous; how fast
it shows is printed, not asserted: a loaded machine says nothing about the page.) Logging out with
the page helper (api.js, which sends the CSRF token) sends the page back to the login; the login
form fits a 360 px phone and says when the password is wrong.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError

from firmware_stubs.lock_events import parse_events
from firmware_stubs.smart_lock import LockConfig, SerialSmartLock
from firmware_stubs.smart_lock_mqtt import MqttSmartLock
from tests.browser_harness import chromium
from tests.conftest import Broker
from tests.lane_harness import TEST_PASSWORD, TEST_USER, EdgeThread, lane_config

TAMPER_AT_S = 6.0


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as instance:
        yield instance


def test_lane_page_shows_devices_and_tamper_live(tmp_path: Path, mosquitto: Broker, browser: object) -> None:
    link = tmp_path / "lock.tty"
    started = time.monotonic()
    s_stub = SerialSmartLock(LockConfig(terminal="13912344329", lock_id="SEAL-S1", report_period_s=1.0,
                                        heartbeat_period_s=1.0, response_timeout_s=1.0,
                                        events=parse_events(f"{TAMPER_AT_S}:tamper")), link=link)
    m_stub = MqttSmartLock(LockConfig(terminal="13912344330", lock_id="SEAL-M1", report_period_s=1.0),
                           mosquitto.url, "lane-t", "lock-m")
    s_stub.start()
    m_stub.start()
    edge = EdgeThread(lane_config(tmp_path, mosquitto.port, link)).start()
    try:
        page = browser.new_page()  # type: ignore[attr-defined]
        page.goto(edge.url)
        page.wait_for_url("**/login", timeout=30_000)  # no session: lane.js met a 401
        page.fill("#name", TEST_USER)
        page.fill("#password", TEST_PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url(edge.url, timeout=30_000)
        page.evaluate("window.kouanTestNoReload = true")   # gone if anything reloads the page
        page.wait_for_selector("#link.up", timeout=30_000)
        # #link.up is set when the stream opens, before the lists it then loads have arrived
        page.wait_for_function("document.getElementById('lane-name').textContent === 'Test lane'", timeout=30_000)
        for device_id in ("lock-s", "lock-m"):
            page.wait_for_selector(f'#device-strip li[data-device="{device_id}"] .status.online', timeout=30_000)
        live_before_tamper = s_stub.counters["event_tamper"] == 0   # the page is up; has the tamper fired yet?
        # the device strip shows the kind's summary of its state (edge/kinds/smart_lock: lock, state, battery)
        summary = '#device-strip li[data-device="lock-s"] .summary'
        page.wait_for_selector(f'{summary}:has-text("tampered")', timeout=60_000)
        seen = time.monotonic()
        print(f"tamper shown on the page {seen - (started + TAMPER_AT_S):.3f} s after scheduled (upper bound)")
        assert page.evaluate("window.kouanTestNoReload === true"), "the page reloaded to show the tamper"
        if not live_before_tamper:
            print("the tamper fired before the page was up: it came with the page, not live")
        assert (page.text_content(summary) or "").startswith("SEAL-S1: tampered, battery ")
        page.screenshot(path=str(tmp_path / "lane.png"), full_page=True)
        shutil.copy(tmp_path / "lane.png", Path(tempfile.gettempdir()) / "kouan-lane-page.png")  # to look at

        if not page.evaluate("typeof window.kouanApi === 'object'"):  # a second copy would navigate away too
            page.add_script_tag(url="/static/api.js")
        assert page.evaluate("kouanApi.post('/api/logout', {})") == {"status": "logged out"}
        # the session is gone: the next request meets a 401 and the page goes to the login (the page's own
        # uplink poll may get there first, taking the page away under this evaluate)
        try:
            page.evaluate("() => { kouanApi.get('/api/devices'); }")
        except PlaywrightError as exc:
            assert "context was destroyed" in str(exc), exc
        page.wait_for_url("**/login", timeout=30_000)

        phone = browser.new_page(viewport={"width": 360, "height": 640})  # type: ignore[attr-defined]
        phone.goto(edge.url + "login")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 360, "the form is wider than a phone"
        phone.fill("#name", TEST_USER)
        phone.fill("#password", "not-the-password")
        phone.click("#login-form button[type=submit]")
        phone.wait_for_function("document.getElementById('message').textContent === 'Wrong name or password.'",
                                timeout=30_000)
        phone.screenshot(path=str(Path(tempfile.gettempdir()) / "kouan-login-phone.png"))  # to look at
    finally:
        edge.stop()
        s_stub.stop()
        m_stub.stop()
