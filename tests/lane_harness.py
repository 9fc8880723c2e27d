"""Test harness: an edge runtime on its own event loop thread, and an MQTT listener.

Used by the end-to-end lane tests and the browser test; everything is real (Mosquitto, ptys,
HTTP, SQLite).
"""

from __future__ import annotations

import asyncio
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


class EdgeThread:
    """Runs `EdgeRuntime` in a background thread until `stop()`."""

    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        self.runtime: EdgeRuntime | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="edge-under-test", daemon=True)

    def start(self, timeout: float = 15.0) -> "EdgeThread":
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("edge runtime did not start")
        if self._error is not None:
            raise self._error
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
        response = httpx.get(self.url.rstrip("/") + path, timeout=5)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        """Stop the runtime and wait for it; stopping twice is harmless."""
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
        "mqtt": {"url": f"mqtt://127.0.0.1:{mqtt_port}"},
        "web": {"host": "127.0.0.1", "port": 0},
        "kinds": {"smart_lock": {"offline_after_s": offline_after_s}},
        "devices": [
            {"id": "lock-s", "kind": "smart_lock", "transport": "serial", "address": str(serial_link)},
            {"id": "lock-m", "kind": "smart_lock", "transport": "mqtt"},
        ],
    })
