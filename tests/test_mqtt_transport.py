"""MqttTransport against real Mosquitto brokers: the session `mosquitto` fixture, brokers the
tests start, stop and restart themselves, and a TCP proxy that cuts the link uncleanly."""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from drivers.mqtt_transport import MqttTransport, parse_mqtt_url
from tests.conftest import Broker, _wait_listening, free_port

FAST = {"reconnect_min_s": 0.1, "reconnect_max_s": 0.5, "keepalive": 5}


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Inbox:
    """Collects what the transport's callbacks receive (on paho's thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[tuple[str, bytes]] = []
        self.states: list[tuple[bool, str]] = []

    def on_message(self, topic: str, payload: bytes) -> None:
        with self.lock:
            self.messages.append((topic, payload))

    def on_state(self, connected: bool, reason: str) -> None:
        with self.lock:
            self.states.append((connected, reason))


class Observer:
    """An independent plain paho client that subscribes to one filter and records what arrives."""

    def __init__(self, host: str, port: int, topic_filter: str) -> None:
        self.received: list[tuple[str, bytes, bool]] = []
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, *_: c.subscribe(topic_filter, 1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, m.payload, bool(m.retain)))
        self.client.connect(host, port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "observer did not subscribe"

    def payloads(self) -> list[bytes]:
        return [payload for _topic, payload, _retain in list(self.received)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained_now(host: str, port: int, topic: str) -> bytes:
    """What a fresh subscriber gets as the retained message on `topic` (fails if none)."""
    obs = Observer(host, port, topic)
    try:
        wait_for(lambda: bool(obs.received), 5, f"retained message on {topic}")
        _topic, payload, retain = obs.received[0]
        assert retain, "expected the retained copy"
        return payload
    finally:
        obs.close()


class OwnBroker:
    """A Mosquitto this test controls: stop it, start it again on the same port, configure it."""

    def __init__(self, workdir: Path, extra_conf: str = "allow_anonymous true\n") -> None:
        self.port = free_port()
        self.conf = workdir / f"mosquitto-{self.port}.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\npersistence false\n{extra_conf}", encoding="utf-8")
        self.log = workdir / f"mosquitto-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([exe, "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT)
        _wait_listening("127.0.0.1", self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"


class CuttableProxy:
    """A TCP forwarder in front of the broker; `cut()` kills the connections with a reset
    (no MQTT DISCONNECT, so the broker publishes the Last Will) and refuses new ones until `resume()`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.refusing = False
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.refusing:
                self._reset(client)
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @staticmethod
    def _reset(sock: socket.socket) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()

    def cut(self) -> None:
        self.refusing = True
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._reset(sock)

    def resume(self) -> None:
        self.refusing = False

    def close(self) -> None:
        self.cut()
        self.server.close()


@pytest.fixture
def proxy(mosquitto: Broker) -> Iterator[CuttableProxy]:
    p = CuttableProxy(mosquitto.port)
    yield p
    p.close()


def make_transport(url: str, name: str, inbox: Inbox, **kwargs: Any) -> MqttTransport:
    options: dict[str, Any] = {**FAST, **kwargs}
    return MqttTransport(url, name, f"kouan/test/{name}/availability", inbox.on_message, inbox.on_state, **options)


def test_subscribe_receive_and_publish(mosquitto: Broker) -> None:
    inbox = Inbox()
    transport = make_transport(mosquitto.url, "sub-recv", inbox)
    transport.subscribe("kouan/lane1/+/events")
    transport.start()
    observer = Observer(mosquitto.host, mosquitto.port, "kouan/lane1/passages/#")
    try:
        assert transport.wait_connected(10)
        wait_for(lambda: transport.stats().connects == 1)
        time.sleep(0.2)  # the SUBACK for the subscription made in on_connect
        sender = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        sender.connect(mosquitto.host, mosquitto.port)
        sender.loop_start()
        for i in range(5):
            sender.publish(f"kouan/lane1/lock{i % 2}/events", f"event {i}".encode(), qos=1).wait_for_publish(5)
        sender.publish("kouan/lane1/lock0/other", b"not for us", qos=1).wait_for_publish(5)
        sender.disconnect()
        sender.loop_stop()
        wait_for(lambda: len(inbox.messages) == 5, what="5 messages")
        assert inbox.messages == [(f"kouan/lane1/lock{i % 2}/events", f"event {i}".encode()) for i in range(5)]

        assert transport.publish("kouan/lane1/passages/p1", '{"state": "open"}') is True
        wait_for(lambda: observer.payloads() == [b'{"state": "open"}'], what="published message")
        wait_for(lambda: transport.stats().messages_acked >= 1, what="PUBACK")
        stats = transport.stats()
        assert stats.messages_in == 5 and stats.messages_out == 1 and stats.buffered == 0 and stats.dropped == 0
        assert inbox.states == [(True, "connected (new session)")]
        with pytest.raises(ValueError):
            transport.publish("kouan/lane1/+/bad", b"x")
    finally:
        observer.close()
        transport.stop()


