"""A whole simulated lane on this machine: a site broker, a stub for every device kind (two
smart locks, one on a serial pty and one on MQTT; an empty-box detector on Modbus RTU over a pty
with its images on MQTT; an under-vehicle camera on MQTT; an iris reader on a pty; a container
scanner with its watched folder), each playing a script, and the edge node with its lane
terminal. URLs printed, and the login of the demo's officer (user `officer`, its password made
once per workdir and kept in <workdir>/officer-password)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

HELP = "run a simulated lane (broker, a stub for every device, edge) and print the URLs"
log = logging.getLogger(__name__)

LANE = "demo-lane"
SERIAL_EVENTS = "15:opened,25:tamper,40:battery=15"
MQTT_EVENTS = "20:opened,32:sealed,45:shell_opened"
EMPTY_BOX_EVENTS = "8:truck=CSQU3054383/empty/declared=empty,30:truck=MSKU1234565/full/declared=empty"
UNDER_VEHICLE_EVENTS = "10:pass=新F12345/clean,35:pass=新F12345/object=box,50:pass=苏E88888/clean"
IRIS_EVENTS = "12:present=CARD123/genuine,28:present=CARD999/poor"
SCANNER_EVENTS = "18:scan=CSQU3054383/empty,40:scan=MSKU1234565/cargo/dual"

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

[[devices]]
id = "empty-box"
name = "Empty-box detector (Modbus RTU + images)"
kind = "empty_box"
modbus = {{ port = "{empty_box_link}" }}

[[devices]]
id = "uvss"
name = "Under-vehicle camera"
kind = "under_vehicle"

[[devices]]
id = "iris"
name = "Driver iris reader"
kind = "iris"
transport = "serial"
address = "{iris_link}"

[[devices]]
id = "scanner"
name = "Container scanner"
kind = "scanner"
folder = "{scan_folder}"
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


def _officer_password(workdir: Path, store_path: Path) -> str:
    """The demo officer's password, made once per workdir; user `officer` in the store has it."""
    from edge.store import Store
    from edge.store_schema import store_migrations
    from edge.users import MIN_PASSWORD_LEN, add_user, set_password, verify_password

    kept = workdir / "officer-password"
    password = kept.read_text(encoding="utf-8").strip() if kept.is_file() else ""
    if len(password) < MIN_PASSWORD_LEN:
        password = secrets.token_urlsafe(12)
        fd = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(password + "\n")
    store = Store(store_path, store_migrations())
    try:
        rows = store.read("SELECT password_hash FROM users WHERE name='officer'")
        if not rows:
            add_user(store, "officer", "officer", password)
        elif not verify_password(rows[0][0], password):  # changed by hand: the kept one wins
            set_password(store, "officer", password)
    finally:
        store.close()
    return password


def _start_stub(device: str, args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "edge.cli", "sim", device, *args]
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
        paths = {"empty_box_link": workdir / "empty-box.tty", "iris_link": workdir / "iris.tty",
                 "scan_folder": workdir / "scans"}
        paths["scan_folder"].mkdir(exist_ok=True)
        on_mqtt = ["--mqtt", mqtt_url, "--lane", LANE]
        stubs = (  # (log name, `kouan sim` device, its options)
            ("lock-serial", "smart-lock", ["--serial", "--link", str(link), "--terminal", "13912344329",
                                           "--lock-id", "SEAL-0001", "--events", SERIAL_EVENTS]),
            ("lock-mqtt", "smart-lock", [*on_mqtt, "--device", "lock-mqtt", "--terminal", "13912344330",
                                         "--lock-id", "SEAL-0002", "--events", MQTT_EVENTS]),
            ("empty-box", "empty-box", ["--serial", "--link", str(paths["empty_box_link"]), *on_mqtt,
                                        "--device", "empty-box", "--events", EMPTY_BOX_EVENTS]),
            ("uvss", "under-vehicle", [*on_mqtt, "--device", "uvss", "--events", UNDER_VEHICLE_EVENTS]),
            ("iris", "iris", ["--serial", "--link", str(paths["iris_link"]), "--events", IRIS_EVENTS]),
            ("scanner", "scanner", [*on_mqtt, "--device", "scanner", "--folder", str(paths["scan_folder"]),
                                    "--format", "tiff", "--scale", "0.5", "--events", SCANNER_EVENTS]),
        )
        for log_name, device, options in stubs:
            children.append(_start_stub(device, options, workdir / f"stub-{log_name}.log"))
        text = CONFIG.format(lane=LANE, mqtt_url=mqtt_url, port=args.port, link=link, **paths)
        (workdir / "edge.toml").write_text(text, encoding="utf-8")
        config = EdgeConfig.model_validate(tomllib.loads(text))
        config.store.path = workdir / "edge.sqlite3"
        print(f"officer login: officer / {_officer_password(workdir, config.store.path)}", flush=True)
        print(f"kouan demo: broker {mqtt_url}; {len(stubs)} device stubs logging to {workdir}/stub-*.log", flush=True)
        print(f"kouan demo: events on MQTT topics kouan/{LANE}/events/<kind>", flush=True)
        print("kouan demo: scripted (s from start): " + "; ".join(
            f"{name} {script}" for name, script in (
                ("serial lock", SERIAL_EVENTS), ("MQTT lock", MQTT_EVENTS), ("empty box", EMPTY_BOX_EVENTS),
                ("under-vehicle", UNDER_VEHICLE_EVENTS), ("iris", IRIS_EVENTS), ("scanner", SCANNER_EVENTS))),
            flush=True)
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
