"""Shared fixtures: a private Mosquitto broker on a free port, and pty pairs opened with pyserial."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Broker:
    """A running Mosquitto broker started for the test session."""

    host: str
    port: int

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def _wait_listening(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"mosquitto did not listen on {host}:{port} within {timeout} s")


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """Start `mosquitto` on a free loopback port; never depends on a broker the machine runs."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        pytest.fail("mosquitto is not installed: run `apt-get install -y mosquitto` (see .ci/run)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("mosquitto")
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 100000\nmessage_size_limit 0\n",
        encoding="utf-8",
    )
    log = (workdir / "mosquitto.log").open("wb")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_listening("127.0.0.1", port)
        yield Broker("127.0.0.1", port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@dataclass
class PtyPair:
    """Two ends of a pseudo-terminal: `device` (what a stub writes to) and `port` (a /dev/pts path)."""

    master_fd: int
    port: str

    def close(self) -> None:
        try:
            os.close(self.master_fd)
        except OSError:
            pass


@pytest.fixture
def pty_pair() -> Iterator[PtyPair]:
    """A raw pty pair; the slave path is what a driver opens with pyserial."""
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    name = os.ttyname(slave)
    pair = PtyPair(master, name)
    try:
        yield pair
    finally:
        pair.close()
        os.close(slave)
