"""Logins on the lane terminal over real HTTP (the app under uvicorn on a free port, users in a real
SQLite store): every data route refuses a caller without a session, passwords, the lockout,
session expiry, logout, CSRF, roles, the metrics token, and the live stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import Depends, FastAPI
from prometheus_client import CollectorRegistry, Counter
from starlette.routing import Route

from edge import users
from edge.config import WebConfig
from edge.live import LiveBus
from edge.store import AsyncStore, Store
from edge.store_schema import store_migrations
from edge.users import LoginThrottle, SessionPolicy, User
from edge.web import app as web_app
from edge.web.app import create_app
from edge.web.auth import COOKIE, Auth, install_auth, require_role
from tests.conftest import Broker, free_port
from tests.lane_harness import TEST_PASSWORD, TEST_USER, EdgeThread, ensure_user, lane_config, log_in

OPEN = {"/", "/login", "/static/{name}", "/healthz", "/api/login",
        "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"}  # FastAPI's own pages name no lane data
DATA = {"/api/lane", "/api/devices", "/api/events", "/api/live", "/api/media/{sha256}",
        "/api/media/{sha256}/preview", "/metrics", "/api/me", "/api/logout", "/api/passages",
        "/api/passages/counts", "/api/passages/{passage_id}", "/api/passages/{passage_id}/release",
        "/api/passages/{passage_id}/hold", "/api/stats", "/api/declarations", "/api/uplink",
        "/api/devices/{device_id}/lane-model/rollback"}
BOSS, BOSS_PASSWORD = "boss", "supervisor-password"
MIGRATIONS = store_migrations()


class AuthLane:
    """A LaneView with no devices, users in a real store, and one metric."""

    lane_id, lane_name, media = "lane-a", "Auth lane", None

    def __init__(self, store: AsyncStore, web: WebConfig) -> None:
        self.bus, self.store, self.web = LiveBus(), store, web
        self.registry = CollectorRegistry()
        Counter("kouan_test_probe", "A metric to find.", registry=self.registry).inc()

    async def device_list(self) -> list[dict[str, Any]]:
        return []

    async def events(self, limit: int) -> list[dict[str, Any]]:
        return []


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """`app` under uvicorn in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), name="auth-app", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def logged_in(url: str, name: str = TEST_USER, password: str = TEST_PASSWORD) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=5) as client:
        yield log_in(client, name, password)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Callable[..., tuple[str, FastAPI]]]:
    """Start a lane terminal with the given [web] settings; users TEST_USER (officer) and BOSS."""
    path = tmp_path / "edge.sqlite3"
    ensure_user(path, TEST_USER, "officer", TEST_PASSWORD)
    ensure_user(path, BOSS, "supervisor", BOSS_PASSWORD)
    store = AsyncStore(path, MIGRATIONS)
    with contextlib.ExitStack() as stack:
        def start(**web: Any) -> tuple[str, FastAPI]:
            app = create_app(AuthLane(store, WebConfig(**web)))
            return stack.enter_context(serving(app)), app

        yield start
    store.close()


def request_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "0" * 64, path)


