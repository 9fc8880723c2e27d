"""Fault probe of a lane with real processes: the edge SIGKILLed while both locks report, the
site broker SIGKILLed under a stream, poison MQTT payloads. Prints one JSON summary per probe.

    .venv/bin/python scripts/fault_probe.py kills     # 4 SIGKILLs of the edge in 30 s
    .venv/bin/python scripts/fault_probe.py broker    # Mosquitto SIGKILLed and restarted
    .venv/bin/python scripts/fault_probe.py poison    # 25 nested-JSON payloads, then 5 reports

Everything runs on loopback in a temporary folder; nothing is mocked.
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

PROBE_METRICS_TOKEN = "fault-probe-metrics-token"  # /metrics needs a login or this bearer token

LANE = "probe"
PY = [sys.executable, "-m", "edge.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Lane:
    """A broker, the edge and lock stubs as separate processes in one folder."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.mqtt_port, self.web_port = free_port(), free_port()
        self.db_dir = Path(tempfile.mkdtemp(prefix="kouan-probe-db-"))
        self.db_dir.chmod(0o777)  # mosquitto drops root for its own user before it saves
        (work / "mosquitto.conf").write_text(
            f"listener {self.mqtt_port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {self.db_dir}/\nautosave_interval 1\nmax_queued_messages 100000\n",
            encoding="utf-8")
        self.link = work / "lock-serial.tty"
        (work / "edge.toml").write_text(f"""
[lane]
id = "{LANE}"
[store]
path = "{work / 'edge.sqlite3'}"
[mqtt]
url = "mqtt://127.0.0.1:{self.mqtt_port}"
[web]
port = {self.web_port}
metrics_token = "{PROBE_METRICS_TOKEN}"
[[devices]]
id = "lock-serial"
kind = "smart_lock"
transport = "serial"
address = "{self.link}"
[[devices]]
id = "lock-mqtt"
kind = "smart_lock"
transport = "mqtt"
""", encoding="utf-8")
        self.broker: subprocess.Popen[bytes] | None = None
        self.edge: subprocess.Popen[bytes] | None = None
        self.stubs: dict[str, subprocess.Popen[bytes]] = {}
        self.edge_starts = 0

    def start_broker(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.broker = subprocess.Popen([exe, "-c", str(self.work / "mosquitto.conf")],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.mqtt_port)

    def start_edge(self) -> None:
        self.edge_starts += 1
        log = (self.work / f"edge-{self.edge_starts}.log").open("wb")
        self.edge = subprocess.Popen([*PY, "edge", "--config", str(self.work / "edge.toml")], stdout=log, stderr=log)

    def start_stub(self, name: str, args: list[str]) -> None:
        log = (self.work / f"stub-{name}.log").open("wb")
        self.stubs[name] = subprocess.Popen([*PY, "sim", "smart-lock", *args], stdout=log, stderr=subprocess.PIPE)

    def kill(self, proc: subprocess.Popen[bytes] | None) -> None:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(5)

    def stop_stubs(self) -> dict[str, dict[str, int]]:
        """SIGTERM each stub; it prints its counters on stderr as it exits."""
        out: dict[str, dict[str, int]] = {}
        for name, proc in self.stubs.items():
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=10)
            last = [line for line in err.decode(errors="replace").splitlines() if line.startswith("{")]
            out[name] = ast.literal_eval(last[-1]) if last else {}
        return out

    def close(self) -> None:
        for proc in [*self.stubs.values(), self.edge, self.broker]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(self.db_dir, ignore_errors=True)

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.work / "edge.sqlite3") as con:
            return con.execute(sql, args).fetchall()


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def events(lane: Lane) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for device, event, device_time in lane.query("SELECT device_id, event, device_time FROM events ORDER BY id"):
        out.setdefault(device, {}).setdefault(event, []).append(device_time)
    return out


def mqtt_serials(lane: Lane) -> list[int]:
    rows = lane.query("SELECT payload_json FROM readings WHERE device_id='lock-mqtt' AND message='report'")
    return sorted(json.loads(payload)["serial"] for (payload,) in rows)


def serial_reports(lane: Lane) -> list[tuple[str, str]]:
    """(device time, state) of every stored serial-lock report, singly or in a batch."""
    try:
        rows = lane.query(
            "SELECT r.device_time, h.state_json FROM readings r JOIN lock_history h ON h.reading_id = r.id "
            "WHERE r.device_id='lock-serial'")
    except sqlite3.OperationalError:  # a store from before lock_history (to compare with an older edge)
        rows = lane.query("SELECT device_time, '{\"state\": \"?\"}' FROM readings "
                          "WHERE device_id='lock-serial' AND message IN ('0x0200', '0x0704')")
    return sorted((t, json.loads(state)["state"]) for t, state in rows)


