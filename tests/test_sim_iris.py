"""The iris reader stub over a real pty and over a real Mosquitto: captures arrive, decode to
`IrisCapture`, go through the gate and the matcher, and an ack stops the resending."""

from __future__ import annotations

import ast
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import serial

from drivers.iris import Ack, AckResult, Deframer, IrisCapture, Message, MessageType, encode_message, status_from_json
from drivers.iris.wire import ACK_CHANNEL, CAPTURE_CHANNEL, STATUS_CHANNEL, topic
from edge.kinds.iris.enrol import enrol_from_captures
from edge.kinds.iris.matching import Decision, match
from edge.kinds.iris.quality import check_quality
from firmware_stubs.iris_reader import IrisReaderBase, ReaderConfig, SerialIrisReader, parse_events
from firmware_stubs.iris_reader_mqtt import MqttIrisReader
from tests.serial_harness import wait_for


class SerialLane:
    """The edge's side of the pty: decodes, records, acks captures when `answer(message)` says so."""

    def __init__(self, path: str, answer: Callable[[Message], bool] = lambda m: True) -> None:
        self.port = serial.serial_for_url(path, timeout=0.02)
        self.deframer = Deframer()
        self.seen: list[Message] = []
        self.answer = answer
        self.seq = 0

    def pump(self, until: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, "the stub did not get there"
            for message in self.deframer.feed(self.port.read(4096)):
                self.seen.append(message)
                if message.message_type == MessageType.CAPTURE and self.answer(message):
                    self.port.write(encode_message(self.seq, Ack(MessageType.CAPTURE, message.seq, AckResult.STORED)))
                    self.seq += 1

    def captures(self) -> list[Message]:
        return [m for m in self.seen if m.message_type == MessageType.CAPTURE]


@pytest.fixture
def make_stub() -> Iterator[Callable[..., IrisReaderBase]]:
    stubs: list[IrisReaderBase] = []

    def make(events: str = "", mqtt_url: str | None = None, **overrides: object) -> IrisReaderBase:
        config = ReaderConfig(events=parse_events(events), **overrides)  # type: ignore[arg-type]
        stub = MqttIrisReader(config, mqtt_url, "lane7", "iris1") if mqtt_url else SerialIrisReader(config)
        stubs.append(stub)
        return stub

    yield make
    for stub in stubs:
        stub.stop()


def test_serial_captures_arrive_and_pass_gate_and_matcher(make_stub) -> None:
    stub = make_stub("0.1:present=CARD123/genuine,0.2:present=CARD123/genuine,0.3:present=CARD123/genuine,"
                     "0.4:present=CARD123/impostor,0.5:present=CARD999/poor", heartbeat_period_s=0.2, seed=5)
    lane = SerialLane(stub.name)
    stub.start()
    lane.pump(lambda: len(lane.captures()) >= 5 and stub.counters["acks"] == 5)
    readings = [IrisCapture.from_message(m, "iris1") for m in lane.captures()[:5]]
    assert [r.card_id for r in readings] == ["CARD123"] * 4 + ["CARD999"]
    gates = [check_quality(r.quality.as_dict()) for r in readings]
    assert [g.passed for g in gates] == [True] * 4 + [False]
    enrolment = enrol_from_captures([(r.code_bits(), r.mask_bits()) for r in readings[:2]])
    decisions = [match(r.code_bits(), r.mask_bits(), enrolment.templates).decision for r in readings[2:4]]
    assert decisions == [Decision.ACCEPT, Decision.REJECT]
    assert any(m.message_type == MessageType.STATUS for m in lane.seen)
    assert stub.counters["retransmissions"] == 0 and not stub.waiting and lane.deframer.stats.bad_bytes == 0


def test_serial_capture_is_resent_until_acked_and_then_never_again(make_stub) -> None:
    copies: list[int] = []

    def answer(message: Message) -> bool:
        copies.append(message.seq)
        return len(copies) >= 2          # ignore the first copy, ack the second

    stub = make_stub("0.1:present=CARD123/genuine", heartbeat_period_s=0.1, ack_timeout_s=0.2)
    lane = SerialLane(stub.name, answer)
    stub.start()
    lane.pump(lambda: stub.counters["acks"] == 1)
    beats = stub.counters["sent_status"]
    # 12 more heartbeats of the stub's own clock span 1.2 s: past the next resend (2T = 0.4 s) and 4T
    lane.pump(lambda: stub.counters["sent_status"] >= beats + 12)
    assert copies == [copies[0]] * 2 and len(lane.captures()) == 2
    assert stub.counters["retransmissions"] == 1 and not stub.waiting


def test_captures_made_while_silent_arrive_after_resume(make_stub) -> None:
    stub = make_stub("0.1:silent,0.2:present=CARD7/genuine,0.6:resume", heartbeat_period_s=0.1)
    lane = SerialLane(stub.name)
    stub.start()
    lane.pump(lambda: stub.counters["event_resume"] == 1 and stub.counters["acks"] == 1)
    (capture,) = lane.captures()
    at = lane.seen.index(capture)
    assert capture.body.card_id == "CARD7" and [m.seq for m in lane.seen] == list(range(len(lane.seen)))
    after = lane.seen[at + 1]    # the first heartbeat after resume still counts it as waiting
    assert after.message_type == MessageType.STATUS and after.body.pending == 1
    assert stub.counters["sent_capture"] == 1 and stub.counters["retransmissions"] == 0


class MqttLane:
    """The edge's side on the broker: captures and statuses decoded, acks published by rule."""

    def __init__(self, url_port: int, answer: Callable[[IrisCapture], bool]) -> None:
        self.captures: list[IrisCapture] = []
        self.statuses: list[object] = []
        self.answer = answer
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="kouan-edge-iris-test")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", url_port)
        self.client.subscribe([(topic("lane7", "iris1", CAPTURE_CHANNEL), 1),
                               (topic("lane7", "iris1", STATUS_CHANNEL), 1)])
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        if message.topic.endswith("/status"):
            with self.lock:
                self.statuses.append(status_from_json(message.payload, "iris1"))
            return
        reading = IrisCapture.from_json(message.payload, "iris1")
        with self.lock:
            self.captures.append(reading)
        if self.answer(reading):
            client.publish(topic("lane7", "iris1", ACK_CHANNEL), f'{{"seq": {reading.seq}, "result": "stored"}}', qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_mqtt_captures_arrive_and_an_ack_stops_the_resending(make_stub, mosquitto) -> None:
    counts: dict[int, int] = {}

    def answer(reading: IrisCapture) -> bool:
        counts[reading.seq] = counts.get(reading.seq, 0) + 1
        return reading.card_id != "CARD123" or counts[reading.seq] >= 2   # the genuine one only on its 2nd copy

    lane = MqttLane(mosquitto.port, answer)
    try:
        stub = make_stub("0.3:present=CARD123/genuine,0.4:present=CARD999/poor", mqtt_url=mosquitto.url,
                         heartbeat_period_s=0.1, ack_timeout_s=0.2)
        stub.start()
        wait_for(lambda: stub.counters["acks"] == 2, timeout=30, what="both captures acked")
        beats = stub.counters["sent_status"]
        wait_for(lambda: stub.counters["sent_status"] >= beats + 12, timeout=30, what="12 more heartbeats")
        with lane.lock:
            cards = [c.card_id for c in lane.captures]
        assert sorted(cards) == ["CARD123", "CARD123", "CARD999"]
        assert all(c.transport == "mqtt" for c in lane.captures) and lane.statuses
        assert stub.counters["retransmissions"] == 1 and not stub.waiting
        assert not check_quality(next(c for c in lane.captures if c.card_id == "CARD999").quality.as_dict()).passed
    finally:
        lane.close()


_RUN = ("import argparse, sys; from firmware_stubs import iris_reader as m; p = argparse.ArgumentParser(); "
        "m.configure(p); sys.exit(m.run(p.parse_args(sys.argv[1:])))")


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_cli_speaks_on_its_pty_and_a_signal_removes_the_link_and_prints_counters(
        tmp_path: Path, stop_signal: signal.Signals) -> None:
    link = tmp_path / "iris-cli"
    proc = subprocess.Popen([sys.executable, "-c", _RUN, "--serial", "--link", str(link), "--heartbeat-period", "0.2",
                             "--events", "0.2:present=CARD123/genuine"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline() if proc.stdout else ""
        assert first.startswith("/dev/pts/") and str(link) in first and link.is_symlink()
        lane = SerialLane(str(link))
        lane.pump(lambda: bool(lane.captures()))
        proc.send_signal(stop_signal)
        _, err = proc.communicate(timeout=30)
        lane.port.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert not link.exists() and not link.is_symlink()
    counters = ast.literal_eval(err.strip().splitlines()[-1])
    assert counters["captures"] == 1 and counters["sent_capture"] == 1


def test_bad_events_are_refused_with_the_entry_named() -> None:
    for text, expected in (("3:present=CARD1/twin", "KIND one of"), ("x:silent", "not a number"),
                           ("3:dance", "unknown action"), ("present=C/genuine", "expected SECONDS:ACTION")):
        with pytest.raises(ValueError, match=expected):
            parse_events(text)
    assert [e.action for e in parse_events("20:silent,3:present=CARD123/genuine,25:resume")] == \
        ["present", "silent", "resume"]