def walk(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route of `app`, checked against its OpenAPI paths so none is missed."""
    found = _walk(app.routes, "")
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            assert (method.upper(), path) in found, f"the walk missed {method.upper()} {path}"
    return found


def _walk(routes: list[Any], prefix: str) -> list[tuple[str, str]]:
    found = []
    for route in routes:
        included = getattr(route, "original_router", None)  # newer FastAPI keeps an included router whole
        if included is not None:
            found += _walk(included.routes, prefix + route.include_context.prefix)
            continue
        assert isinstance(route, Route), f"route {route!r} of a type this test does not check"
        found += [(method, prefix + route.path) for method in sorted(route.methods or ()) if method != "HEAD"]
    return found


def status_of(client: httpx.Client, method: str, path: str) -> tuple[int, Any]:
    with client.stream(method, request_path(path), timeout=5) as response:
        if response.status_code == 200:
            return 200, None  # not read: it may be a live stream that goes on
        response.read()
        return response.status_code, response.json()


def test_every_route_but_the_open_ones_refuses_a_caller_without_a_session(terminal: Any) -> None:
    url, app = terminal(metrics_token="a-metrics-token-for-prometheus")
    routes = walk(app)
    guarded = [(method, path) for method, path in routes if path not in OPEN]
    assert {path for _, path in guarded} == DATA, "a route was added or lost: sort it into OPEN or DATA"
    with httpx.Client(base_url=url) as anonymous, httpx.Client(base_url=url, cookies={COOKIE: "forged"}) as forged:
        for method, path in guarded:
            for client in (anonymous, forged):
                assert status_of(client, method, path) == (401, {"detail": "login required"}), (method, path)
        for path in ("/", "/login", "/static/login.js", "/static/api.js", "/healthz"):
            assert anonymous.get(path).status_code == 200, path
    assert 'id="login-form"' in httpx.get(url + "login").text


def test_every_unsafe_route_needs_the_csrf_token(terminal: Any) -> None:
    url, app = terminal()
    unsafe = [(m, p) for m, p in walk(app) if m in ("POST", "PUT", "PATCH", "DELETE") and p != "/api/login"]
    assert unsafe, "no unsafe route to check"
    with logged_in(url) as client:
        right = client.headers.pop("X-CSRF-Token")
        for method, path in unsafe:
            for sent in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": right[:-1]}):
                response = client.request(method, request_path(path), headers=sent)
                assert (response.status_code, response.json()) == (403, {"detail": "CSRF token missing or wrong"})
        assert client.get("/api/me").json()["csrf"] == right, "refused requests left the session alone"
        assert client.post("/api/logout", headers={"X-CSRF-Token": right}).status_code == 200


def test_login_sets_a_strict_http_only_cookie_and_gives_the_csrf_token(terminal: Any) -> None:
    url, _ = terminal()
    with httpx.Client(base_url=url) as client:
        response = client.post("/api/login", json={"name": TEST_USER, "password": TEST_PASSWORD})
        assert response.status_code == 200
        body = response.json()
        assert body["name"] == TEST_USER and body["role"] == "officer" and len(body["csrf"]) >= 32
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert "Path=/" in cookie and "Secure" not in cookie, cookie
        assert client.get("/api/me").json() == body
        assert client.get("/api/lane").json() == {"id": "lane-a", "name": "Auth lane"}
        over_https = client.post("/api/login", json={"name": TEST_USER, "password": TEST_PASSWORD},
                                 headers={"X-Forwarded-Proto": "https"})  # uvicorn trusts 127.0.0.1's proxy headers
        assert "Secure" in over_https.headers["set-cookie"]
        assert client.post("/api/login", json={"name": TEST_USER, "password": "x", "role": "supervisor"}
                           ).status_code == 422, "extra fields are refused"


def test_a_wrong_password_or_name_is_401_and_logged_without_the_password(
        terminal: Any, caplog: pytest.LogCaptureFixture) -> None:
    url, _ = terminal()
    caplog.set_level(logging.WARNING, logger="edge.web.auth")
    for name, password in ((TEST_USER, "not-the-password-1"), ("nobody", "not-the-password-2")):
        response = httpx.post(url + "api/login", json={"name": name, "password": password})
        assert (response.status_code, response.json()) == (401, {"detail": "wrong name or password"})
        assert COOKIE not in response.headers.get("set-cookie", "")
    failures = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "login failed" in r.getMessage()]
    assert len(failures) == 2 and TEST_USER in failures[0] and "nobody" in failures[1]
    assert not [r for r in caplog.records if "not-the-password" in r.getMessage()]


def test_five_failures_lock_the_name_for_a_while(terminal: Any) -> None:
    url, app = terminal()
    app.state.auth.throttle = LoginThrottle(lock_s=1.0)  # the real 60 s, shortened
    for _ in range(5):
        assert httpx.post(url + "api/login", json={"name": TEST_USER, "password": "guess-guess"}).status_code == 401
    locked = httpx.post(url + "api/login", json={"name": TEST_USER, "password": TEST_PASSWORD})
    assert locked.status_code == 429 and "too many failed logins" in locked.json()["detail"]
    assert int(locked.headers["Retry-After"]) >= 1
    assert httpx.post(url + "api/login", json={"name": BOSS, "password": BOSS_PASSWORD}).status_code == 200
    time.sleep(1.2)
    assert httpx.post(url + "api/login", json={"name": TEST_USER, "password": TEST_PASSWORD}).status_code == 200


def test_the_throttle_counts_failures_within_its_window_only() -> None:
    throttle = LoginThrottle(failures=5, window_s=300, lock_s=60)
    for at in (0, 100, 200, 301):  # the one at 0 has left the window by the fifth
        assert not throttle.failed("a", at)
    assert not throttle.failed("a", 350) and throttle.locked_for("a", 350) == 0
    assert throttle.failed("a", 360) and throttle.locked_for("a", 360) == 60
    assert throttle.locked_for("a", 419) > 0 and throttle.locked_for("a", 420) == 0
    throttle.succeeded("a")
    assert not throttle.failed("a", 421), "a success starts the count again"


def test_an_idle_session_ends_and_a_used_one_goes_on(terminal: Any) -> None:
    url, _ = terminal(session_idle_s=1.5)
    with logged_in(url) as client:
        for _ in range(2):  # 2 s in all since login, but never 1.5 s idle
            time.sleep(1.0)
            assert client.get("/api/devices").status_code == 200
        time.sleep(2.0)
        assert client.get("/api/devices").status_code == 401


def test_a_session_ends_at_its_lifetime_however_busy(terminal: Any) -> None:
    url, _ = terminal(session_lifetime_s=1.0)
    with logged_in(url) as client:
        assert client.get("/api/me").status_code == 200
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            time.sleep(0.2)
            client.get("/api/me")
        assert client.get("/api/me").status_code == 401


def test_session_expiry_and_its_ends_by_the_clock(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3", MIGRATIONS)
    user = users.add_user(store, "ann", "officer", "ann-password")
    policy = SessionPolicy(lifetime_s=100, idle_s=10)
    token, session = users.open_session(store, user, policy, now=1000.0)
    assert users.session_user(store, token, 1009.0, policy.idle_s) == session
    assert users.session_user(store, token, 1018.0, policy.idle_s, refresh=False) == session, "used at 1009"
    assert users.session_user(store, token, 1019.5, policy.idle_s) is None, "idle since 1009"
    token, _ = users.open_session(store, user, policy, now=2000.0)
    for at in range(2005, 2100, 5):
        assert users.session_user(store, token, float(at), policy.idle_s) is not None
    assert users.session_user(store, token, 2100.0, policy.idle_s) is None, "past its lifetime"
    token, _ = users.open_session(store, user, policy, now=3000.0)
    users.set_password(store, "ann", "new-ann-password")
    assert users.session_user(store, token, 3001.0, policy.idle_s) is None, "a new password ends the sessions"
    token, _ = users.open_session(store, user, policy, now=4000.0)
    store.execute_write("UPDATE users SET disabled=1 WHERE name='ann'")
    assert users.session_user(store, token, 4001.0, policy.idle_s) is None, "a disabled user has no session"
    assert store.read("SELECT token_sha256 FROM sessions WHERE token_sha256=?", (token,)) == [], "no token stored"
    store.close()


def test_logout_ends_the_session_on_the_server(terminal: Any) -> None:
    url, _ = terminal()
    with logged_in(url) as client:
        token = client.cookies[COOKIE]
        assert client.post("/api/logout").json() == {"status": "logged out"}
        assert client.get("/api/me").status_code == 401
    with httpx.Client(base_url=url, cookies={COOKIE: token}) as replay:  # the old cookie, kept by someone
        assert replay.get("/api/devices").status_code == 401


def test_roles_are_checked_on_the_server(tmp_path: Path) -> None:
    path = tmp_path / "edge.sqlite3"
    ensure_user(path, TEST_USER, "officer", TEST_PASSWORD)
    ensure_user(path, BOSS, "supervisor", BOSS_PASSWORD)
    store = AsyncStore(path, MIGRATIONS)
    app = FastAPI()
    install_auth(app, Auth(store))

    @app.post("/boss-only")
    async def boss_only(user: User = Depends(require_role("supervisor"))) -> dict[str, str]:
        return {"by": user.name}

    @app.get("/anyone", dependencies=[Depends(require_role("officer"))])
    async def anyone() -> dict[str, str]:
        return {"ok": "yes"}

    with pytest.raises(ValueError, match="unknown role"):
        require_role("admin")
    try:
        with serving(app) as url, logged_in(url) as officer, logged_in(url, BOSS, BOSS_PASSWORD) as boss:
            refused = officer.post("/boss-only")
            assert (refused.status_code, refused.json()) == (403, {"detail": "this needs a supervisor login"})
            assert officer.get("/anyone").status_code == 200
            assert boss.post("/boss-only").json() == {"by": BOSS}
            assert boss.get("/anyone").status_code == 200
            assert httpx.post(url + "boss-only").status_code == 401
    finally:
        store.close()


def test_metrics_take_the_bearer_token_or_a_login(terminal: Any) -> None:
    token = "a-metrics-token-for-prometheus"
    url, _ = terminal(metrics_token=token)
    assert httpx.get(url + "metrics").status_code == 401
    assert httpx.get(url + "metrics", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
    scraped = httpx.get(url + "metrics", headers={"Authorization": f"Bearer {token}"})
    assert scraped.status_code == 200 and "kouan_test_probe_total 1.0" in scraped.text
    with logged_in(url) as client:
        assert "kouan_test_probe_total" in client.get("/metrics").text
    url, _ = terminal()  # no token configured: a bearer opens nothing
    assert httpx.get(url + "metrics", headers={"Authorization": "Bearer None"}).status_code == 401


def test_the_live_stream_ends_when_its_session_does(terminal: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_app, "SESSION_RECHECK_S", 0.2)
    url, _ = terminal()
    with logged_in(url) as client, client.stream("GET", "/api/live", timeout=5) as stream:
        assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
        chunks = stream.iter_bytes()
        assert next(chunks).startswith(b"retry:")
        assert client.post("/api/logout").status_code == 200
        deadline = time.monotonic() + 10
        for _ in chunks:  # keep-alives until the server ends the stream
            assert time.monotonic() < deadline, "the stream outlived its session"


def test_the_edge_runtime_serves_logins(tmp_path: Path, mosquitto: Broker) -> None:
    config = lane_config(tmp_path, mosquitto.port, tmp_path / "no-serial-lock", offline_after_s=3600)
    config.web.metrics_token = "runtime-metrics-token"
    edge = EdgeThread(config).start()
    try:
        assert edge.get("/api/lane") == {"id": "lane-t", "name": "Test lane"}
        assert httpx.get(edge.url + "api/devices", timeout=5).status_code == 401
        scraped = httpx.get(edge.url + "metrics", headers={"Authorization": "Bearer runtime-metrics-token"}, timeout=5)
        assert scraped.status_code == 200 and "kouan_ingest_queue_depth" in scraped.text
    finally:
        edge.stop()
