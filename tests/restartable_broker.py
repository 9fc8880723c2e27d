"""A private Mosquitto that a test can SIGKILL and start again on the same port and files."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

from tests.conftest import _wait_listening, free_port


class RestartableBroker:
    """Mosquitto on a free port; `persistence` as a site broker should run it (docs/operations.md)."""

    def __init__(self, workdir: Path, persistence: bool = True) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "max_queued_messages 100000"]
        if persistence:
            lines += ["persistence true", f"persistence_location {workdir}/", "autosave_interval 1"]
        else:
            lines += ["persistence false"]
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> "RestartableBroker":
        self.starts += 1
        log = (self.workdir / f"mosquitto-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT)
        _wait_listening("127.0.0.1", self.port)
        return self

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no last save."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None
