"""manual_ack: a QoS 1 message the receiver never acknowledged comes back after a restart."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from drivers.mqtt_transport import MqttTransport
from tests.conftest import Broker


def _publish(broker: Broker, topic: str, payload: bytes) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect(broker.host, broker.port)
    client.loop_start()
    client.publish(topic, payload, qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def _receiver(broker: Broker, got: "queue.Queue[tuple[bytes, Callable[[], None]]]") -> MqttTransport:
    transport = MqttTransport(
        broker.url, client_id="ack-test-edge", availability_topic="t/ack/availability",
        on_message=lambda _topic, payload, ack: got.put((payload, ack)), manual_ack=True,
    )
    transport.subscribe("t/ack/report", qos=1)
    transport.start()
    assert transport.wait_connected(10)
    return transport


def test_unacknowledged_message_is_redelivered_after_restart(mosquitto: Broker) -> None:
    got: queue.Queue[tuple[bytes, Callable[[], None]]] = queue.Queue()
    first = _receiver(mosquitto, got)
    time.sleep(0.3)  # let the subscription settle
    _publish(mosquitto, "t/ack/report", b"report-1")
    payload, _ack = got.get(timeout=5)
    assert payload == b"report-1"
    first.stop()  # "crashed" before storing: never acknowledged

    second = _receiver(mosquitto, got)
    try:
        payload, ack = got.get(timeout=10)
        assert payload == b"report-1", "the broker must deliver the unacknowledged report again"
        ack()
    finally:
        second.stop()

    third = _receiver(mosquitto, got)
    try:
        time.sleep(1.0)
        assert got.empty(), "an acknowledged report must not come back"
    finally:
        third.stop()
