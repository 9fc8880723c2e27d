"""A whole simulated lane on this machine: a site broker, a stub for every device kind (a lock
reader on a serial pty and the locks' transit uplink on MQTT; an empty-box detector on Modbus RTU
over a pty with its images on MQTT; an under-vehicle camera on MQTT; an iris reader on a pty; a
container scanner with its watched folder), the edge node with its lane terminal, and a central
image-review hub beside it that the lane uploads its passages to (edge/commands/demo_hub.py).

The stubs play one stream of trucks (edge/commands/demo_scenario.py): each truck's readings agree
with each other and with its advance declaration (written to <workdir>/declarations.jsonl and
loaded by the edge), except for its one problem, if it has one; its drivers are enrolled before
the stubs start. Printed: `lane terminal: URL`, the login of the demo's officer (user `officer`,
its password made once per workdir and kept in <workdir>/officer-password), `review hub: URL` with
the hub's reviewer and supervisor logins (kept in <workdir>/hub/), and the scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from edge.commands.demo_scenario import Vehicle, declarations_jsonl, describe, sampler, scripts, stream

if TYPE_CHECKING:
    from edge.config import EdgeConfig

HELP = "run a simulated lane (broker, a stub for every device, edge) and print the URLs"
log = logging.getLogger(__name__)

LANE = "demo-lane"
STREAM_MINUTES = 75  # the default stream lasts this long (then the lane stays up, idle)

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
name = "Lock reader at the lane (JT/T 808 on serial)"
kind = "smart_lock"
transport = "serial"
address = "{link}"

[[devices]]
id = "lock-mqtt"
name = "Locks' transit uplink (MQTT JSON)"
kind = "smart_lock"
transport = "mqtt"

[[devices]]
id = "empty-box"
name = "Empty-box detector (Modbus RTU + images)"
kind = "empty_box"
modbus = {{ port = "{empty_box_link}" }}
models = {{ camera = "demo_lane/empty_container" }}   # fitted on the stub's empty interiors (models/demo_lane)

[[devices]]
id = "uvss"
name = "Under-vehicle camera"
kind = "under_vehicle"
# No appearance model holds on the stub's vehicles (models/demo_lane/README.md: image AUROC 0.54-0.56,
# the objects are drawn from the chassis parts' own shapes), so this lane judges each pass by comparing
# it with the same plate's last clean pass; a plate's first pass only informs (no_reference).
model_check = false
compare = true

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
refer = "loaded"                    # scans of containers not declared empty go to central image review

[uplink]
hub_url = "{hub_url}"
token_file = "{hub_token}"

[passages]
declarations_file = "{declarations}"
# the devices a truck passes and the seconds after its arrival (the under-vehicle camera's pass)
# by which each must have reported: they do in 1-5 s here, the model's analysis included, so 15 s
# leaves room for a busy machine; the MQTT lock is the locks' transit uplink: its reports join a
# passage by the lock's id, it is not waited for
deadlines = {{ uvss = 15, lock-serial = 15, iris = 15, empty-box = 15, scanner = 15 }}
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", type=Path, default=Path("var/demo"), help="where the demo keeps its config, database and broker (default var/demo)")
    parser.add_argument("--port", type=int, default=8080, help="lane terminal port (default 8080; 0 = any free port)")
    parser.add_argument("--hub-port", type=int, default=8090, help="review hub port (default 8090; 0 = any free port)")
    parser.add_argument("--mqtt", default=None, help="use this broker (mqtt://host:port) instead of starting a private Mosquitto")
    parser.add_argument("--vehicles", type=int, default=None, metavar="N",
                        help=f"trucks in the stream (default: {STREAM_MINUTES} minutes' worth)")
    parser.add_argument("--spacing", type=float, default=None, metavar="S",
                        help="seconds between trucks (default 18)")
    parser.add_argument("--sampler", action="store_true", help=argparse.SUPPRESS)  # each problem once + two clean


def _start_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    from edge.private_broker import start_private_broker

    try:
        proc, port = start_private_broker(workdir)
    except RuntimeError as exc:
        raise SystemExit(f"kouan demo: {exc} (or pass --mqtt URL)") from None
    return proc, f"mqtt://127.0.0.1:{port}"


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


def _next_run(workdir: Path) -> int:
    """This run's number in the workdir (1, 2, ...): each run's trucks are fresh, so a restarted demo
    meets no passage or declaration of the last one."""
    kept = workdir / "demo-run"
    try:
        number = int(kept.read_text(encoding="utf-8").strip()) + 1
    except (OSError, ValueError):
        number = 1
    kept.write_text(f"{number}\n", encoding="utf-8")
    return number


def _enrol_drivers(store_path: Path, cards: Sequence[str]) -> int:
    """Enrol the trucks' drivers beforehand, as the port's enrolment office would: two good captures
    of each card holder's eye (the iris stub's own irises), checked to agree, kept as the card's
    templates (about 10 ms a card). Cards already enrolled are left as they are; returns how many
    were new."""
    from edge.kinds.iris.enrol import enrol_from_captures
    from edge.kinds.iris.templates import replace_templates
    from edge.store import Store, Txn
    from edge.store_schema import store_migrations
    from firmware_stubs.iris_codes import IrisSimulator  # the demo plays the stubs: it knows their irises

    store = Store(store_path, store_migrations())
    try:
        known = {row[0] for row in store.read("SELECT DISTINCT card_id FROM iris_templates")}
        office = IrisSimulator(seed=6346)
        todo = [card for card in dict.fromkeys(cards) if card not in known]
        enrolments = {card: enrol_from_captures([(c.code, c.mask) for c in (office.capture(card) for _ in range(2))])
                      for card in todo}

        def keep(txn: Txn) -> None:
            for card, enrolment in enrolments.items():
                replace_templates(txn, card, list(enrolment.templates), time.time(), "demo enrolment office",
                                  "kouan demo")

        store.transact(keep)
    finally:
        store.close()
    return len(todo)


def _start_stub(device: str, args: list[str], log_path: Path, epoch: float) -> subprocess.Popen[bytes]:
    """One `kouan sim` stub; its script's time 0 is `epoch` (wall clock), the same for every stub."""
    from firmware_stubs.script_clock import ENV

    command = [sys.executable, "-m", "edge.cli", "sim", device, *args]
    return subprocess.Popen(command, stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
                            env={**os.environ, ENV: f"{epoch:.3f}"})


