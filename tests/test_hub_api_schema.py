"""Property-based requests from the hub's own OpenAPI (schemathesis) against a real hub: no 500, and
every answer's status, content type, headers and body are the ones the schema declares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from tests.hub_harness import Hub, running_hub

SKIPPED = {("POST", "/api/v1/logout"),  # would end the session the other cases use
           ("GET", "/api/v1/verdicts")}  # a long poll of up to 30 s per case (tests/test_hub_api_review.py)
EXAMPLES = 6
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_headers_conformance, checks.response_schema_conformance]


@schemathesis.serializer("application/offset+octet-stream")
def _chunk(_ctx: Any, value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with running_hub(tmp_path_factory.mktemp("hub")) as running:
        yield running


def operations() -> list[Any]:
    """The schema's operations (from an app made only to read its OpenAPI; it serves nothing)."""
    import tempfile
    from pathlib import Path

    from hub.app import create_app
    from tests.hub_harness import hub_config

    with tempfile.TemporaryDirectory() as folder:
        app = create_app(hub_config(Path(folder)))
        spec = app.openapi()
        app.state.hub.database.dispose()
    return [result.ok() for result in schemathesis.openapi.from_dict(spec).get_all_operations()]


def credentials(hub: Hub, path: str) -> dict[str, str]:
    """The headers of the role the operation is for (an edge, an admin, else a supervisor)."""
    if path.startswith(("/api/v1/blobs", "/api/v1/passages", "/api/v1/verdicts")):
        return {"Authorization": hub.edge.headers["Authorization"]}
    admin = path.startswith(("/api/v1/users", "/api/v1/edges", "/api/v1/audit")) or path == "/metrics"
    client = hub.admin if admin else hub.supervisor
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    return {"Cookie": cookie, "X-CSRF-Token": client.headers["X-CSRF-Token"]}


@pytest.mark.parametrize("operation", [op for op in operations() if (op.method.upper(), op.path) not in SKIPPED],
                         ids=lambda op: f"{op.method.upper()} {op.path}")
def test_answers_conform_to_the_schema(operation: Any, hub: Hub) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: Any) -> None:
        case.call_and_validate(base_url=hub.url, headers=credentials(hub, case.path), checks=CHECKS)

    check()
