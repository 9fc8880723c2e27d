"""The lock stub on MQTT against a real Mosquitto: retained availability, JSON reports, state change."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
import pytest

from drivers.smart_lock import LockReading, LockState
from firmware_stubs.lock_events import parse_events
from firmware_stubs.smart_lock import LockConfig
from firmware_stubs.smart_lock_mqtt import MqttSmartLock, parse_mqtt_url


class Listener:
    """A paho 2 subscriber collecting (topic, payload, retain) from kouan/<lane>/#."""

    def __init__(self, host: str, port: int, pattern: str) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, u, f, rc, p: (c.subscribe(pattern, qos=1), None)[1]
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.ready.set()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload, m.retain))
        self.client.connect(host, port)
        self.client.loop_start()
        assert self.ready.wait(5), "subscription not acknowledged"

    def wait(self, predicate, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_mqtt_lock_reports_and_availability(mosquitto) -> None:
    listener = Listener(mosquitto.host, mosquitto.port, "kouan/lane9/#")
    stub = MqttSmartLock(LockConfig(terminal="013800138009", lock_id="KL-M1", report_period_s=0.3,
                                    events=parse_events("0.8:tamper,1.2:battery=5")),
                         mosquitto.url, "lane9", "lock9")
    stub.start()
    try:
        def readings() -> list[LockReading]:
            return [LockReading.from_json(p, "lock9") for t, p, _ in listener.messages
                    if t == "kouan/lane9/lock9/report"]

        assert listener.wait(lambda: any(r.battery_pct == 5 for r in readings()))
        got = readings()
        assert got[0].state is LockState.SEALED and got[0].terminal == "013800138009"
        tampered = [r for r in got if r.state is LockState.TAMPERED]
        assert tampered and tampered[0].rope_cut and tampered[-1].alarm & 0x80   # low battery -> bit 7
        assert [r.serial for r in got] == list(range(len(got)))
        assert ("kouan/lane9/lock9/availability", b"online") in [(t, p) for t, p, _ in listener.messages]
    finally:
        stub.stop()
    assert listener.wait(lambda: ("kouan/lane9/lock9/availability", b"offline")
                         in [(t, p) for t, p, _ in listener.messages])
    listener.close()
    late = Listener(mosquitto.host, mosquitto.port, "kouan/lane9/lock9/availability")   # retained for newcomers
    assert late.wait(lambda: late.messages == [("kouan/lane9/lock9/availability", b"offline", True)])
    late.close()


def test_mqtt_lock_plays_successive_locks(mosquitto) -> None:
    # silent from the start, then one truck's lock opened and sealed again, then the next truck's lock
    listener = Listener(mosquitto.host, mosquitto.port, "kouan/lane8/#")
    script = "0:silent,0.5:lock=SEAL-0101,0.5:resume,0.9:opened,1.3:sealed,1.7:lock=SEAL-0102"
    stub = MqttSmartLock(LockConfig(terminal="013800138008", lock_id="KL-IDLE", report_period_s=100.0,
                                    events=parse_events(script)), mosquitto.url, "lane8", "lock8")
    stub.start()
    try:
        def seen() -> list[tuple[str, LockState]]:
            return [(r.lock_id, r.state) for r in (LockReading.from_json(p, "lock8") for t, p, _ in listener.messages
                                                  if t == "kouan/lane8/lock8/report")]

        assert listener.wait(lambda: ("SEAL-0102", LockState.SEALED) in seen())
        assert seen() == [("SEAL-0101", LockState.SEALED), ("SEAL-0101", LockState.OPENED),
                          ("SEAL-0101", LockState.SEALED), ("SEAL-0102", LockState.SEALED)]   # never KL-IDLE
    finally:
        stub.stop()
        listener.close()


def test_mqtt_url_parsing() -> None:
    assert parse_mqtt_url("mqtt://broker.lan:1884") == ("broker.lan", 1884)
    assert parse_mqtt_url("127.0.0.1") == ("127.0.0.1", 1883)
    with pytest.raises(ValueError, match="mqtt://host"):
        parse_mqtt_url("http://x:1")
