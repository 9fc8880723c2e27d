"""`kouan demo` (the README's main command): a whole simulated lane comes up and goes down cleanly;
it prints its officer's login, and the lane terminal answers only after that login."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.lane_harness import log_in, wait_until


def test_demo_brings_up_every_device_and_stops_on_sigint(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "demo", "--port", "0", "--workdir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = password = None
    lines: list[str] = []
    client = httpx.Client(timeout=10)
    try:
        deadline = time.monotonic() + 30
        while url is None and time.monotonic() < deadline and proc.stdout is not None:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = re.search(r"terminal at (http://\S+)", line)
            if match:
                url = match.group(1)
            login = re.fullmatch(r"officer login: officer / (\S+)\n", line)
            if login:
                password = login.group(1)
        assert url, "demo printed no lane-terminal URL:\n" + "".join(lines)
        assert password == (tmp_path / "officer-password").read_text().strip(), "".join(lines)
        assert httpx.get(url + "api/devices", timeout=5).status_code == 401, "no login, no lane"
        client.base_url = httpx.URL(url)
        log_in(client, "officer", password)
        assert client.get("api/me").json()["role"] == "officer"

        def devices() -> dict[str, bool]:
            return {d["id"]: d["online"] for d in client.get("api/devices").json()}

        every_device = {"lock-serial", "lock-mqtt", "empty-box", "uvss", "iris", "scanner"}
        wait_until(lambda: devices() == dict.fromkeys(every_device, True), 90, what=f"every demo device online: {devices()}")
        kinds = {d["kind"] for d in client.get("api/devices").json()}
        assert kinds == {"smart_lock", "empty_box", "under_vehicle", "iris", "scanner"}
        # each kind's first scripted reading has raised its event, and the images are shown
        wait_until(lambda: {"first_seen", "empty_confirmed", "vehicle_pass", "not_enrolled", "scan_received"}
                   <= {e["event"] for e in client.get("api/events?limit=200").json()}, 60,
                   what="an event from every kind")
        shown = {d["id"]: d["state"].get("image_sha256") for d in client.get("api/devices").json()}
        for device_id in ("empty-box", "uvss", "scanner"):
            preview = client.get(f"api/media/{shown[device_id]}/preview?max_px=200")
            assert preview.status_code == 200 and preview.headers["content-type"] == "image/png", device_id
        assert (tmp_path / "edge.toml").is_file() and (tmp_path / "edge.sqlite3").is_file()
    finally:
        client.close()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0
    left = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout.split()
    assert not left, f"demo left processes running: {left}"
    # the stubs and the private broker went with it: nothing answers on the terminal any more
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "healthz", timeout=1)


def test_the_demo_officer_keeps_one_password_per_workdir(tmp_path: Path) -> None:
    from edge.commands.demo import _officer_password

    first = _officer_password(tmp_path, tmp_path / "edge.sqlite3")
    assert _officer_password(tmp_path, tmp_path / "edge.sqlite3") == first, "a restarted demo keeps it"
    assert (tmp_path / "officer-password").stat().st_mode & 0o777 == 0o600
    other = tmp_path / "other"
    other.mkdir()
    assert _officer_password(other, other / "edge.sqlite3") != first