def probe_kills(lane: Lane) -> dict[str, Any]:
    lane.start_broker()
    lane.start_edge()
    time.sleep(2.0)
    stub_args = ["--report-period", "1", "--heartbeat-period", "5", "--response-timeout", "1", "--retries", "3",
                 "--events", "7:opened,21:sealed"]
    lane.start_stub("serial", ["--serial", "--link", str(lane.link), "--terminal", "13912344329",
                               "--lock-id", "SEAL-S", *stub_args])
    lane.start_stub("mqtt", ["--mqtt", f"mqtt://127.0.0.1:{lane.mqtt_port}", "--lane", LANE, "--device", "lock-mqtt",
                             "--terminal", "13912344330", "--lock-id", "SEAL-M", *stub_args])
    t0 = time.monotonic()
    kills = []
    for at in (6.0, 13.0, 20.0, 27.0):  # the opening (7 s) and the sealing (21 s) happen while it is down
        time.sleep(max(0.0, at - (time.monotonic() - t0)))
        lane.kill(lane.edge)
        kills.append(round(time.monotonic() - t0, 1))
        time.sleep(2.5)
        lane.start_edge()
    time.sleep(15.0)  # retransmissions (T, 2T, 6T) and blind-area batches come in
    counters = lane.stop_stubs()
    time.sleep(2.0)
    stored = serial_reports(lane)
    serials = mqtt_serials(lane)
    made_mqtt = counters["mqtt"].get("reports", 0)
    return {
        "probe": "edge SIGKILLed 4 times in 30 s", "kills_at_s": kills, "events": events(lane),
        "serial_lock": {"reports_made": counters["serial"].get("reports", 0), "stored": len(stored),
                        "stored_distinct": len(set(stored)), "retransmissions": counters["serial"].get("retransmissions", 0),
                        "gave_up": counters["serial"].get("gave_up_0x0200", 0),
                        "batches_sent": counters["serial"].get("sent_0x0704", 0)},
        "mqtt_lock": {"reports_made": made_mqtt, "stored": len(serials), "stored_distinct": len(set(serials)),
                      "missing": sorted(set(range(made_mqtt)) - set(serials))},
    }


def probe_broker(lane: Lane) -> dict[str, Any]:
    lane.start_broker()
    lane.start_edge()
    time.sleep(2.0)
    lane.start_stub("mqtt", ["--mqtt", f"mqtt://127.0.0.1:{lane.mqtt_port}", "--lane", LANE, "--device", "lock-mqtt",
                             "--report-period", "0.2"])
    time.sleep(6.0)  # a stream, and the broker's autosave with the edge's session in it
    lane.kill(lane.broker)
    time.sleep(6.0)
    lane.start_broker()
    time.sleep(10.0)
    counters = lane.stop_stubs()
    time.sleep(2.0)
    made = counters["mqtt"].get("reports", 0)
    serials = mqtt_serials(lane)
    return {"probe": "Mosquitto SIGKILLed for 6 s under 5 reports/s", "reports_made": made, "stored": len(serials),
            "lost": len(set(range(made)) - set(serials)), "stub_dropped": counters["mqtt"].get("reports_dropped", 0)}


def probe_poison(lane: Lane) -> dict[str, Any]:
    lane.start_broker()
    lane.start_edge()
    time.sleep(3.0)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="probe-poison")
    client.connect("127.0.0.1", lane.mqtt_port)
    client.loop_start()
    topic = f"kouan/{LANE}/lock-mqtt/report"
    for _ in range(25):
        client.publish(topic, b"[" * 100_000, qos=1).wait_for_publish(10)
    valid = []
    for serial in range(5):
        moment = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + serial))
        valid.append(json.dumps({"terminal": "1", "serial": serial, "lock_id": "SEAL-P", "state": "sealed",
                                 "rope_cut": False, "shell_opened": False, "battery_pct": 80, "latitude": 44.2,
                                 "longitude": 80.4, "time": moment}).encode())
    sent_at = time.monotonic()
    for payload in valid:
        client.publish(topic, payload, qos=1).wait_for_publish(10)
    stored_after = None
    while time.monotonic() - sent_at < 10:
        if len(mqtt_serials(lane)) >= 5:
            stored_after = round(time.monotonic() - sent_at, 3)
            break
        time.sleep(0.02)
    client.disconnect()
    client.loop_stop()
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{lane.web_port}/metrics",
                                     headers={"Authorization": f"Bearer {PROBE_METRICS_TOKEN}"})
    metrics = urllib.request.urlopen(request, timeout=5).read().decode()
    bad = [line for line in metrics.splitlines() if "bad_messages" in line and "lock-mqtt" in line]
    return {"probe": "25 nested-JSON payloads, then 5 valid reports", "valid_stored": len(mqtt_serials(lane)),
            "all_5_stored_after_s": stored_after, "bad_messages_metric": bad}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probe", choices=["kills", "broker", "poison"])
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, database) and print it")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix=f"kouan-probe-{args.probe}-"))
    lane = Lane(work)
    try:
        result = {"kills": probe_kills, "broker": probe_broker, "poison": probe_poison}[args.probe](lane)
    finally:
        lane.close()
    if args.keep:
        result["work"] = str(work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
