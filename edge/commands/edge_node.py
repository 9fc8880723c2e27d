"""Run the lane's edge node: devices, store, MQTT, and the lane terminal, from a TOML config."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.config import EdgeConfig

HELP = "run the lane's edge node from a config file"
log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="edge config file (TOML); see docs/operations.md")
    parser.add_argument("--port", type=int, default=None, help="override web.port of the config (0 = any free port)")


async def serve(config: EdgeConfig, ready: asyncio.Future[str] | None = None) -> None:
    """Run an edge until SIGINT/SIGTERM (or `runtime.request_stop()`), then stop cleanly."""
    from edge.runtime import EdgeRuntime

    runtime = EdgeRuntime(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, runtime.request_stop)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        await runtime.start()
        print(f"kouan edge: lane {runtime.lane_id} terminal at {runtime.web_url}", flush=True)
        if ready is not None:
            ready.set_result(runtime.web_url or "")
        await runtime.run_forever()
    finally:
        await runtime.stop()


def run(args: argparse.Namespace) -> int:
    from edge.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.port is not None:
        config.web.port = args.port
    asyncio.run(serve(config))
    return 0
