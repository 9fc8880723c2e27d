"""Test harness: a real hub (uvicorn on a free port, in a thread) with people and edges, and a client each.

    with running_hub(tmp_path) as hub:                 # SQLite in tmp_path
        hub.edge.put(...)                              # bearer token of edge "edge-1", lane L1
        hub.reviewer.get("/api/v1/queue")              # logged in, sends its CSRF token

    with fresh_postgres_url() as url, running_hub(tmp_path, url) as hub: ...   # PostgreSQL

People: ADMIN, REVIEWER, REVIEWER2, SUPERVISOR (names and passwords below); edges "edge-1" (lane L1)
and "edge-2" (lane L2), both of port P1. `hub.login(name, password)` makes another client,
`hub.anonymous()` one with no credentials. Everything is real: HTTP, the store, the blob folder.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hashlib

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from contract.uplink import CHUNK_CONTENT_TYPE, UPLOAD_OFFSET, PassageUpload, canonical_sha256
from hub import accounts
from hub.accounts import EdgeInfo
from hub.app import create_app
from hub.config import HubConfig
from hub.db.engine import Database, make_engine, upgrade
from tests.hub_db import fresh_postgres_url

PASSWORDS = {"admin": "admin-password", "rev1": "reviewer-one-pw", "rev2": "reviewer-two-pw",
             "sup1": "supervisor-pw"}
ADMIN, REVIEWER, REVIEWER2, SUPERVISOR = "admin", "rev1", "rev2", "sup1"
ROLES = {ADMIN: "admin", REVIEWER: "reviewer", REVIEWER2: "reviewer", SUPERVISOR: "supervisor"}
EDGES = {"edge-1": "L1", "edge-2": "L2"}
PORT = "P1"


def hub_config(tmp_path: Path, database_url: str | None = None, **sections: dict[str, Any]) -> HubConfig:
    """A config with its SQLite file and blobs in `tmp_path` (or `database_url`); `sections` override."""
    raw: dict[str, Any] = {"hub": {"name": "test-hub"},
                           "database": {"url": database_url or f"sqlite:///{tmp_path / 'hub.sqlite3'}"},
                           "blobs": {"root": str(tmp_path / "blobs")},
                           "web": {"host": "127.0.0.1", "port": 0}}
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return HubConfig.model_validate(raw)


class ServerThread:
    """uvicorn serving `app` on 127.0.0.1 at a free port, in a daemon thread, until `stop()`."""

    def __init__(self, app: FastAPI) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off", access_log=False,
                                                    timeout_graceful_shutdown=2))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="hub-under-test", daemon=True)

    def start(self, timeout: float = 15.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the hub's server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@dataclass
class Hub:
    """A running hub and a client per role."""

    config: HubConfig
    app: FastAPI
    database: Database
    url: str
    edge_tokens: dict[str, str]
    edges: dict[str, EdgeInfo]
    clients: list[httpx.Client] = field(default_factory=list)

    def _client(self, **kwargs: Any) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=10.0, **kwargs)
        self.clients.append(client)
        return client

    def anonymous(self) -> httpx.Client:
        return self._client()

    def edge_client(self, name: str = "edge-1") -> httpx.Client:
        return self._client(headers={"Authorization": f"Bearer {self.edge_tokens[name]}"})

    def login(self, name: str, password: str | None = None) -> httpx.Client:
        client = self._client()
        answer = client.post("/api/v1/login", json={"name": name, "password": password or PASSWORDS[name]})
        answer.raise_for_status()
        client.headers["X-CSRF-Token"] = answer.json()["csrf"]
        return client

    def __post_init__(self) -> None:
        self.edge = self.edge_client("edge-1")
        self.other_edge = self.edge_client("edge-2")
        self.admin = self.login(ADMIN)
        self.reviewer = self.login(REVIEWER)
        self.reviewer2 = self.login(REVIEWER2)
        self.supervisor = self.login(SUPERVISOR)


def populate(database: Database) -> tuple[dict[str, str], dict[str, EdgeInfo]]:
    """The harness's people and edges in `database`: the edges' tokens and infos."""
    tokens: dict[str, str] = {}
    infos: dict[str, EdgeInfo] = {}
    with database.session() as s:
        for name, role in ROLES.items():
            accounts.add_user(s, name, role, PASSWORDS[name], actor="test")
        for name, lane in EDGES.items():
            infos[name], tokens[name] = accounts.add_edge(s, name, lane, PORT, actor="test")
    return tokens, infos


@contextmanager
def running_hub(tmp_path: Path, database_url: str | None = None, **sections: dict[str, Any]) -> Iterator[Hub]:
    """A hub serving on a free port with the harness's people and edges; stopped when the block ends."""
    config = hub_config(tmp_path, database_url, **sections)
    database = Database(make_engine(config.database.url))
    upgrade(database.engine)
    tokens, infos = populate(database)
    app = create_app(config, database)
    server = ServerThread(app).start()
    hub: Hub | None = None
    try:
        hub = Hub(config, app, database, server.url, tokens, infos)
        yield hub
    finally:
        for client in hub.clients if hub else []:
            client.close()
        server.stop()
        database.dispose()


@contextmanager
def hub_on(store: str, tmp_path: Path, **sections: dict[str, Any]) -> Iterator[Hub]:
    """A running hub on "sqlite" or on a fresh PostgreSQL database (skipped without KOUAN_TEST_POSTGRES)."""
    with ExitStack() as stack:
        url = stack.enter_context(fresh_postgres_url()) if store == "postgres" else None
        yield stack.enter_context(running_hub(tmp_path, url, **sections))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """One hub for a test module on each store; import it (`from tests.hub_harness import hub`)."""
    with hub_on(request.param, tmp_path_factory.mktemp("hub")) as running:
        yield running


def patch_chunk(client: httpx.Client, sha256: str, offset: int, chunk: bytes) -> httpx.Response:
    """One PATCH of an upload's chunk at `offset`."""
    return client.patch(f"/api/v1/blobs/{sha256}", content=chunk,
                        headers={UPLOAD_OFFSET: str(offset), "Content-Type": CHUNK_CONTENT_TYPE})


def upload_blob(client: httpx.Client, data: bytes, media_type: str, chunk: int = 1 << 20,
                sha256: str | None = None) -> httpx.Response:
    """Upload `data` as the protocol says (POST, then PATCH chunks from the hub's offset); the last answer."""
    sha = sha256 or hashlib.sha256(data).hexdigest()
    answer = client.post(f"/api/v1/blobs/{sha}", json={"size": len(data), "media_type": media_type})
    if answer.status_code != 200 or answer.json()["complete"]:
        return answer
    offset = answer.json()["offset"]
    while True:
        answer = patch_chunk(client, sha, offset, data[offset:offset + chunk])
        if answer.status_code != 200 or answer.json()["complete"]:
            return answer
        offset = answer.json()["offset"]


def put_passage(client: httpx.Client, upload: PassageUpload) -> httpx.Response:
    """PUT a passage document under its canonical SHA-256."""
    return client.put(f"/api/v1/passages/{canonical_sha256(upload)}", content=upload.model_dump_json(),
                      headers={"Content-Type": "application/json"})
