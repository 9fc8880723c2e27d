"""A private Mosquitto on a free local port, for `kouan demo` and the benches (never for a real
lane: a site runs its own broker, docs/operations.md). Its config and log go in the work folder."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_private_broker(workdir: Path, extra_conf: str = "") -> tuple[subprocess.Popen[bytes], int]:
    """Start Mosquitto (no persistence, anonymous, 127.0.0.1 only) and wait until it listens;
    RuntimeError says why it could not (not installed, or it did not come up: see its log)."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        raise RuntimeError("mosquitto not found; install it (apt-get install mosquitto)")
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n{extra_conf}",
                    encoding="utf-8")
    log = workdir / "mosquitto.log"
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"mosquitto did not start on port {port}; see {log}")
