"""A poison MQTT payload is refused, counted and acknowledged; it never stops MQTT intake.

Deeply nested JSON once raised RecursionError past the lock's decoder, so it was never
acknowledged; twenty of them filled Mosquitto's in-flight window and the edge's one MQTT
connection received nothing more, for every device. Real parts: Mosquitto, the edge, SQLite.
"""

from __future__ import annotations

import json
import queue
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from drivers.mqtt_transport import MqttTransport
from drivers.smart_lock import LockReading
from tests.conftest import Broker
from tests.lane_harness import EdgeThread, lane_config, wait_until

NESTED = b"[" * 100_000


def valid_report(serial: int) -> bytes:
    moment = datetime(2026, 11, 30, 9, 0, tzinfo=timezone(timedelta(hours=8))) + timedelta(seconds=serial)
    return json.dumps({
        "terminal": "13912344330", "serial": serial, "lock_id": "SEAL-M1", "state": "sealed", "rope_cut": False,
        "shell_opened": False, "battery_pct": 90, "latitude": 44.2, "longitude": 80.4, "time": moment.isoformat(),
    }).encode()


def publish(broker: Broker, topic: str, payloads: list[bytes]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="poison-test-publisher")
    client.connect(broker.host, broker.port)
    client.loop_start()
    for payload in payloads:
        client.publish(topic, payload, qos=1).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def test_nested_json_then_valid_reports_all_stored(tmp_path: Path, mosquitto: Broker) -> None:
    edge = EdgeThread(lane_config(tmp_path, mosquitto.port, tmp_path / "no-serial-lock", offline_after_s=3600)).start()
    try:
        assert edge.runtime is not None and edge.runtime.ingest is not None and edge.runtime.mqtt is not None
        wait_until(lambda: edge.runtime.mqtt.connected, 10, what="edge connected")
        publish(mosquitto, "kouan/lane-t/lock-m/report", [NESTED] * 25 + [valid_report(n) for n in range(5)])
        ingest = edge.runtime.ingest
        wait_until(lambda: ingest.stats.stored >= 5, 15, what=f"5 valid reports stored (stored {ingest.stats.stored})")
        counters = next(d for d in edge.get("/api/devices") if d["id"] == "lock-m")["counters"]
        assert counters["bad_messages"] == 25 and counters["readings"] == 5
    finally:
        edge.stop()


@pytest.mark.parametrize("payload, reason", [
    (NESTED, "100000 bytes, over the limit of 65536"),
    (b"[" * 60_000, "nested deeper than 4 levels"),
    (b'{"a": ' * 40 + b"1" + b"}" * 40, "nested deeper"),
    (b" " * (64 * 1024 + 1), "over the limit"),
])
def test_lock_decoder_bounds_depth_and_size_before_parsing(payload: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        LockReading.from_json(payload, "lock-m")


def test_brackets_inside_strings_are_not_depth() -> None:
    body = json.loads(valid_report(1))
    body["lock_id"] = "[" * 30
    assert LockReading.from_json(json.dumps(body).encode(), "lock-m").lock_id == "[" * 30


def test_a_callback_that_raises_still_acknowledges(mosquitto: Broker) -> None:
    """Whatever a receiver does, a message it failed on is acknowledged, so the window never fills."""
    got: queue.Queue[bytes] = queue.Queue()

    def receiver(_topic: str, payload: bytes, ack: Callable[[], None]) -> None:
        if payload.startswith(b"bad"):
            raise RuntimeError("receiver bug")
        got.put(payload)
        ack()

    transport = MqttTransport(mosquitto.url, client_id="poison-ack-test", availability_topic="t/poison/availability",
                              on_message=receiver, manual_ack=True)
    transport.subscribe("t/poison/report", qos=1)
    transport.start()
    try:
        assert transport.wait_connected(10)
        wait_until(lambda: transport.stats().connects >= 1, 5, what="subscribed")
        publish(mosquitto, "t/poison/report", [b"bad %d" % n for n in range(40)] + [b"good"])
        assert got.get(timeout=10) == b"good"
        assert transport.stats().callback_errors == 40
    finally:
        transport.stop()
