"""A message a serial kind cannot handle is counted (`handle_errors`) and logged, and the next
message is still handled: one bad message never stops the reader nor goes unseen."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from edge.device_status import DeviceStatus
from edge.kinds.base import DeviceContext
from edge.kinds.framed_serial import FramedSerialDevice


@dataclass
class LineStats:
    bytes_in: int = 0
    frames: int = 0
    bad_bytes: int = 0
    bad_frames: Counter[str] = field(default_factory=Counter)

    @property
    def bad_frame_total(self) -> int:
        return self.bad_frames.total()


@dataclass
class LineDeframer:
    """Messages are lines; nothing is ever a bad frame."""

    stats: LineStats = field(default_factory=LineStats)
    buffer: bytes = b""

    def feed(self, data: bytes) -> list[bytes]:
        self.stats.bytes_in += len(data)
        *lines, self.buffer = (self.buffer + data).split(b"\n")
        self.stats.frames += len(lines)
        return lines

    def flush(self) -> None:
        self.buffer = b""


class Lines(FramedSerialDevice):
    def __init__(self, ctx: DeviceContext) -> None:
        self.handled: list[bytes] = []
        super().__init__(ctx, lambda _hook: LineDeframer(), (), (), "test", logging.getLogger(__name__))

    def _handle(self, message: Any) -> None:
        if message == b"boom":
            raise ValueError("a field we did not expect")
        self.handled.append(message)


def _make() -> Lines:
    config = SimpleNamespace(id="dev1", address="/dev/null", baudrate=9600)
    status = DeviceStatus("dev1", "test", "serial", "/dev/null", "", 60.0)
    ctx = DeviceContext(config, None, "l1", status, None, None, lambda _: None)  # type: ignore[arg-type]
    return Lines(ctx)


def test_a_message_that_cannot_be_handled_is_counted_logged_and_the_next_handled(
        caplog: pytest.LogCaptureFixture) -> None:
    device = _make()
    with caplog.at_level(logging.ERROR):
        device._on_data(b"one\nboom\ntwo\n")
    assert device.handled == [b"one", b"two"]
    assert device.status.counters["handle_errors"] == 1 and device.status.counters["frames"] == 3
    assert "cannot handle message" in caplog.text and "a field we did not expect" in caplog.text
