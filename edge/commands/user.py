"""Who may log in to the lane terminal, kept in the edge's own store.

`kouan user add NAME --role officer|supervisor --config lane.toml` asks for the password twice
(or reads one line with `--password-stdin`); `kouan user passwd NAME --config lane.toml` changes
it and ends that user's sessions; `kouan user list --config lane.toml` shows who there is.
A password has at least 8 characters. An officer sees the lane; a supervisor may also do what
needs a supervisor. Run it beside the running edge or with it stopped (SQLite WAL allows both).
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from pathlib import Path

HELP = "lane-terminal logins: add a user, change a password, list the users"


def configure(parser: argparse.ArgumentParser) -> None:
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    add = tasks.add_parser("add", help="add a user who may log in to the lane terminal", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    add.add_argument("name", help="the login name (1 to 64 of A-Z a-z 0-9 . _ @ -)")
    add.add_argument("--role", required=True, choices=["officer", "supervisor"], help="what the user may do")
    passwd = tasks.add_parser("passwd", help="change a user's password (ends their sessions)")
    passwd.add_argument("name", help="the login name")
    listing = tasks.add_parser("list", help="list the users")
    for sub in (add, passwd, listing):
        sub.add_argument("--config", type=Path, required=True, help="the edge's TOML config (store path)")
    for sub in (add, passwd):
        sub.add_argument("--password-stdin", action="store_true",
                         help="read the password from the first line of standard input instead of asking")


def _password(args: argparse.Namespace) -> str:
    """The new password: one line of stdin, or typed twice (UserError if the two differ)."""
    from edge.users import UserError

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("the same again: ") != first:
        raise UserError("the two passwords differ; nothing changed")
    return first


def run(args: argparse.Namespace) -> int:
    from edge.config import ConfigError, load_config
    from edge.store import Store
    from edge.store_schema import store_migrations
    from edge.users import UserExists, UserError, add_user, list_users, set_password

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"kouan user: {exc}", file=sys.stderr)
        return 2
    store = Store(config.store.path, store_migrations())  # the whole schema, as the runtime opens it
    try:
        if args.task == "list":
            for account in list_users(store):
                created = time.strftime("%Y-%m-%d %H:%M", time.localtime(account.created_at))
                state = "  disabled" if account.disabled else ""
                print(f"{account.user.name}\t{account.user.role}\tadded {created}{state}")
            return 0
        known = {account.user.name for account in list_users(store)}
        if args.task == "add" and args.name in known:
            print(f"kouan user add: user {args.name} exists; change the password with `kouan user passwd "
                  f"{args.name}`, see who there is with `kouan user list`", file=sys.stderr)
            return 2
        if args.task == "passwd" and args.name not in known:
            print(f"kouan user passwd: no user {args.name} (`kouan user list` shows who there is)", file=sys.stderr)
            return 2
        password = _password(args)
        if args.task == "add":
            user = add_user(store, args.name, args.role, password)
            print(f"user {user.name} added as {user.role}")
        else:
            set_password(store, args.name, password)
            print(f"password of {args.name} changed; their sessions ended")
        return 0
    except UserExists as exc:  # added by someone else meanwhile
        print(f"kouan user {args.task}: {exc}; change the password with `kouan user passwd {args.name}`",
              file=sys.stderr)
        return 2
    except UserError as exc:
        print(f"kouan user {args.task}: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