def _trucks(args: argparse.Namespace, run_number: int) -> list[Vehicle]:
    if args.sampler:
        return sampler(run_number, **({"spacing_s": args.spacing} if args.spacing else {}))
    spacing = args.spacing or 18.0
    count = args.vehicles if args.vehicles is not None else math.ceil(STREAM_MINUTES * 60 / spacing)
    return stream(max(0, count), run_number, spacing_s=spacing)


async def _serve(config: EdgeConfig) -> None:
    """Run the edge; print `lane terminal: URL` on a line of its own once it answers."""
    from edge.commands.edge_node import serve

    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    edge = asyncio.ensure_future(serve(config, ready))
    await asyncio.wait({edge, ready}, return_when=asyncio.FIRST_COMPLETED)
    if ready.done():
        print(f"lane terminal: {ready.result()}", flush=True)
    await edge


def run(args: argparse.Namespace) -> int:
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
        from edge.commands.demo_hub import start_demo_hub

        hub = start_demo_hub(workdir, LANE, args.hub_port, workdir / "hub.log")
        children.append(hub.process)
        print(f"review hub: {hub.url}", flush=True)
        for name, password in hub.passwords.items():
            print(f"{name} login: {name} / {password}", flush=True)
        trucks = _trucks(args, _next_run(workdir))
        events = scripts(trucks)
        link = workdir / "lock-serial.tty"
        paths = {"empty_box_link": workdir / "empty-box.tty", "iris_link": workdir / "iris.tty",
                 "scan_folder": workdir / "scans", "declarations": workdir / "declarations.jsonl"}
        paths["scan_folder"].mkdir(exist_ok=True)
        paths["declarations"].write_text(declarations_jsonl(trucks), encoding="utf-8")
        text = CONFIG.format(lane=LANE, mqtt_url=mqtt_url, port=args.port, link=link,
                             hub_url=hub.url.rstrip("/"), hub_token=hub.token_file, **paths)
        (workdir / "edge.toml").write_text(text, encoding="utf-8")
        config = EdgeConfig.model_validate(tomllib.loads(text))
        config.store.path = workdir / "edge.sqlite3"
        print(f"officer login: officer / {_officer_password(workdir, config.store.path)}", flush=True)
        enrolled = _enrol_drivers(config.store.path, [t.driver_card for t in trucks])
        on_mqtt = ["--mqtt", mqtt_url, "--lane", LANE]
        stubs = (  # (log name, `kouan sim` device, its options); the scenario's scripts are by device id
            ("lock-serial", "smart-lock", ["--serial", "--link", str(link), "--terminal", "13912344329",
                                           "--lock-id", "SEAL-IDLE", "--report-period", "60"]),
            ("lock-mqtt", "smart-lock", [*on_mqtt, "--device", "lock-mqtt", "--terminal", "13912344330",
                                         "--lock-id", "SEAL-IDLE", "--report-period", "60"]),
            ("empty-box", "empty-box", ["--serial", "--link", str(paths["empty_box_link"]), *on_mqtt,
                                        "--device", "empty-box"]),
            ("uvss", "under-vehicle", [*on_mqtt, "--device", "uvss"]),
            ("iris", "iris", ["--serial", "--link", str(paths["iris_link"])]),
            ("scanner", "scanner", [*on_mqtt, "--device", "scanner", "--folder", str(paths["scan_folder"]),
                                    "--format", "tiff", "--scale", "0.3"]),
        )
        epoch = time.time()  # the scenario's time 0 for every stub (they take seconds to start, one after another)
        for log_name, device, options in stubs:
            children.append(_start_stub(device, [*options, "--events", events[log_name]],
                                        workdir / f"stub-{log_name}.log", epoch))
        print(f"kouan demo: broker {mqtt_url}; {len(stubs)} device stubs logging to {workdir}/stub-*.log; "
              f"{enrolled} drivers enrolled", flush=True)
        print(f"kouan demo: events on MQTT topics kouan/{LANE}/events/<kind>, passages on kouan/{LANE}/passages/<id>",
              flush=True)
        print(f"kouan demo: scenario: {describe(trucks)}; declarations in {paths['declarations']}", flush=True)
        asyncio.run(_serve(config))
    finally:
        for child in reversed(children):
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
    return 0
