"""Who may call what on the hub, checked by walking the app's routes: 401 without credentials, 403
with the wrong role, CSRF on cookie sessions, the login throttle, edge tokens, metrics, no tracebacks."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from hub.web.auth import ALLOWED, current_session, edge_caller, metrics_reader, person
from tests.hub_harness import REVIEWER, Hub, running_hub

OPEN = {"/api/v1/login", "/api/v1/health"}
SAMPLE = {"sha256": "a" * 64, "item_id": "1", "name": "nobody"}
GUARDS: dict[Callable[..., Any], str] = {person(role): role for role in ALLOWED}
GUARDS.update({edge_caller: "edge", metrics_reader: "metrics", current_session: "any"})


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with running_hub(tmp_path_factory.mktemp("hub"), web={"metrics_token": "m" * 24}) as running:
        yield running


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, also inside included routers (FastAPI keeps those as branches)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)


def guard_of(route: APIRoute) -> str | None:
    """The role a route's dependencies ask for (the first guard found, depth first)."""
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop(0)
        if dependency.call in GUARDS:
            return GUARDS[dependency.call]
        stack[:0] = dependency.dependencies
    return None


def operations(hub: Hub) -> list[tuple[str, str, str | None]]:
    """(method, concrete path, guard) of every API route but the open ones."""
    found = []
    for route in api_routes(hub.app.routes):
        if route.path in OPEN:
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], route.path)
        found += [(method, path, guard_of(route)) for method in sorted(route.methods)]
    return found


def call(client: httpx.Client, method: str, path: str) -> httpx.Response:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return client.request(method, path, json=body)


def test_every_route_has_a_guard_and_answers_401_without_credentials(hub: Hub) -> None:
    ops = operations(hub)
    assert len(ops) >= 25
    assert [(m, p) for m, p, guard in ops if guard is None] == []
    anonymous = hub.anonymous()
    wrong = [(m, p, r.status_code) for m, p, _ in ops if (r := call(anonymous, m, p)).status_code != 401]
    assert wrong == []
    assert anonymous.get("/api/v1/queue").json()["code"] == "unauthorized"


def test_an_edge_token_is_no_login_and_a_login_no_edge_token(hub: Hub) -> None:
    for method, path, guard in operations(hub):
        client = hub.reviewer if guard == "edge" else hub.edge
        if guard == "metrics":
            continue
        assert call(client, method, path).status_code == 401, (method, path)


@pytest.mark.parametrize(("who", "forbidden"), [("reviewer", {"supervisor", "admin", "metrics"}),
                                                ("supervisor", {"admin", "metrics"}),
                                                ("admin", {"reviewer", "supervisor"})])
def test_the_wrong_role_gets_403(hub: Hub, who: str, forbidden: set[str]) -> None:
    client = {"reviewer": hub.reviewer, "supervisor": hub.supervisor, "admin": hub.admin}[who]
    ops = [(m, p) for m, p, guard in operations(hub) if guard in forbidden]
    assert ops
    wrong = [(m, p, r.status_code) for m, p in ops if (r := call(client, m, p)).status_code != 403]
    assert wrong == []


def test_openapi_declares_each_routes_refusals(hub: Hub) -> None:
    spec = hub.anonymous().get("/openapi.json").json()
    routes = {route.path: route for route in api_routes(hub.app.routes)}
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            guard = guard_of(routes[path]) if path not in OPEN else None
            codes = set(op["responses"])
            if guard is not None:
                assert "401" in codes, (method, path)
            if guard in ALLOWED and guard != "any":
                assert "403" in codes, (method, path)
            if op.get("parameters") or op.get("requestBody"):
                assert "422" in codes, (method, path)
            for code, answer in op["responses"].items():
                if code.startswith("4"):
                    assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/Refusal"), (method, path, code)


def test_unsafe_requests_need_the_csrf_token(hub: Hub) -> None:
    client = hub.login(REVIEWER)
    token = client.headers.pop("X-CSRF-Token")
    refused = client.post("/api/v1/queue/claim")
    assert refused.status_code == 403 and refused.json()["code"] == "csrf"
    assert client.post("/api/v1/queue/claim", headers={"X-CSRF-Token": "x" + token}).status_code == 403
    assert client.get("/api/v1/queue").status_code == 200  # a safe request needs none
    assert client.post("/api/v1/queue/claim", headers={"X-CSRF-Token": token}).status_code in (200, 204)


