"""A whole simulated lane on this machine: a site broker, two smart-lock stubs (one on a serial
pty, one on MQTT) with scripted events, and the edge node with its lane terminal. URLs printed."""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

HELP = "run a simulated lane (broker, lock stubs, edge) and print the URLs"
log = logging.getLogger(__name__)

LANE = "demo-lane"
SERIAL_EVENTS = "15:opened,25:tamper,40:battery=15"
MQTT_EVENTS = "20:opened,32:sealed,45:shell_opened"

CONFIG = """\
# Written by `kouan demo`; a real lane's config looks the same (see docs/operations.md).
[lane]
id = "{lane}"
name = "Demo lane (simulated devices)"

[store]
path = "edge.sqlite3"

[mqtt]
url = "{mqtt_url}"

[web]
host = "127.0.0.1"
port = {port}

[[devices]]
id = "lock-serial"
name = "E-lock on serial (JT/T 808)"
kind = "smart_lock"
transport = "serial"
address = "{link}"

[[devices]]
id = "lock-mqtt"
name = "E-lock on MQTT (JSON)"
kind = "smart_lock"
transport = "mqtt"
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", type=Path, default=Path("var/demo"), help="where the demo keeps its config, database and broker (default var/demo)")
    parser.add_argument("--port", type=int, default=8080, help="lane terminal port (default 8080; 0 = any free port)")
    parser.add_argument("--mqtt", default=None, help="use this broker (mqtt://host:port) instead of starting a private Mosquitto")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        raise SystemExit("kouan demo: mosquitto not found; install it (apt-get install mosquitto) or pass --mqtt URL")
    port = _free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n", encoding="utf-8")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=(workdir / "mosquitto.log").open("wb"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"mqtt://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"kouan demo: mosquitto did not start on port {port}; see {workdir / 'mosquitto.log'}")


def _start_stub(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "edge.cli", "sim", "smart-lock", *args]
    return subprocess.Popen(command, stdout=log_path.open("wb"), stderr=subprocess.STDOUT)


def run(args: argparse.Namespace) -> int:
    from edge.commands.edge_node import serve
    from edge.config import EdgeConfig
    import tomllib

    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    children: list[subprocess.Popen[bytes]] = []
    try:
        if args.mqtt:
            mqtt_url = args.mqtt
        else:
            broker, mqtt_url = _start_broker(workdir)
            children.append(broker)
        link = workdir / "lock-serial.tty"
        children.append(_start_stub(
            ["--serial", "--link", str(link), "--terminal", "13912344329", "--lock-id", "SEAL-0001",
             "--events", SERIAL_EVENTS], workdir / "stub-serial.log"))
        children.append(_start_stub(
            ["--mqtt", mqtt_url, "--lane", LANE, "--device", "lock-mqtt", "--terminal", "13912344330",
             "--lock-id", "SEAL-0002", "--events", MQTT_EVENTS], workdir / "stub-mqtt.log"))
        text = CONFIG.format(lane=LANE, mqtt_url=mqtt_url, port=args.port, link=link)
        (workdir / "edge.toml").write_text(text, encoding="utf-8")
        config = EdgeConfig.model_validate(tomllib.loads(text))
        config.store.path = workdir / "edge.sqlite3"
        print(f"kouan demo: broker {mqtt_url}; lock stubs logging to {workdir}/stub-*.log", flush=True)
        print(f"kouan demo: lock events on MQTT topic kouan/{LANE}/events/lock", flush=True)
        print(f"kouan demo: scripted events: serial lock {SERIAL_EVENTS}; MQTT lock {MQTT_EVENTS} (s from start)", flush=True)
        asyncio.run(serve(config))
    finally:
        for child in reversed(children):
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
    return 0
