"""A lane end to end: lock stubs on a pty and on MQTT, the edge, its page API and MQTT events.

Real parts only: Mosquitto on a free port, a pty the stub creates (opened by the edge with
pyserial through a symlink), HTTP to the lane terminal, SQLite on disk.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_stubs.lock_events import parse_events
from firmware_stubs.smart_lock import LockConfig, SerialSmartLock
from firmware_stubs.smart_lock_mqtt import MqttSmartLock
from tests.conftest import Broker
from tests.lane_harness import EdgeThread, MqttListener, lane_config, wait_until

TAMPER_AT_S = 3.0


def serial_lock(link: Path, events: str = "") -> SerialSmartLock:
    config = LockConfig(terminal="13912344329", lock_id="SEAL-S1", report_period_s=1.0, heartbeat_period_s=1.0,
                        response_timeout_s=1.0, events=parse_events(events))
    stub = SerialSmartLock(config, link=link)
    stub.start()
    return stub


def device(edge: EdgeThread, device_id: str) -> dict:
    return next(d for d in edge.get("/api/devices") if d["id"] == device_id)


@pytest.fixture
def lane(tmp_path: Path, mosquitto: Broker) -> Iterator[dict]:
    link = tmp_path / "lock-s.tty"
    listener = MqttListener(mosquitto.host, mosquitto.port, "kouan/lane-t/events/lock")
    started = time.monotonic()
    s_stub = serial_lock(link, f"{TAMPER_AT_S}:tamper")
    m_stub = MqttSmartLock(
        LockConfig(terminal="13912344330", lock_id="SEAL-M1", report_period_s=1.0, events=parse_events(f"{TAMPER_AT_S}:opened")),
        mosquitto.url, "lane-t", "lock-m",
    )
    m_stub.start()
    edge = EdgeThread(lane_config(tmp_path, mosquitto.port, link)).start()
    parts = {"edge": edge, "serial": s_stub, "mqtt": m_stub, "listener": listener, "started": started, "link": link}
    try:
        yield parts
    finally:
        edge.stop()
        parts["serial"].stop()  # a test may have replaced it with a restarted lock
        m_stub.stop()
        listener.close()


def test_both_locks_online_and_their_events_reach_mqtt_and_the_page(lane: dict) -> None:
    edge: EdgeThread = lane["edge"]
    try:
        wait_until(lambda: device(edge, "lock-s")["online"] and device(edge, "lock-m")["online"], 10, what="both locks online")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}: devices {edge.get('/api/devices')}, serial stub {dict(lane['serial'].counters)}") from None
    retransmissions_when_online = lane["serial"].counters["retransmissions"]
    listener: MqttListener = lane["listener"]
    scheduled = lane["started"] + TAMPER_AT_S  # the stubs started after this, so latency is over-estimated
    # Waits, not wall-clock asserts: how fast an event travels is not a unit test's business.
    arrived, _, tamper = listener.wait_for(lambda p: p.get("event") == "tampered" and p.get("device_id") == "lock-s", 30)
    assert tamper["subject"] == "SEAL-S1" and tamper["kind"] == "smart_lock" and tamper["lane"] == "lane-t" and tamper["device_time"]
    arrived_m, _, opened = listener.wait_for(lambda p: p.get("event") == "opened" and p.get("device_id") == "lock-m", 30)
    assert opened["subject"] == "SEAL-M1" and opened["device_time"]
    print(f"tamper on MQTT {arrived - scheduled:.3f} s, open {arrived_m - scheduled:.3f} s after scheduled (upper bounds)")
    events = edge.get("/api/events")
    assert {(e["device_id"], e["event"]) for e in events} >= {("lock-s", "tampered"), ("lock-m", "opened")}
    assert device(edge, "lock-s")["state"]["state"] == "tampered"
    # once online, the edge acknowledged every report, so the lock retransmitted none
    assert lane["serial"].counters["acks"] >= 3
    assert lane["serial"].counters["retransmissions"] == retransmissions_when_online


def test_serial_lock_restart_reconnects_without_help(lane: dict) -> None:
    edge: EdgeThread = lane["edge"]
    wait_until(lambda: device(edge, "lock-s")["online"], 10, what="serial lock online")
    lane["serial"].stop()  # closes the pty: the port vanishes under the edge
    down = wait_until(lambda: (d := device(edge, "lock-s")) and not d["connected"] and d, 10, what="disconnect noticed")
    assert down["last_error"], "a disconnect must say why"
    stored_before = edge.runtime.ingest.stats.stored
    lane["serial"] = serial_lock(lane["link"])  # a new pty behind the same symlink
    wait_until(lambda: device(edge, "lock-s")["connected"], 15, what="reconnect")
    wait_until(lambda: edge.runtime.ingest.stats.stored > stored_before + 1, 10, what="readings after reconnect")
    assert device(edge, "lock-s")["online"]


def test_bad_mqtt_report_is_refused_and_counted(lane: dict, mosquitto: Broker) -> None:
    import paho.mqtt.client as mqtt

    edge: EdgeThread = lane["edge"]
    wait_until(lambda: device(edge, "lock-m")["online"], 10, what="mqtt lock online")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    client.publish("kouan/lane-t/lock-m/report", b'{"terminal": "1", "state": "melted"}', qos=1).wait_for_publish(5)
    client.publish("kouan/lane-t/lock-m/report", b"\xff\x00 not json", qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()
    wait_until(lambda: device(edge, "lock-m")["counters"]["bad_messages"] >= 2, 5, what="bad reports counted")
    assert device(edge, "lock-m")["online"]  # the service goes on
