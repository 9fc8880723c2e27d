"""Test harness: an edge runtime on its own event loop thread, and an MQTT listener.

Used by the end-to-end lane tests and the browser test; everything is real (Mosquitto, ptys,
HTTP, SQLite). The edge gets a user, TEST_USER (an officer), before it starts; `EdgeThread.client`
is logged in as that user and sends the session's CSRF token.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt

from edge.config import EdgeConfig
from edge.runtime import EdgeRuntime
from edge.store import Store
from edge.store_schema import store_migrations
from edge.users import UserExists, add_user, set_password

TEST_USER = "test-officer"
TEST_PASSWORD = "test-officer-password"


def ensure_user(store_path: Path, name: str, role: str, password: str) -> None:
    """Make `name` a user with `password` in the store at `store_path` (as `kouan user add` does)."""
    store = Store(store_path, store_migrations())
    try:
        add_user(store, name, role, password)
    except UserExists:
        set_password(store, name, password)
    finally:
        store.close()


def log_in(client: httpx.Client, name: str = TEST_USER, password: str = TEST_PASSWORD) -> httpx.Client:
    """Log `client` (whose base_url is a lane terminal) in; it then sends the session's CSRF token too."""
    response = client.post("/api/login", json={"name": name, "password": password})
    response.raise_for_status()
    client.headers["X-CSRF-Token"] = response.json()["csrf"]
    return client


def login_client(base_url: str, name: str = TEST_USER, password: str = TEST_PASSWORD,
                 timeout: float = 5.0) -> httpx.Client:
    """A new HTTP client logged in to the lane terminal at `base_url` (close it when done)."""
    return log_in(httpx.Client(base_url=base_url, timeout=timeout), name, password)


class EdgeThread:
    """Runs `EdgeRuntime` in a background thread until `stop()`."""

    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        self.runtime: EdgeRuntime | None = None
        self.client: httpx.Client | None = None  # logged in as TEST_USER once started
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="edge-under-test", daemon=True)

    def start(self, timeout: float = 15.0) -> "EdgeThread":
        ensure_user(self.config.store.path, TEST_USER, "officer", TEST_PASSWORD)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("edge runtime did not start")
        if self._error is not None:
            raise self._error
        self.client = login_client(self.url)
        return self

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            runtime = EdgeRuntime(self.config)
            try:
                await runtime.start()
            except BaseException as exc:  # surfaced to the test thread
                self._error = exc
                self._ready.set()
                await runtime.stop()
                return
            self.runtime = runtime
            self._ready.set()
            try:
                await runtime.run_forever()
            finally:
                await runtime.stop()

        asyncio.run(main())

    @property
    def url(self) -> str:
        assert self.runtime is not None and self.runtime.web_url
        return self.runtime.web_url

    def get(self, path: str) -> Any:
        """GET `path` as TEST_USER; its JSON."""
        assert self.client is not None, "the edge is not started"
        response = self.client.get(path)
        response.raise_for_status()
        return response.json()

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run `coro` on the edge's event loop (e.g. `runtime.store.call(...)`) and wait for its result."""
        assert self._loop is not None, "the edge is not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self) -> None:
        """Stop the runtime and wait for it; stopping twice is harmless."""
        if self.client is not None:
            self.client.close()
        if self.runtime is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.runtime.request_stop)
        self._thread.join(15)


class MqttListener:
    """Collects (arrival monotonic time, topic, JSON payload) from a topic filter."""

    def __init__(self, host: str, port: int, topic: str) -> None:
        self.messages: queue.Queue[tuple[float, str, Any]] = queue.Queue()
        self.seen: list[tuple[float, str, Any]] = []
        self._subscribed = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-listener-{time.time_ns()}")
        self._client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(host, port)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError(f"could not subscribe to {topic}")

    def _on_message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            payload = json.loads(message.payload)
        except ValueError:
            payload = message.payload
        self.messages.put((time.monotonic(), message.topic, payload))

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float) -> tuple[float, str, Any]:
        """The first message so far (or arriving within `timeout`) whose payload matches."""
        deadline = time.monotonic() + timeout
        while True:
            while not self.messages.empty():
                self.seen.append(self.messages.get_nowait())
            for item in self.seen:
                if predicate(item[2]):
                    return item
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching MQTT message among {len(self.seen)} received")
            try:
                self.seen.append(self.messages.get(timeout=remaining))
            except queue.Empty:
                continue

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll until `predicate()` is truthy; return its value or raise TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def lane_config(tmp: Path, mqtt_port: int, serial_link: Path, offline_after_s: float = 5.0) -> EdgeConfig:
    """A lane with one serial lock (at the stub's symlink) and one MQTT lock."""
    return EdgeConfig.model_validate({
        "lane": {"id": "lane-t", "name": "Test lane"},
        "store": {"path": str(tmp / "edge.sqlite3")},
        # a session of this test's own (stable across its restarts): the shared test broker keeps what
        # an earlier test's stubs sent to lane-t for a session of the same id, and would deliver it here
        "mqtt": {"url": f"mqtt://127.0.0.1:{mqtt_port}",
                 "client_id": f"kouan-edge-lane-t-{hashlib.sha256(str(tmp).encode()).hexdigest()[:10]}"},
        "web": {"host": "127.0.0.1", "port": 0},
        "kinds": {"smart_lock": {"offline_after_s": offline_after_s}},
        "devices": [
            {"id": "lock-s", "kind": "smart_lock", "transport": "serial", "address": str(serial_link)},
            {"id": "lock-m", "kind": "smart_lock", "transport": "mqtt"},
        ],
    })
