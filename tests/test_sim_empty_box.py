"""The empty-box stub end to end: Modbus registers over a real pty, images over a real Mosquitto, tied by sequence."""

from __future__ import annotations

import ast
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest

from drivers.backoff import Backoff
from drivers.empty_box import (
    BLOCKS, HOLDING_BLOCK, INPUT_BLOCK, EmptyBoxImage, EmptyBoxReading, ImageKind, Verdict, decode_image_message,
    image_topic,
)
from drivers.modbus_rtu import ModbusRtuPoller, Poll
from firmware_stubs.empty_box import DetectorConfig, EmptyBoxStub, parse_events
from tests.conftest import Broker
from tests.serial_harness import wait_for

CLI = ("import argparse, sys\nfrom firmware_stubs import empty_box_cli\n"
       "p = argparse.ArgumentParser(); empty_box_cli.configure(p)\nsys.exit(empty_box_cli.run(p.parse_args()))")


class Lane:
    """The edge's side, made of the drivers only: a poller on the pty and an MQTT subscriber for images."""

    def __init__(self, broker: Broker, port: str, lane: str, device: str) -> None:
        self.lock = threading.Lock()
        self.readings: list[EmptyBoxReading] = []
        self.images: list[EmptyBoxImage] = []
        self.refused: list[str] = []
        self.device = device
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"edge-{lane}-{device}")
        self.subscribed = threading.Event()
        topic = image_topic(lane, device)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self.subscribed.wait(10), "no SUBACK"
        self.poller = ModbusRtuPoller(port, BLOCKS, self._on_poll, period_s=0.05, timeout_s=0.2,
                                      backoff=Backoff(initial=0.05, maximum=0.2))
        self.poller.start()

    def _on_poll(self, poll: Poll) -> None:
        reading = EmptyBoxReading.from_registers(poll.of(INPUT_BLOCK), self.device, poll.of(HOLDING_BLOCK))
        with self.lock:
            self.readings.append(reading)

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        try:
            image = decode_image_message(message.payload, self.device)
        except ValueError as exc:
            with self.lock:
                self.refused.append(str(exc))
            return
        with self.lock:
            self.images.append(image)

    def results(self) -> dict[int, EmptyBoxReading]:
        with self.lock:
            return {r.sequence: r for r in self.readings if r.result_ready}

    def image(self, sequence: int) -> EmptyBoxImage | None:
        with self.lock:
            return next((i for i in self.images if i.meta.sequence == sequence), None)

    def close(self) -> None:
        self.poller.stop()
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def lane_parts() -> Iterator[list[object]]:
    parts: list[object] = []
    yield parts
    for part in reversed(parts):
        part.stop() if isinstance(part, EmptyBoxStub) else part.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["camera", "transmission"])
def test_a_scan_registers_and_its_image_are_tied_by_sequence(mosquitto: Broker, lane_parts: list[object],
                                                             kind: str) -> None:
    events = "0.4:truck=CSQU3054383/empty,1.4:truck=MSKU1234565/full/declared=empty"
    stub = EmptyBoxStub(DetectorConfig(lane="l9", device=f"eb-{kind}", image_kind=kind, startup_s=0.2,
                                       trigger_s=0.1, scan_s=0.2, events=parse_events(events)),
                        mqtt_url=mosquitto.url)
    lane = Lane(mosquitto, stub.name, "l9", f"eb-{kind}")
    lane_parts.extend([stub, lane])
    stub.start()
    wait_for(lambda: {1, 2} <= set(lane.results()) and lane.image(1) is not None and lane.image(2) is not None,
             30, "two scans with their images")
    first, second = lane.results()[1], lane.results()[2]
    assert (first.container, first.declared_empty, first.verdict) == ("CSQU3054383", True, Verdict.EMPTY)
    assert (second.container, second.declared_empty, second.verdict) == ("MSKU1234565", True, Verdict.NOT_EMPTY)
    assert first.container_check_ok and second.confidence == 0.99
    expected = ImageKind.CAMERA_8BIT if kind == "camera" else ImageKind.TRANSMISSION_16BIT
    for reading in (first, second):
        image = lane.image(reading.sequence)
        assert image is not None and image.meta.container == reading.container
        assert reading.image is expected and image.meta.kind == kind
        assert image.image.dtype == (np.uint8 if kind == "camera" else np.uint16)
        assert image.meta.time == reading.scan_time
    empty, full = lane.image(1).image, lane.image(2).image        # type: ignore[union-attr]
    assert not np.array_equal(empty, full) and not lane.refused
    assert stub.counters["images_published"] == 2


def test_fault_aborts_nothing_published_and_restart_starts_over(mosquitto: Broker, lane_parts: list[object]) -> None:
    events = "0.3:truck=CSQU3054383/empty,0.35:error=4,1.0:truck=MSKU1234565/full,1.2:clear,1.5:restart"
    stub = EmptyBoxStub(DetectorConfig(lane="l8", device="eb2", startup_s=0.2, trigger_s=0.2, scan_s=0.2,
                                       events=parse_events(events)), mqtt_url=mosquitto.url)
    lane = Lane(mosquitto, stub.name, "l8", "eb2")
    lane_parts.extend([stub, lane])
    stub.start()
    wait_for(lambda: stub.counters["event_restart"] == 1 and lane.readings and lane.readings[-1].uptime_s == 0
             and lane.readings[-1].sequence == 0, 30, "the restarted device")
    with lane.lock:
        seen = list(lane.readings)
    assert any(r.error == "safety interlock open" and r.status.name == "FAULT" for r in seen)
    assert not lane.results() and not lane.images                     # the scan was lost, the next refused
    assert stub.counters["scans_refused"] == 1 and lane.readings[-1].status.name in ("STARTING", "READY")


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_cli_serves_on_its_link_and_a_signal_removes_it_and_prints_counters(
        mosquitto: Broker, tmp_path: Path, stop_signal: signal.Signals) -> None:
    link = tmp_path / "ebox-cli"
    proc = subprocess.Popen([sys.executable, "-c", CLI, "--serial", "--link", str(link), "--mqtt", mosquitto.url,
                             "--lane", "l7", "--device", "eb3", "--startup", "0.1", "--events",
                             "0.2:truck=CSQU3054383/empty"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[Poll] = []
    poller = ModbusRtuPoller(str(link), BLOCKS, seen.append, period_s=0.05, timeout_s=0.2,
                             backoff=Backoff(initial=0.05, maximum=0.2))
    try:
        first_line = proc.stdout.readline() if proc.stdout else ""
        assert first_line.startswith("/dev/pts/") and str(link) in first_line and "unit 1, 19200 8E1" in first_line
        poller.start()
        wait_for(lambda: any(EmptyBoxReading.from_registers(p.of(INPUT_BLOCK), "eb3").result_ready for p in seen),
                 30, "the CLI stub's scan")
        poller.stop()
        proc.send_signal(stop_signal)
        _, err = proc.communicate(timeout=30)
    finally:
        poller.stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    assert not link.is_symlink() and not link.exists()
    counters = ast.literal_eval(err.strip().splitlines()[-1])
    assert counters["scans"] == 1 and counters["answers"] >= 1, err


def test_cli_refuses_a_bad_event_script() -> None:
    result = subprocess.run([sys.executable, "-c", CLI, "--serial", "--events", "3:truck=NOPE/empty"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "expected truck=NUMBER/empty|full|unknown" in result.stderr
