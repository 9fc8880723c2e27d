"""Device sides for the serial transport tests: a pty a stub owns (published as a symlink),
a TCP serial-over-IP server, and an RFC 2217 port server in front of a pty."""

from __future__ import annotations

import os
import socket
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

import serial
from serial import rfc2217


def wait_for(condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Recorder:
    """Collects what a transport hands to its callbacks (from the reader thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.data = bytearray()
        self.states: list[tuple[bool, str]] = []

    def on_data(self, chunk: bytes) -> None:
        with self.lock:
            self.data += chunk

    def on_state(self, connected: bool, reason: str) -> None:
        with self.lock:
            self.states.append((connected, reason))

    def received(self) -> bytes:
        with self.lock:
            return bytes(self.data)


class PtyDevice:
    """A device stub's side of a pty: it owns the master and publishes the slave as a symlink."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.master, slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(slave)
        self.slave_path = os.ttyname(slave)
        os.close(slave)  # the transport opens the slave by path
        tmp = link.with_name(link.name + ".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(self.slave_path)
        os.replace(tmp, link)  # atomic: a reader never sees the link missing

    def write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view) :]

    def read_exactly(self, n: int, timeout: float = 5.0) -> bytes:
        out = bytearray()
        deadline = time.monotonic() + timeout
        os.set_blocking(self.master, False)
        try:
            while len(out) < n and time.monotonic() < deadline:
                try:
                    out += os.read(self.master, n - len(out))
                except BlockingIOError:
                    time.sleep(0.005)
        finally:
            os.set_blocking(self.master, True)
        return bytes(out)

    def close(self) -> None:
        if self.master >= 0:
            os.close(self.master)
            self.master = -1


class TcpDevice:
    """A local TCP server standing in for a serial-over-IP converter; one client at a time."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.accepted = threading.Semaphore(0)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.conns.append(conn)
            self.accepted.release()

    def next_conn(self, timeout: float = 5.0) -> socket.socket:
        assert self.accepted.acquire(timeout=timeout), "transport did not connect"
        return self.conns[-1]

    def close(self) -> None:
        self.server.close()
        for conn in self.conns:
            conn.close()


class PtyWithoutModemLines(serial.Serial):
    """A pty has no modem lines; an RFC 2217 server asks for them, so answer 'all low'."""

    cts = dsr = ri = cd = property(lambda self: False)  # type: ignore[assignment]

    def _update_dtr_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass

    def _update_break_state(self) -> None:
        pass


class Rfc2217Server:
    """A minimal RFC 2217 server (pyserial's PortManager) sharing a pty slave over TCP, like a port server."""

    def __init__(self, slave_path: str) -> None:
        self.slave_path = slave_path
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        port = PtyWithoutModemLines(self.slave_path, timeout=0.1)
        send_lock = threading.Lock()

        class Connection:
            def write(self, data: bytes) -> None:
                with send_lock:
                    conn.sendall(data)

        manager = rfc2217.PortManager(port, Connection())

        def device_to_network() -> None:
            try:
                while True:
                    data = port.read(port.in_waiting or 1)
                    if data:
                        Connection().write(b"".join(manager.escape(data)))
            except (OSError, serial.SerialException):
                return

        threading.Thread(target=device_to_network, daemon=True).start()
        try:
            while data := conn.recv(4096):
                port.write(b"".join(manager.filter(data)))
        except OSError:
            pass

    def close(self) -> None:
        self.server.close()