def test_availability_online_then_last_will_offline_after_an_unclean_drop(mosquitto: Broker, proxy: CuttableProxy) -> None:
    inbox = Inbox()
    transport = make_transport(proxy.url, "lwt", inbox)
    topic = transport.availability_topic
    transport.start()
    try:
        assert transport.wait_connected(10)
        wait_for(lambda: _retained_or_none(mosquitto, topic) == b"online", what="retained online")

        proxy.cut()  # TCP reset, no DISCONNECT packet: the broker must publish the will
        wait_for(lambda: not transport.connected, what="transport noticing the drop")
        wait_for(lambda: _retained_or_none(mosquitto, topic) == b"offline", what="retained Last Will offline")
        assert inbox.states[-1][0] is False and inbox.states[-1][1].startswith("disconnected")

        proxy.resume()
        wait_for(lambda: transport.connected, what="reconnect")
        wait_for(lambda: _retained_or_none(mosquitto, topic) == b"online", what="online again")
        assert transport.stats().connects == 2
        assert [s[0] for s in inbox.states] == [True, False, True]
        assert inbox.states[-1][1] == "connected (session resumed)"
    finally:
        transport.stop()
    assert retained_now(mosquitto.host, mosquitto.port, topic) == b"offline"  # a clean stop says so too


def _retained_or_none(broker: Broker, topic: str) -> bytes | None:
    try:
        return retained_now(broker.host, broker.port, topic)
    except AssertionError:
        return None


def test_connect_to_a_port_nothing_listens_on_is_reported_not_connected() -> None:
    inbox = Inbox()
    transport = make_transport(f"mqtt://127.0.0.1:{free_port()}", "nobody", inbox)
    transport.start()
    try:
        wait_for(lambda: transport.stats().connect_failures >= 2, what="failed attempts")
        stats = transport.stats()
        assert not stats.connected and stats.connects == 0
        assert "failed" in stats.last_reason and "refused" in stats.last_reason.lower()
        assert len(inbox.states) == 1 and inbox.states[0][0] is False
        assert "Connection refused" in inbox.states[0][1]
    finally:
        transport.stop()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_broker_that_refuses_is_reported_with_its_reason_code(tmp_path: Path, protocol: str) -> None:
    broker = OwnBroker(tmp_path, "allow_anonymous false\n")
    broker.start()
    inbox = Inbox()
    transport = make_transport(broker.url, f"refused-{protocol}", inbox, protocol=protocol)
    transport.start()
    try:
        wait_for(lambda: transport.stats().connect_failures >= 1, what="a refusal")
        time.sleep(0.3)
        stats = transport.stats()
        assert not stats.connected and stats.connects == 0
        assert "refused by broker" in stats.last_reason and "authorized" in stats.last_reason.lower()
        assert inbox.states and all(not connected for connected, _ in inbox.states)
        assert "authorized" in inbox.states[0][1].lower()
        assert transport.publish("kouan/x/y", b"kept") is False  # buffered, not lost
        assert transport.stats().buffered == 1
    finally:
        transport.stop()
        broker.stop()
    # stopping with a message still waiting, and publishing after stop, are counted, not silent
    assert transport.stats().dropped == 1 and transport.stats().buffered == 0
    assert transport.publish("kouan/x/y", b"late") is False
    assert transport.stats().dropped == 2


