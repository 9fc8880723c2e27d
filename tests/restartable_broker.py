"""A private Mosquitto that a test can SIGKILL and start again on the same port and files."""

from __future__ import annotations

import shutil
import tempfile
import time
import signal
import subprocess
from pathlib import Path

from tests.conftest import _wait_listening, free_port


class RestartableBroker:
    """Mosquitto on a free port; `persistence` as a site broker should run it (docs/operations.md)."""

    def __init__(self, workdir: Path, persistence: bool = True) -> None:
        self.workdir = workdir
        self._store: Path | None = None
        self.port = free_port()
        self.exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "max_queued_messages 100000"]
        if persistence:
            # Started as root, mosquitto drops to its own user before it saves, and pytest's tmp
            # folders are root-only: the database lives in a folder of its own that user can reach.
            store = Path(tempfile.mkdtemp(prefix="kouan-mosquitto-db-"))
            store.chmod(0o777)
            self._store = store
            lines += ["persistence true", f"persistence_location {store}/", "autosave_interval 1"]
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

    def wait_saved(self, timeout: float = 10.0) -> None:
        """Block until the broker has saved its database after this call (so what it holds now,
        the sessions of connected clients among it, survives a SIGKILL)."""
        assert self._store is not None, "a broker without persistence saves nothing"
        db = self._store / "mosquitto.db"
        since = time.time()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if db.exists() and db.stat().st_mtime > since:
                return
            time.sleep(0.05)
        raise TimeoutError(f"mosquitto did not save {db} within {timeout} s")

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
        if self._store is not None:
            shutil.rmtree(self._store, ignore_errors=True)
