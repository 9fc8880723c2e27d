"""`kouan sim smart-lock`: a JT/T 808 smart lock on a pty (`--serial [--link PATH]`, its path
printed) or publishing JSON reports on MQTT (`--mqtt mqtt://host:1883 --lane L --device D`).

Events: --events "5:tamper,8:battery=10,12:silent,20:resume,25:open,30:sealed,40:lock=SEAL-0042"
(`lock=ID`: report as that lock from then on, a fresh sealed one, at once). Ctrl-C and
SIGTERM both end it cleanly: the stub stops (its --link symlink is removed), the counters are
printed on stderr and the exit status is 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from firmware_stubs.cli_runner import run_stub
from firmware_stubs.smart_lock import LockConfig, LockStubBase

HELP = "JT/T 808 smart lock / e-seal: registers, authenticates, heartbeats and reports"


def configure(lock: argparse.ArgumentParser) -> None:
    transport = lock.add_mutually_exclusive_group(required=True)
    transport.add_argument("--serial", action="store_true", help="create a pty and speak JT/T 808 on it")
    transport.add_argument("--mqtt", metavar="URL", help="publish JSON reports to this broker (mqtt://host:port)")
    lock.add_argument("--link", type=Path, help="with --serial: keep a symlink PATH -> the pty")
    lock.add_argument("--lane", default="lane1", help="lane id for the MQTT topics (default lane1)")
    lock.add_argument("--device", default="lock1", help="device id for the MQTT topics (default lock1)")
    lock.add_argument("--terminal", default="013800138000", help="JT/T 808 terminal number, digits")
    lock.add_argument("--lock-id", default="KL-0001", help="lock id carried in the 0xE0 item (until a scripted lock=ID)")
    lock.add_argument("--header", choices=["2013", "2019"], default="2013", help="JT/T 808 header layout")
    lock.add_argument("--events", default="", help='scripted events, e.g. "5:tamper,8:battery=10,12:silent,20:lock=SEAL-0042"')
    lock.add_argument("--report-period", type=float, default=10.0, help="seconds between reports")
    lock.add_argument("--heartbeat-period", type=float, default=30.0, help="seconds between heartbeats")
    lock.add_argument("--response-timeout", type=float, default=5.0, help="T: seconds to wait for 0x8001")
    lock.add_argument("--retries", type=int, default=3, help="N: retransmissions before giving up")
    lock.add_argument("--battery", type=int, default=95, help="battery percent at start")
    lock.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: run on)")


def run(args: argparse.Namespace) -> int:
    from firmware_stubs.lock_events import parse_events

    try:
        events = parse_events(args.events)
    except ValueError as exc:
        print(f"kouan sim: {exc}", file=sys.stderr)
        return 2
    if not args.terminal.isdigit() or len(args.terminal) > (20 if args.header == "2019" else 12):
        print(f"kouan sim: --terminal {args.terminal!r} must be digits (12 max for 2013, 20 for 2019)",
              file=sys.stderr)
        return 2
    config = LockConfig(terminal=args.terminal, lock_id=args.lock_id, protocol_2019=args.header == "2019",
                        report_period_s=args.report_period, heartbeat_period_s=args.heartbeat_period,
                        response_timeout_s=args.response_timeout, retries=args.retries,
                        battery_pct=args.battery, events=events)
    return run_stub(lambda: _make_stub(args, config), args.duration)


def _make_stub(args: argparse.Namespace, config: LockConfig) -> LockStubBase | None:
    """The serial or MQTT stub, its address printed on stdout; None (reason on stderr) if refused."""
    from firmware_stubs.smart_lock import SerialSmartLock

    if args.serial:
        serial_stub = SerialSmartLock(config, link=args.link)
        print(serial_stub.name + (f" (linked as {args.link})" if args.link else ""), flush=True)
        return serial_stub
    from firmware_stubs.smart_lock_mqtt import MqttSmartLock

    try:
        mqtt_stub = MqttSmartLock(config, args.mqtt, args.lane, args.device)
    except ValueError as exc:
        print(f"kouan sim: {exc}", file=sys.stderr)
        return None
    print(f"publishing on {mqtt_stub.report_topic} via {mqtt_stub.host}:{mqtt_stub.port}", flush=True)
    return mqtt_stub
