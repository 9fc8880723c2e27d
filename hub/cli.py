"""`kouan hub`: serve the review hub, migrate its schema, add people and edges, verify the audit log.

    kouan hub [--config FILE] [--host H] [--port P]        serve (prints "review hub: http://H:P/")
    kouan hub [--config FILE] migrate                      bring the schema to the newest migration
    kouan hub [--config FILE] user add NAME --role ROLE [--password-stdin]
    kouan hub [--config FILE] edge add NAME --lane LANE [--port PORT]   (prints the token once)
    kouan hub [--config FILE] edge revoke NAME
    kouan hub [--config FILE] verify-audit                 exit 1 naming the first broken entry

Also `python -m hub ...`. Without --config the defaults apply, relative to the working directory.
"""

from __future__ import annotations

import argparse
import gc
import getpass
import logging
import socket
import sys
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class CliError(Exception):
    """A command that cannot be done as asked; the message says why."""


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kouan hub", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="the hub's TOML config file (default: built-in defaults)")
    parser.add_argument("--host", help="address to listen on (default: [web] host)")
    parser.add_argument("--port", dest="listen_port", metavar="PORT", type=int, help="TCP port (default: [web] port; 0 picks a free one)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("migrate", help="bring the database schema to the newest migration")
    commands.add_parser("verify-audit", help="recompute the audit log's hash chain")
    user = commands.add_parser("user", help="people who log in").add_subparsers(dest="action", required=True)
    user_add = user.add_parser("add", help="add a person")
    user_add.add_argument("name")
    user_add.add_argument("--role", required=True, choices=["reviewer", "supervisor", "admin"])
    user_add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    edge = commands.add_parser("edge", help="edges (one lane's node) and their tokens").add_subparsers(dest="action", required=True)
    edge_add = edge.add_parser("add", help="register an edge; prints its token once")
    edge_add.add_argument("name")
    edge_add.add_argument("--lane", required=True, help="the lane whose passages it uploads")
    edge_add.add_argument("--port", dest="border_port", default="default", help="the border port of the lane (default: default)")
    edge_revoke = edge.add_parser("revoke", help="revoke an edge's token")
    edge_revoke.add_argument("name")
    return parser


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise CliError("the two passwords differ")
    return first


def _database(config: Any) -> Any:
    from hub.app import open_database
    from hub.db.engine import upgrade

    database = open_database(config)
    upgrade(database.engine)
    return database


def _migrate(config: Any, _args: argparse.Namespace) -> int:
    _database(config).dispose()
    print("hub schema at the newest migration")
    return 0


def _verify_audit(config: Any, _args: argparse.Namespace) -> int:
    from hub import audit

    database = _database(config)
    try:
        with database.read_session() as s:
            report = audit.verify(s)
    finally:
        database.dispose()
    if report.ok:
        print(f"audit ok: {report.entries} entries")
        return 0
    print(f"audit broken at entry {report.first_bad_id}: {report.reason}", file=sys.stderr)
    return 1


def _user(config: Any, args: argparse.Namespace) -> int:
    from hub import accounts

    password = _password(args.password_stdin)
    database = _database(config)
    try:
        with database.session() as s:
            user = accounts.add_user(s, args.name, args.role, password, _actor())
    finally:
        database.dispose()
    print(f"added {user.role} {user.name}")
    return 0


def _edge(config: Any, args: argparse.Namespace) -> int:
    from hub import accounts

    database = _database(config)
    try:
        with database.session() as s:
            if args.action == "add":
                edge, token = accounts.add_edge(s, args.name, args.lane, args.border_port, _actor())
            else:
                accounts.revoke_edge(s, args.name, _actor())
    finally:
        database.dispose()
    if args.action == "add":
        print(f"added edge {edge.name} for lane {edge.lane} (port {edge.port}); its token, shown this once:")
        print(token)
    else:
        print(f"revoked edge {args.name}")
    return 0


def _serve(config: Any, args: argparse.Namespace) -> int:
    import uvicorn

    from hub.app import create_app

    host = args.host or config.web.host
    port = config.web.port if args.listen_port is None else args.listen_port
    app = create_app(config)
    gc.collect()
    gc.freeze()  # the modules and the app made at startup live as long as the process: kept out of GC passes
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        print(f"kouan hub: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                print(f"review hub: http://{shown}:{bound}/", flush=True)

    server = _Server(uvicorn.Config(app, log_config=None, lifespan="off", timeout_graceful_shutdown=5))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        app.state.hub.database.dispose()
    return 0


_COMMANDS: dict[str | None, Callable[[Any, argparse.Namespace], int]] = {
    None: _serve, "migrate": _migrate, "verify-audit": _verify_audit, "user": _user, "edge": _edge}


def main(argv: list[str] | None = None) -> int:
    """Run `kouan hub` with `argv` (the arguments after `hub`); the exit code."""
    from hub.accounts import AccountError
    from hub.config import ConfigError, load_config

    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                            stream=sys.stderr)
    try:
        config = load_config(args.config)
        return _COMMANDS[args.command](config, args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except (AccountError, CliError) as exc:
        print(f"kouan hub: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
