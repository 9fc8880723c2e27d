"""Run one firmware stub (a simulated device) until Ctrl-C, SIGTERM or --duration.

`kouan sim DEVICE ...`: each device's stub has its own options (`kouan sim DEVICE --help`). The
stubs live in `firmware_stubs/`, one command module each (`HELP`, `configure(parser)`,
`run(args)`), found from the table below; only the chosen one is imported, when it runs.
"""

from __future__ import annotations

import argparse
import importlib

HELP = "run a simulated device (firmware stub): " + ", ".join(
    ["smart-lock", "empty-box", "under-vehicle", "iris", "scanner"])

# device name on the command line -> its stub's command module
STUBS: dict[str, tuple[str, str]] = {
    "smart-lock": ("firmware_stubs.smart_lock_cli", "JT/T 808 smart lock / e-seal, over a pty or MQTT"),
    "empty-box": ("firmware_stubs.empty_box_cli", "container empty-box detector: Modbus RTU on a pty, images on MQTT"),
    "under-vehicle": ("firmware_stubs.under_vehicle", "HD under-vehicle line-scan camera on MQTT"),
    "iris": ("firmware_stubs.iris_reader", "iris reader for driver self-service clearance, over a pty or MQTT"),
    "scanner": ("firmware_stubs.scanner", "large container scanner: notices on MQTT, scans in a watched folder"),
}


def configure(parser: argparse.ArgumentParser) -> None:
    devices = parser.add_subparsers(dest="device_kind", metavar="DEVICE", required=True)
    for name, (_module, help_text) in STUBS.items():
        sub = devices.add_parser(name, help=help_text, add_help=False)  # --help goes to the stub's own parser
        sub.set_defaults(_takes_rest=True)


def run(args: argparse.Namespace) -> int:
    module = importlib.import_module(STUBS[args.device_kind][0])
    parser = argparse.ArgumentParser(prog=f"kouan sim {args.device_kind}", description=module.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    module.configure(parser)
    return int(module.run(parser.parse_args(args._rest)) or 0)
