"""Lock events follow the lock's own order (device time, then serial), not the order reports arrive in.

After an edge restart a JT/T 808 lock retransmits what was not acknowledged, and later sends a
blind-area batch, so older reports arrive after newer ones. The lane must still show one
"opened" and one "sealed" for one real open and seal, at the device times they happened.
Real parts: Mosquitto, the edge runtime, SQLite, HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edge.kinds.smart_lock.events import place_report
from tests.conftest import Broker
from tests.lane_harness import EdgeThread, lane_config, wait_until

BEIJING = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 30, 9, 0, 0, tzinfo=BEIJING)
TOPIC = "kouan/lane-t/lock-m/report"


def report(serial: int, seconds: int, state: str, battery: int = 90, **extra: object) -> bytes:
    body = {
        "terminal": "13912344330", "serial": serial, "lock_id": "SEAL-M1", "state": state,
        "rope_cut": False, "shell_opened": False, "battery_pct": battery, "latitude": 44.21,
        "longitude": 80.42, "time": (T0 + timedelta(seconds=seconds)).isoformat(), **extra,
    }
    return json.dumps(body).encode()


class Publisher:
    def __init__(self, broker: Broker) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="order-test-lock")
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def send(self, *payloads: bytes) -> None:
        for payload in payloads:
            self.client.publish(TOPIC, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def lock_events(edge: EdgeThread) -> list[tuple[str, str | None]]:
    rows = edge.get("/api/events?limit=1000")
    return [(e["event"], e["device_time"]) for e in sorted(rows, key=lambda e: e["id"]) if e["device_id"] == "lock-m"]


def lock_device(edge: EdgeThread) -> dict:
    return next(d for d in edge.get("/api/devices") if d["id"] == "lock-m")


def at(seconds: int) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


@pytest.fixture
def edge_and_lock(tmp_path: Path, mosquitto: Broker) -> Iterator[tuple[EdgeThread, Publisher, Path]]:
    edge = EdgeThread(lane_config(tmp_path, mosquitto.port, tmp_path / "no-serial-lock", offline_after_s=3600)).start()
    publisher = Publisher(mosquitto)
    try:
        yield edge, publisher, tmp_path
    finally:
        publisher.close()
        edge.stop()


def stored(edge: EdgeThread, unique: int, duplicates: int = 0) -> None:
    def done() -> bool:
        assert edge.runtime is not None and edge.runtime.ingest is not None
        stats = edge.runtime.ingest.stats
        return stats.stored >= unique and stats.duplicates >= duplicates

    wait_until(done, 10, what=f"{unique} reports stored and {duplicates} duplicates")


def test_reports_arriving_late_raise_each_change_once_at_its_device_time(edge_and_lock: tuple) -> None:
    edge, lock, _ = edge_and_lock
    sealed0, opened, sealed, periodic, later = (
        report(1, 0, "sealed"), report(2, 10, "opened"), report(3, 20, "sealed"), report(4, 30, "sealed"),
        report(5, 40, "sealed"),
    )
    # The same report in other bytes, as a JT/T 808 blind-area batch (0x0704) re-sends it.
    opened_again = json.dumps(json.loads(opened), indent=1).encode()
    lock.send(sealed0)
    stored(edge, 1)
    # The edge was down while the lock opened and sealed again; after it came back the lock's
    # periodic report got through first, then its retransmissions (twice), then the batch copy
    # of the opening, then a new report.
    lock.send(periodic, opened, sealed, opened, sealed, opened_again, later)
    stored(edge, 6, duplicates=2)
    assert lock_events(edge) == [("first_seen", at(0)), ("opened", at(10)), ("sealed", at(20))]
    state = lock_device(edge)["state"]
    assert state["state"] == "sealed" and state["serial"] == 5, "the lock's state is its newest report's"


def test_late_report_of_the_state_already_shown_moves_the_event_back(edge_and_lock: tuple) -> None:
    edge, lock, _ = edge_and_lock
    lock.send(report(1, 0, "sealed"), report(3, 20, "opened"))
    stored(edge, 2)
    assert lock_events(edge) == [("first_seen", at(0)), ("opened", at(20))]
    lock.send(report(2, 10, "opened"))  # the report of the opening itself, late
    stored(edge, 3)
    assert lock_events(edge) == [("first_seen", at(0)), ("opened", at(10))]
    assert lock_device(edge)["state"]["serial"] == 3


def test_restart_keeps_the_order_and_the_shown_state(edge_and_lock: tuple, mosquitto: Broker) -> None:
    edge, lock, tmp = edge_and_lock
    lock.send(report(1, 0, "sealed"), report(2, 10, "opened"), report(3, 20, "sealed"))
    stored(edge, 3)
    edge.stop()
    restarted = EdgeThread(lane_config(tmp, mosquitto.port, tmp / "no-serial-lock", offline_after_s=3600)).start()
    try:
        # before the lock says anything, the page shows what it last said
        assert lock_device(restarted)["state"]["state"] == "sealed"
        lock.send(report(2, 10, "opened"), report(4, 30, "sealed"), report(2, 10, "opened", altitude_m=1))
        stored(restarted, 2, duplicates=1)
        assert lock_events(restarted) == [("first_seen", at(0)), ("opened", at(10)), ("sealed", at(20))]
        assert lock_device(restarted)["state"]["serial"] == 4
    finally:
        restarted.stop()


def state(name: str, battery: int = 90) -> dict[str, object]:
    return {"lock_id": "L1", "state": name, "rope_cut": False, "shell_opened": False, "battery_pct": battery}


def names(events: list) -> list[str]:
    return [e.event for e in events]


def test_place_report_between_two_equal_states_raises_both_changes() -> None:
    placed = place_report(state("sealed"), state("opened"), state("sealed"), 20)
    assert names(placed.at_report) == ["opened"] and names(placed.at_next) == ["sealed"] and placed.moved == []


def test_place_report_before_everything_moves_first_seen() -> None:
    placed = place_report(None, state("sealed"), state("opened"), 20)
    assert placed.at_report == [] and names(placed.at_next) == ["opened"] and placed.moved == ["first_seen"]


def test_place_report_battery_crossing_moves_back() -> None:
    placed = place_report(state("sealed", 80), state("sealed", 18), state("sealed", 15), 20)
    assert placed.at_report == [] and placed.at_next == [] and placed.moved == ["battery_low"]


def test_place_report_third_state_between_raises_only_itself() -> None:
    placed = place_report(state("sealed"), state("tampered"), state("opened"), 20)
    assert names(placed.at_report) == ["tampered"] and placed.at_next == [] and placed.moved == []


def test_place_report_newest_is_a_plain_change() -> None:
    placed = place_report(state("sealed"), state("opened"), None, 20)
    assert names(placed.at_report) == ["opened"] and placed.at_next == [] and placed.moved == []