def test_resubscribes_after_the_broker_restarts_without_its_sessions(tmp_path: Path) -> None:
    broker = OwnBroker(tmp_path)  # persistence false: a restart forgets sessions and subscriptions
    broker.start()
    inbox = Inbox()
    transport = make_transport(broker.url, "resub", inbox)
    transport.subscribe("kouan/lane2/+/events")
    transport.start()
    try:
        assert transport.wait_connected(10)
        broker.stop()
        wait_for(lambda: not transport.connected, what="disconnect")
        broker.start()
        wait_for(lambda: transport.stats().connects == 2, 15, what="reconnect")
        assert inbox.states[-1] == (True, "connected (new session)")  # the broker really forgot us
        time.sleep(0.3)  # SUBACK
        sender = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        sender.connect("127.0.0.1", broker.port)
        sender.loop_start()
        sender.publish("kouan/lane2/lock7/events", b"after restart", qos=1).wait_for_publish(5)
        sender.disconnect()
        sender.loop_stop()
        wait_for(lambda: inbox.messages == [("kouan/lane2/lock7/events", b"after restart")], what="message after restart")
        assert retained_now("127.0.0.1", broker.port, transport.availability_topic) == b"online"
    finally:
        transport.stop()
        broker.stop()


def test_messages_published_while_disconnected_arrive_in_order_after_reconnect(
    mosquitto: Broker, proxy: CuttableProxy
) -> None:
    inbox = Inbox()
    transport = make_transport(proxy.url, "buffered", inbox)
    observer = Observer(mosquitto.host, mosquitto.port, "kouan/lane3/#")
    transport.start()
    try:
        assert transport.wait_connected(10)
        assert transport.publish("kouan/lane3/lock1/events", b"m-before") is True
        wait_for(lambda: observer.payloads() == [b"m-before"], what="first message")
        proxy.cut()
        wait_for(lambda: not transport.connected, what="disconnect")
        results = [transport.publish("kouan/lane3/lock1/events", f"m{i:03d}".encode()) for i in range(50)]
        assert results == [False] * 50
        assert transport.stats().buffered == 50
        time.sleep(0.3)
        assert observer.payloads() == [b"m-before"]  # nothing leaked past the cut

        proxy.resume()
        expected = [b"m-before"] + [f"m{i:03d}".encode() for i in range(50)]
        wait_for(lambda: observer.payloads() == expected, what="all buffered messages in order")
        stats = transport.stats()
        assert stats.buffered == 0 and stats.dropped == 0 and stats.messages_out == 51
    finally:
        observer.close()
        transport.stop()


def test_a_full_buffer_drops_the_oldest_and_counts_it(mosquitto: Broker, proxy: CuttableProxy) -> None:
    inbox = Inbox()
    transport = make_transport(proxy.url, "bounded", inbox, buffer_limit=10)
    observer = Observer(mosquitto.host, mosquitto.port, "kouan/lane4/#")
    transport.start()
    try:
        assert transport.wait_connected(10)
        proxy.cut()
        wait_for(lambda: not transport.connected, what="disconnect")
        for i in range(15):
            transport.publish("kouan/lane4/lock1/events", f"m{i:02d}".encode())
        stats = transport.stats()
        assert stats.buffered == 10 and stats.dropped == 5
        proxy.resume()
        expected = [f"m{i:02d}".encode() for i in range(5, 15)]
        wait_for(lambda: observer.payloads() == expected, what="the 10 newest messages")
    finally:
        observer.close()
        transport.stop()


def test_url_parsing() -> None:
    url = parse_mqtt_url("mqtt://lane%40port:s3cr%3At@broker.local:1884")
    assert (url.host, url.port, url.username, url.password) == ("broker.local", 1884, "lane@port", "s3cr:t")
    assert parse_mqtt_url("mqtt://10.0.0.5").port == 1883
    for bad in ("tcp://host:1883", "mqtt://", "mqtt://host:notaport"):
        with pytest.raises(ValueError):
            parse_mqtt_url(bad)
    with pytest.raises(ValueError):
        MqttTransport("mqtt://h", "", "a/b", lambda _t, _p: None)
