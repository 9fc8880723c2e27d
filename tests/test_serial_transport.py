"""SerialTransport against real ptys (pyserial on the transport side, the pty master as the device),
a real local TCP server for `socket://` and an RFC 2217 port server for `rfc2217://`."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.backoff import Backoff
from drivers.serial_transport import SerialTransport, TransportNotConnected, TransportWriteError
from tests.serial_harness import PtyDevice, Recorder, Rfc2217Server, TcpDevice, wait_for


@pytest.fixture
def device(tmp_path: Path) -> Iterator[PtyDevice]:
    dev = PtyDevice(tmp_path / "lock0")
    yield dev
    dev.close()


def test_chunks_arrive_intact_and_in_order_under_load(device: PtyDevice) -> None:
    rec = Recorder()
    transport = SerialTransport(str(device.link), rec.on_data, rec.on_state)
    transport.start()
    try:
        assert transport.wait_connected(5)
        rng = random.Random(808)
        frames = [bytes(rng.getrandbits(8) for _ in range(64)) for _ in range(256)]
        payload = b"".join(frames[i % 256] for i in range(16_000))  # ~1 MB of 64-byte frames
        writer = threading.Thread(target=device.write_all, args=(payload,))
        writer.start()
        writer.join(30)
        wait_for(lambda: len(rec.received()) >= len(payload), 30, "all bytes")
        assert rec.received() == payload
        stats = transport.stats()
        assert stats.bytes_in == len(payload)
        assert stats.reads < len(payload) / 64, "reads should take whatever is waiting, not one frame at a time"
        assert stats.errors == 0 and stats.connected
    finally:
        transport.stop()
    assert rec.states[0] == (True, f"connected to {device.link}")
    assert rec.states[-1] == (False, "stopped")


def test_write_reaches_the_device_and_fails_clearly_when_down(device: PtyDevice, tmp_path: Path) -> None:
    rec = Recorder()
    transport = SerialTransport(str(device.link), rec.on_data, rec.on_state)
    transport.start()
    try:
        assert transport.wait_connected(5)
        reply = bytes.fromhex("7e8001000501234567890100000001020000177e")
        assert transport.write(reply) == len(reply)
        assert device.read_exactly(len(reply)) == reply
        assert transport.stats().bytes_out == len(reply)
    finally:
        transport.stop()
    with pytest.raises(TransportNotConnected):
        transport.write(b"\x7e")


def test_a_write_the_device_never_drains_times_out_with_a_clear_error(device: PtyDevice) -> None:
    rec = Recorder()
    transport = SerialTransport(str(device.link), rec.on_data, rec.on_state, write_timeout=0.2)
    transport.start()
    try:
        assert transport.wait_connected(5)
        with pytest.raises(TransportWriteError, match="timed out"):
            transport.write(b"\x55" * 4_000_000)  # far more than a pty buffers; the device reads none
        stats = transport.stats()
        assert stats.errors == 1 and "timed out" in stats.last_error
        assert transport.connected  # a slow peer is not a lost port: reading goes on
        device.write_all(b"still here")
        wait_for(lambda: rec.received() == b"still here", what="data after the failed write")
    finally:
        transport.stop()


def test_reconnects_by_itself_when_the_device_restarts_on_a_new_pty(device: PtyDevice, tmp_path: Path) -> None:
    rec = Recorder()
    transport = SerialTransport(str(device.link), rec.on_data, rec.on_state, backoff=Backoff(initial=0.05, maximum=0.5))
    transport.start()
    try:
        assert transport.wait_connected(5)
        device.write_all(b"before")
        wait_for(lambda: rec.received() == b"before", what="first data")

        device.close()  # the stub dies: the slave now reads EIO
        wait_for(lambda: not transport.connected, what="disconnect noticed")
        down = [s for s in rec.states if not s[0]]
        assert down and "read failed" in down[0][1], rec.states
        assert transport.stats().last_error.startswith("read failed")
        time.sleep(0.3)  # a few reconnect attempts against the dead path
        assert not transport.connected

        restarted = PtyDevice(device.link)  # a new pty, the symlink replaced
        try:
            wait_for(lambda: transport.connected, what="reconnect through the symlink")
            restarted.write_all(b"after")
            wait_for(lambda: rec.received() == b"beforeafter", what="data after reconnect")
            assert transport.write(b"ack") == 3
            assert restarted.read_exactly(3) == b"ack"
            stats = transport.stats()
            assert stats.reconnects == 1 and stats.connects == 2
            assert [s[0] for s in rec.states] == [True, False, True]
            assert os.path.realpath(device.link) == restarted.slave_path
        finally:
            transport.stop()
            restarted.close()
    finally:
        transport.stop()


def test_missing_port_is_reported_once_then_connects_when_it_appears(tmp_path: Path) -> None:
    rec = Recorder()
    link = tmp_path / "not-yet"
    transport = SerialTransport(str(link), rec.on_data, rec.on_state, backoff=Backoff(initial=0.02, maximum=0.1))
    transport.start()
    dev: PtyDevice | None = None
    try:
        wait_for(lambda: transport.stats().errors >= 3, what="several failed opens")
        assert not transport.connected
        assert len(rec.states) == 1 and rec.states[0][0] is False and "open failed" in rec.states[0][1]
        dev = PtyDevice(link)
        wait_for(lambda: transport.connected, what="connect once the port exists")
        dev.write_all(b"hello")
        wait_for(lambda: rec.received() == b"hello", what="data")
        assert transport.stats().reconnects == 0  # the first successful open is not a reconnect
    finally:
        transport.stop()
        if dev:
            dev.close()


def test_a_failing_callback_is_counted_and_reading_goes_on(device: PtyDevice) -> None:
    got = bytearray()
    calls = {"n": 0}

    def flaky(chunk: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("consumer bug")
        got.extend(chunk)

    transport = SerialTransport(str(device.link), flaky)
    transport.start()
    try:
        assert transport.wait_connected(5)
        device.write_all(b"lost")
        wait_for(lambda: calls["n"] == 1, what="first chunk")
        device.write_all(b"kept")
        wait_for(lambda: bytes(got) == b"kept", what="second chunk")
        assert transport.stats().callback_errors == 1
        assert transport.connected
    finally:
        transport.stop()


def test_stop_cancels_a_blocked_read(device: PtyDevice) -> None:
    rec = Recorder()
    transport = SerialTransport(str(device.link), rec.on_data, rec.on_state, read_timeout=60.0)
    transport.start()
    assert transport.wait_connected(5)
    time.sleep(0.1)  # the reader is now blocked in a 60 s read
    transport.stop(timeout=30.0)  # generous, yet well inside the read timeout
    # The reader reports "stopped" as its last act: seen here, the blocked read was cancelled.
    assert rec.states[-1] == (False, "stopped"), "stop() waited for the read timeout"
    assert not transport.connected


def test_socket_url_reads_writes_and_reconnects_after_the_peer_drops() -> None:
    server = TcpDevice()
    rec = Recorder()
    transport = SerialTransport(
        f"socket://127.0.0.1:{server.port}", rec.on_data, rec.on_state, backoff=Backoff(initial=0.05, maximum=0.2)
    )
    transport.start()
    try:
        conn = server.next_conn()
        assert transport.wait_connected(5)
        payload = bytes(range(256)) * 400  # 100 KiB
        conn.sendall(payload)
        wait_for(lambda: rec.received() == payload, 10, "socket payload")
        assert transport.stats().reads < len(payload) / 64
        transport.write(b"reply")
        conn.settimeout(5)
        assert conn.recv(5) == b"reply"

        conn.close()  # the converter drops the connection
        conn2 = server.next_conn()
        wait_for(lambda: transport.connected, what="reconnect")
        conn2.sendall(b"again")
        wait_for(lambda: rec.received().endswith(b"again"), what="data after reconnect")
        assert [s[0] for s in rec.states][:3] == [True, False, True]
        assert "socket disconnected" in rec.states[1][1]
        assert transport.stats().reconnects == 1
    finally:
        transport.stop()
        server.close()


def test_backoff_grows_is_bounded_and_resets() -> None:
    backoff = Backoff(initial=0.1, maximum=5.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(20)]
    assert all(0.1 <= d <= 5.0 for d in delays)
    assert delays[0] <= 0.1 + 1e-9
    assert max(delays[-5:]) > 2.0  # reached the cap region
    assert len({round(d, 6) for d in delays[-5:]}) > 1  # jittered, not lock-step
    backoff.reset()
    assert backoff.next_delay() <= 0.1 + 1e-9
    with pytest.raises(ValueError):
        Backoff(initial=0.0)


def test_rfc2217_url_reads_and_writes_a_pty_behind_a_port_server(device: PtyDevice) -> None:
    server = Rfc2217Server(device.slave_path)
    rec = Recorder()
    transport = SerialTransport(f"rfc2217://127.0.0.1:{server.port}", rec.on_data, rec.on_state)
    transport.start()
    try:
        assert transport.wait_connected(10), transport.stats().last_error
        payload = bytes(range(256)) * 16  # includes 0xFF, which RFC 2217 must escape
        device.write_all(payload)
        wait_for(lambda: rec.received() == payload, what="data through RFC 2217")
        transport.write(b"\x7e\xff\x7d")
        assert device.read_exactly(3) == b"\x7e\xff\x7d"
    finally:
        transport.stop()
        server.close()


def test_an_unusable_url_is_reported_and_retried_without_killing_the_reader() -> None:
    rec = Recorder()
    transport = SerialTransport("nosuchscheme://lane1", rec.on_data, rec.on_state, backoff=Backoff(0.02, 0.05))
    transport.start()
    try:
        wait_for(lambda: transport.stats().errors >= 3, what="repeated attempts")
        assert rec.states == [(False, rec.states[0][1])] and "open failed" in rec.states[0][1]
        assert "nosuchscheme" in transport.stats().last_error
    finally:
        transport.stop()


def test_follows_the_link_when_it_is_repointed_while_the_old_pty_lives(tmp_path: Path) -> None:
    link = tmp_path / "lock-moved"
    first = PtyDevice(link)
    rec = Recorder()
    transport = SerialTransport(str(link), rec.on_data, rec.on_state, backoff=Backoff(initial=0.05, maximum=0.5))
    transport.start()
    second: PtyDevice | None = None
    try:
        assert transport.wait_connected(5)
        first.write_all(b"one")
        wait_for(lambda: rec.received() == b"one", what="data from the first pty")

        second = PtyDevice(link)  # atomic re-point; the first pty stays open and readable
        wait_for(lambda: transport.stats().connects == 2, 10, "the switch to the re-pointed link")
        second.write_all(b"two")
        wait_for(lambda: rec.received() == b"onetwo", 10, "data from the second pty")
        assert transport.write(b"ack") == 3
        assert second.read_exactly(3) == b"ack"
        assert (False, f"link now points to {second.slave_path}") in rec.states, rec.states
        assert [s[0] for s in rec.states] == [True, False, True]
        assert transport.stats().errors == 0  # a re-pointed link is not a failure
    finally:
        transport.stop()
        first.close()
        if second is not None:
            second.close()
