"""The `kouan` command: one entry point, one subcommand per module in `edge.commands`."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from types import ModuleType

# name -> module under edge.commands; order is the order shown in --help.
SUBCOMMANDS: dict[str, str] = {
    "demo": "demo",
    "edge": "edge_node",
    "infer": "infer",
    "compare": "compare",
    "model": "model",
    "sim": "sim",
    "decode": "decode",
    "iris": "iris",
    "user": "user",
    "dicos": "dicos",
}

# name -> a module outside the edge whose main(argv) parses the rest itself, imported only when run
HANDED_ON: dict[str, tuple[str, str]] = {
    "hub": ("hub.cli", "the central image-review hub: serve, migrate, user, edge, verify-audit (kouan hub --help)"),
}


def _load(module: str) -> ModuleType:
    return importlib.import_module(f"edge.commands.{module}")


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser, one sub-parser per subcommand."""
    parser = argparse.ArgumentParser(
        prog="kouan",
        description="Kouan edge inspection service for border-port lanes.",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging level for all components (default INFO)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in SUBCOMMANDS.items():
        module = _load(module_name)
        sub = subparsers.add_parser(name, help=module.HELP, description=module.__doc__)
        module.configure(sub)
        sub.set_defaults(_run=module.run)
    for name, (target, help_text) in HANDED_ON.items():
        sub = subparsers.add_parser(name, help=help_text, add_help=False)  # --help goes to its own parser
        sub.set_defaults(_takes_rest=True, _run=lambda args, target=target: importlib.import_module(target).main(args._rest))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, set up logging and run the chosen subcommand; return its exit code."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "_takes_rest", False):  # only `kouan sim DEVICE` hands options on
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args._rest = rest
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
