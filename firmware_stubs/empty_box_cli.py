"""`kouan sim empty-box`: run the empty-box detector stub until Ctrl-C, SIGTERM or --duration.

`kouan sim empty-box --serial [--link PATH] [--mqtt mqtt://host:1883] --lane L --device D --unit 1
--baud 19200 --events "3:truck=CSQU3054383/empty,12:truck=MSKU1234565/full,20:silent,25:resume,30:error=4"`
prints the pty path on stdout (the driver opens it, or PATH), serves the registers and publishes
each scan's image. Ctrl-C and SIGTERM end it cleanly: the link is removed, the counters are
printed on stderr as the last line, and the exit status is 0. A bad option exits 2 with the reason.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from firmware_stubs.cli_runner import run_stub

HELP = "container empty-box detector: Modbus RTU on a pty, interior images on MQTT"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the empty-box stub's options to `parser` (a `kouan sim` sub-parser)."""
    parser.add_argument("--serial", action="store_true", required=True, help="create a pty and serve Modbus RTU on it")
    parser.add_argument("--link", type=Path, help="keep a symlink PATH -> the pty")
    parser.add_argument("--mqtt", metavar="URL", help="publish interior images to this broker (mqtt://host:port)")
    parser.add_argument("--lane", default="lane1", help="lane id for the MQTT topics (default lane1)")
    parser.add_argument("--device", default="ebox1", help="device id for the MQTT topics (default ebox1)")
    parser.add_argument("--unit", type=int, default=1, help="Modbus unit id, 1-247 (default 1)")
    parser.add_argument("--baud", type=int, default=19200,
                        help="nominal baud rate (default 19200, 8E1); a pty carries no line, so it is only reported")
    parser.add_argument("--image", choices=["camera", "transmission"], default="camera",
                        help="8-bit camera or 16-bit transmission images (default camera)")
    parser.add_argument("--startup", type=float, default=2.0, help="seconds in status 'starting' (default 2)")
    parser.add_argument("--scan-time", type=float, default=0.7, help="seconds from scanning to result (default 0.7)")
    parser.add_argument("--events", default="",
                        help='scripted events, e.g. "3:truck=CSQU3054383/empty,20:silent,25:resume,30:error=4"')
    parser.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: run on)")


def run(args: argparse.Namespace) -> int:
    """Run the stub; 0 after a clean stop, 2 for a bad option."""
    from firmware_stubs.empty_box import DetectorConfig, EmptyBoxStub, parse_events

    try:
        events = parse_events(args.events)
        if not 1 <= args.unit <= 247:
            raise ValueError(f"--unit {args.unit} must be 1-247")
        if args.mqtt:
            from drivers.mqtt_url import parse_mqtt_url
            parse_mqtt_url(args.mqtt)
    except ValueError as exc:
        print(f"kouan sim: {exc}", file=sys.stderr)
        return 2
    config = DetectorConfig(unit=args.unit, lane=args.lane, device=args.device, image_kind=args.image,
                            startup_s=args.startup, scan_s=args.scan_time, events=events)
    return run_stub(lambda: EmptyBoxStub(config, link=args.link, mqtt_url=args.mqtt), args.duration,
                    lambda stub: print(stub.name + (f" (linked as {args.link})" if args.link else "")
                                       + f", unit {args.unit}, {args.baud} 8E1", flush=True))
