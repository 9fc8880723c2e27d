"""A serial lock's byte and frame counters against a real edge: a pty, Mosquitto, HTTP /metrics.

The counters must be the deframer's own accounting (every byte that was not in a valid frame and
was not a delimiter is a bad byte), summed over reconnects.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

from drivers.jt808 import HEARTBEAT, Deframer, Header, Heartbeat, Reason, encode_frame
from tests.conftest import Broker
from tests.lane_harness import EdgeThread, lane_config, wait_until
from tests.serial_harness import PtyDevice

DEVICE = "lock-s"


def heartbeat(serial: int) -> bytes:
    return encode_frame(Header(HEARTBEAT, "013800138000", serial), Heartbeat())


def noise(rng: random.Random, size: int, with_flags: bool) -> bytes:
    """Random bytes without 0x7E; with_flags then puts a 0x7E every 1..150 bytes (short candidates)."""
    out = bytearray(rng.randbytes(size).replace(b"\x7e", b"\x7f"))
    if with_flags:
        pos = rng.randint(1, 150)
        while pos < size:
            out[pos] = 0x7E
            pos += rng.randint(1, 150)
    return bytes(out)


def bad_in(garbage: bytes) -> int:
    """What a run of garbage between frames contributes to bad bytes: everything but its delimiters."""
    return len(garbage) - garbage.count(0x7E)


def counters(edge: EdgeThread) -> dict[str, int]:
    devices: list[dict[str, Any]] = edge.get("/api/devices")
    (lock,) = [d for d in devices if d["id"] == DEVICE]
    return dict(lock["counters"])


def connected(edge: EdgeThread) -> bool:
    return any(d["id"] == DEVICE and d["connected"] for d in edge.get("/api/devices"))


def test_bad_bytes_are_the_deframers_count_summed_over_reconnects(tmp_path: Path, mosquitto: Broker) -> None:
    rng = random.Random(808)
    link = tmp_path / "lock.tty"
    lead = noise(rng, 100, with_flags=False)         # before any frame start
    oversize = noise(rng, 1_000_000, with_flags=False)  # one run far beyond the 64 bytes an error hook sees
    short = noise(rng, 20_000, with_flags=True)      # many short rejected candidates
    half_frame = b"\x7e" + bytes(range(1, 31))      # cut by the reconnect: 30 bad bytes, truncated
    first_stream = lead + heartbeat(1) + oversize + heartbeat(2) + short + heartbeat(3) + half_frame
    tail = noise(rng, 5_000, with_flags=True)
    second_stream = heartbeat(4) + tail + heartbeat(5)
    bad_before_reconnect = bad_in(lead) + bad_in(oversize) + bad_in(short)  # the half frame is still pending
    expected_bad = bad_before_reconnect + 30 + bad_in(tail)

    reference = Deframer()  # the same bytes through a deframer of our own, flushed where the port reconnects
    reference.feed(first_stream)
    assert reference.stats.bad_bytes == bad_before_reconnect and reference.pending == 30
    reference.flush()
    reference.feed(second_stream)
    assert reference.stats.bad_bytes == expected_bad and reference.stats.frames == 5

    device = PtyDevice(link)
    edge = EdgeThread(lane_config(tmp_path, mosquitto.port, link)).start()
    try:
        wait_until(lambda: connected(edge), 10, what="serial lock connected")
        device.write_all(first_stream)
        wait_until(lambda: counters(edge)["frames"] == 3, 30, what="three frames through the first pty")
        assert counters(edge)["bad_bytes"] == bad_before_reconnect
        wait_until(lambda: counters(edge).get("bytes_in") == len(first_stream), 30, what="all bytes counted")

        device.close()  # the stub dies mid-frame
        wait_until(lambda: not connected(edge), 10, what="disconnect noticed")
        device = PtyDevice(link)
        wait_until(lambda: connected(edge), 10, what="reconnect to the new pty")
        device.write_all(second_stream)
        wait_until(lambda: counters(edge)["frames"] == 5, 30, what="two more frames after the reconnect")

        got = counters(edge)
        assert got["bad_bytes"] == expected_bad, got
        assert got["bytes_in"] == len(first_stream) + len(second_stream)
        assert got["bad_frames"] == reference.stats.bad_frame_total
        for reason in Reason:
            assert got[f"bad_frames_{reason.value}"] == reference.stats.bad_frames[reason.value], reason
        assert got["bad_frames_oversize"] == 1 and got["bad_frames_truncated"] >= 1

        assert edge.client is not None
        metrics = edge.client.get("/metrics").text  # logged in (tests/lane_harness.py)
        line = re.search(rf'^kouan_device_bad_bytes_total\{{device="{DEVICE}",kind="smart_lock"\}} (\S+)$', metrics, re.M)
        assert line is not None and float(line.group(1)) == expected_bad  # exposition writes 1.01984e+06
    finally:
        edge.stop()
        device.close()
