"""Iris reader tasks on the edge's own store.

`kouan iris enrol --config lane.toml --card CARD123 --from-captures 3`: enrol a card holder from
the card's last N captures that the edge stored and that passed the lane's quality gate (present
the card and eye N times at the reader first: each shows as `not_enrolled` until then). Every
pair of them must match under the lane's rule, or nothing is enrolled; a card enrolled before has
its templates replaced. The enrolment is recorded as a reading with an `enrolled` event.
Run it beside the running edge or with it stopped (SQLite WAL allows both).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

HELP = "iris reader tasks: enrol a card holder from the edge's stored captures"


def configure(parser: argparse.ArgumentParser) -> None:
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    enrol = tasks.add_parser("enrol", help="enrol a card from its last N good captures stored by the edge",
                             description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    enrol.add_argument("--config", type=Path, required=True, help="the edge's TOML config (store path, iris devices)")
    enrol.add_argument("--card", required=True, help="the driver's card id, as the reader reads it")
    enrol.add_argument("--from-captures", type=int, default=3, metavar="N",
                       help="use the card's last N captures that passed the quality gate (at least 2; default 3)")
    enrol.add_argument("--device", help="the iris device to record it under (default: the config's only one)")
    enrol.add_argument("--by", default=None, help="who enrols (default: the login name)")


def run(args: argparse.Namespace) -> int:
    from edge.config import ConfigError, load_config
    from edge.kinds.iris.enrol_store import EnrolError, enrol_card
    from edge.media import MediaError

    try:
        config = load_config(args.config)
        who = args.by if args.by is not None else getpass.getuser()
        result = enrol_card(config, args.card, args.from_captures, args.device, who)
    except (ConfigError, EnrolError, MediaError) as exc:
        print(f"kouan iris enrol: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"card_id": result.card_id, "device_id": result.device_id, "templates": len(result.template_ids),
                      "from_readings": result.from_readings, "agreement": result.agreement}))
    return 0
