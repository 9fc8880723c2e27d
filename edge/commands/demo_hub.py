"""The review hub that `kouan demo` starts beside its lane, through the hub's own command.

The edge never imports the hub (only `contract` crosses), so the demo drives it as an operator
would: `python -m hub --config <workdir>/hub/hub.toml migrate`, `user add`, `edge add`, then the
server, whose `review hub: URL` line it reads. The demo's reviewer and supervisor passwords and the
lane's edge token are made once per workdir and kept beside the hub's database (mode 0600); a hub
folder whose kept secrets are missing is made anew, so a kept password always logs in.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PEOPLE = (("reviewer", "reviewer"), ("supervisor", "supervisor"))
HUB_CONFIG = """\
# Written by `kouan demo`; a real hub's config looks the same (see docs/operations.md).
[hub]
name = "Demo image-review hub"

[database]
url = "sqlite:///{db}"

[blobs]
root = "{blobs}"

[review]
lease_s = 60
recheck_share = 0.2
"""


@dataclass(frozen=True)
class DemoHub:
    """A running demo hub: its process, URL, people's passwords and the lane's token file."""

    process: subprocess.Popen[bytes]
    url: str
    passwords: dict[str, str]
    token_file: Path


def _hub(config: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "hub", "--config", str(config), *args], input=stdin,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"kouan demo: `kouan hub {' '.join(args)}` failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def _write_secret(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")


def _prepare(folder: Path, lane: str) -> tuple[Path, dict[str, str], Path]:
    """The hub's config, its people's passwords and the lane's token file, made once per workdir."""
    kept = {name: folder / f"{name}-password" for name, _ in PEOPLE}
    token_file = folder / "edge-token"
    config = folder / "hub.toml"
    if not (config.is_file() and token_file.is_file() and all(p.is_file() for p in kept.values())):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        config.write_text(HUB_CONFIG.format(db=folder / "hub.sqlite3", blobs=folder / "blobs"), encoding="utf-8")
        _hub(config, "migrate")
        for name, role in PEOPLE:
            password = secrets.token_urlsafe(12)
            _hub(config, "user", "add", name, "--role", role, "--password-stdin", stdin=password + "\n")
            _write_secret(kept[name], password)
        printed = _hub(config, "edge", "add", f"{lane}-edge", "--lane", lane, "--port", "demo-port")
        _write_secret(token_file, printed.strip().splitlines()[-1].split()[-1])
    passwords = {name: path.read_text(encoding="utf-8").strip() for name, path in kept.items()}
    return config, passwords, token_file


def start_demo_hub(workdir: Path, lane: str, port: int, log_path: Path) -> DemoHub:
    """Start the hub on `port` (0: a free one) and wait for its `review hub: URL` line."""
    config, passwords, token_file = _prepare(workdir / "hub", lane)
    process = subprocess.Popen([sys.executable, "-m", "hub", "--config", str(config), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=log_path.open("ab"))
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    if not line.startswith("review hub: "):
        process.kill()
        raise SystemExit(f"kouan demo: the review hub did not start (see {log_path}): {line.strip()}")
    return DemoHub(process, line.split(": ", 1)[1].strip(), passwords, token_file)
