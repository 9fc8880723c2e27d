"""An outage of the site broker is logged once, with its reason, not once per reconnect attempt."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from drivers.mqtt_transport import MqttTransport
from tests.lane_harness import wait_until
from tests.restartable_broker import RestartableBroker


def transport_for(broker: RestartableBroker, name: str) -> MqttTransport:
    transport = MqttTransport(broker.url, client_id=name, availability_topic=f"t/{name}/availability",
                              on_message=lambda *_: None, reconnect_min_s=0.2, reconnect_max_s=0.5)
    transport.subscribe(f"t/{name}/in", qos=1)
    transport.start()
    assert transport.wait_connected(10)
    return transport


def loud(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("drivers.mqtt_transport") and r.levelno >= logging.WARNING]


def test_one_warning_per_outage_and_no_errors(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broker = RestartableBroker(tmp_path, persistence=True).start()
    transport = transport_for(broker, "outage-log")
    try:
        broker.wait_saved()  # with the session in it, so the restart keeps it
        caplog.clear()
        broker.kill()
        wait_until(lambda: transport.stats().connect_failures >= 5, 15, what="several failed reconnects")
        broker.start()
        assert transport.wait_connected(15)
        records = loud(caplog)
        assert [r.levelname for r in records] == ["WARNING"], [r.getMessage() for r in records]
        assert "disconnected" in records[0].getMessage()
    finally:
        transport.stop()
        broker.stop()


def test_a_broker_that_lost_the_session_is_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broker = RestartableBroker(tmp_path, persistence=False).start()
    transport = transport_for(broker, "lost-session")
    try:
        caplog.clear()
        broker.kill()
        wait_until(lambda: not transport.connected, 10, what="disconnect noticed")
        broker.start()
        assert transport.wait_connected(15)
        wait_until(lambda: len(loud(caplog)) >= 2, 5, what="the lost session reported")
        messages = [r.getMessage() for r in loud(caplog)]
        assert len(messages) == 2 and "has no session" in messages[1], messages
    finally:
        transport.stop()
        broker.stop()