def test_login_cookie_logout_and_throttle(hub: Hub) -> None:
    client = hub.anonymous()
    answer = client.post("/api/v1/login", json={"name": REVIEWER, "password": "reviewer-one-pw"})
    cookie = answer.headers["set-cookie"].lower()
    assert "kouan_hub_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    me = client.get("/api/v1/me").json()
    assert (me["name"], me["role"]) == (REVIEWER, "reviewer") and me["csrf"] == answer.json()["csrf"]
    assert client.post("/api/v1/logout").status_code == 403  # unsafe: needs the CSRF token too
    assert client.post("/api/v1/logout", headers={"X-CSRF-Token": me["csrf"]}).status_code == 204
    assert client.get("/api/v1/me").status_code == 401
    name = "throttled-name"
    statuses = [client.post("/api/v1/login", json={"name": name, "password": "wrong-password"}).status_code
                for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    locked = client.post("/api/v1/login", json={"name": name, "password": "wrong-password"})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0


def test_a_revoked_edge_is_refused(hub: Hub) -> None:
    created = hub.admin.post("/api/v1/edges", json={"name": "short-lived", "lane": "L7", "port": "P1"})
    assert created.status_code == 201
    edge = hub._client(headers={"Authorization": f"Bearer {created.json()['token']}"})
    assert edge.get("/api/v1/verdicts").status_code == 200
    assert "short-lived" in [e["name"] for e in hub.admin.get("/api/v1/edges").json()["edges"]]
    assert hub.admin.post("/api/v1/edges/short-lived/revoke").status_code == 204
    refused = edge.get("/api/v1/verdicts")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    assert hub.admin.post("/api/v1/edges/short-lived/revoke").status_code == 409
    assert hub.admin.post("/api/v1/edges/never-was/revoke").status_code == 404


def test_admin_manages_people_and_reads_the_audit_log(hub: Hub) -> None:
    made = hub.admin.post("/api/v1/users", json={"name": "new.rev", "role": "reviewer", "password": "new-password"})
    assert made.status_code == 201 and made.json()["role"] == "reviewer"
    assert hub.admin.post("/api/v1/users", json={"name": "new.rev", "role": "reviewer",
                                                 "password": "new-password"}).status_code == 409
    weak = hub.admin.post("/api/v1/users", json={"name": "weak", "role": "reviewer", "password": "short"})
    assert weak.status_code == 422 and "8" in weak.json()["detail"]
    person_client = hub.login("new.rev", "new-password")
    assert hub.admin.post("/api/v1/users/new.rev/password", json={"password": "another-password"}).status_code == 204
    assert hub.admin.post("/api/v1/users/new.rev/disable").status_code == 204
    assert person_client.get("/api/v1/queue").status_code == 401  # a disabled person's session ends
    assert "new.rev" not in [u["name"] for u in hub.admin.get("/api/v1/users").json()["users"]]
    first = hub.admin.get("/api/v1/audit", params={"limit": 2}).json()
    assert len(first["entries"]) == 2 and first["entries"][0]["id"] > first["entries"][1]["id"]
    older = hub.admin.get("/api/v1/audit", params={"before": first["next_before"], "limit": 2}).json()
    assert older["entries"][0]["id"] < first["entries"][1]["id"]
    actions = {e["action"] for e in hub.admin.get("/api/v1/audit", params={"limit": 1000}).json()["entries"]}
    assert {"user_added", "user_disabled", "edge_added"} <= actions
    assert hub.admin.get("/api/v1/audit/verify").json()["ok"] is True


def test_metrics_for_the_token_or_an_admin(hub: Hub) -> None:
    machine = hub._client(headers={"Authorization": "Bearer " + "m" * 24})
    text = machine.get("/metrics").text
    for name in ("kouan_hub_queue_depth", "kouan_hub_upload_bytes_total", "# HELP kouan_hub_claims_total"):
        assert name in text
    assert hub.admin.get("/metrics").status_code == 200
    assert hub._client(headers={"Authorization": "Bearer wrong-token-wrong"}).get("/metrics").status_code == 401
    assert hub.reviewer.get("/metrics").status_code == 403


def test_an_unexpected_error_is_500_internal_error_without_a_traceback(hub: Hub,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> dict[str, str]:
        raise RuntimeError("secret detail of a bug")

    routes = hub.app.router.routes
    hub.app.add_api_route("/api/v1/broken", broken)
    routes.insert(0, routes.pop())  # before the web app's mount at /
    try:
        answer = hub.anonymous().get("/api/v1/broken")
    finally:
        routes.pop(0)
    assert answer.status_code == 500
    assert answer.json() == {"code": "internal", "detail": "internal error", "missing": []}
    assert "secret" not in answer.text
    logged = [r for r in caplog.records if r.getMessage().startswith("internal error on GET /api/v1/broken")]
    assert logged and logged[0].exc_info is not None
    assert hub.anonymous().get("/api/v1/health").status_code == 200  # the service goes on
    missing = hub.anonymous().get("/no-such-page")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
