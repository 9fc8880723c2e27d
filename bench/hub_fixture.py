"""What the uplink benchmarks share: a real hub process, a bare HTTP server, images, CPU clocks.

    hub = HubProcess.start(tmp / "hub", lane="bench-lane")     # `python -m hub` on SQLite, free port
    hub.url, hub.token, hub.reviewer                           # its URL, the edge's token, a login
    bare = BareServer.start(tmp / "bare")                      # uvicorn + Starlette, another process

`HubProcess` makes the hub's SQLite store and blob folder, migrates it and adds one edge (the
bench's lane) and one reviewer in this process (hub.db, hub.accounts: what `kouan hub migrate /
edge add / user add` call), then serves it with `python -m hub --config FILE --port 0` and reads
the URL it prints. `timed=True` serves it through this file's `hub` command instead: the same
`hub.cli.main`, with the hub's per-file steps wrapped in wall-clock timers (`TIMED`) and a
cProfile of the thread-pool calls that do them; `SIGUSR1` makes it write both to a JSON file
(`HubProcess.timings()`).

The bare server (`python bench/hub_fixture.py bare DIR`) is the baseline: the same uvicorn
(httptools, uvloop, one worker), a Starlette app with `PATCH /upload/{name}` that appends the
request body to `DIR/name` as it streams in (no hashing, no checks, no database; no fsync unless
`?fsync=1`, which fsyncs the file after each body: the disk's share of the hub's cost) and a
long poll (`GET /wait` returns when `POST /wake` is called; `GET /waiting` counts those waiting).
"""

from __future__ import annotations

import asyncio
import cProfile
import functools
import io
import json
import os
import pstats
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REVIEWER, REVIEWER_PASSWORD = "bench-reviewer", "bench-reviewer-password"
EDGE = "bench-edge"
# the hub's steps timed with `timed=True`: (module, attribute path); nested steps are inside their callers
TIMED = (("hub.routes.ingest", "_read_chunk"), ("hub.uploads", "Uploads.append"), ("hub.uploads", "Uploads.open"),
         ("hub.uploads", "Uploads.status"), ("hub.uploads", "Uploads._finish"), ("hub.uploads", "Uploads._save"),
         ("hub.uploads", "Uploads._load"), ("hub.uploads", "Uploads._held"), ("hub.uploads", "Uploads._record"),
         ("hub.uploads", "sha256_file"), ("hub.uploads", "check_image"), ("hub.blobs", "DiskBlobStore.put_file"),
         ("os", "fsync"))


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` (all its threads) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _url_line(proc: subprocess.Popen[bytes], prefix: str, log: Path) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if not line.startswith(prefix):
        proc.kill()
        raise RuntimeError(f"{prefix!r} did not start: {line!r}; {log.read_text(errors='replace')[-2000:]}")
    return line.split(": ", 1)[1].strip().rstrip("/")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class HubProcess:
    """A served hub (see the module docstring); `stop()` ends it."""

    proc: subprocess.Popen[bytes]
    url: str
    token: str
    root: Path
    timings_file: Path | None
    clients: list[httpx.Client] = field(default_factory=list)

    @classmethod
    def start(cls, root: Path, lane: str, timed: bool = False) -> HubProcess:
        from hub import accounts
        from hub.db.engine import Database, make_engine, upgrade

        root.mkdir(parents=True, exist_ok=True)
        config = root / "hub.toml"
        config.write_text(f'[hub]\nname = "bench-hub"\n[database]\nurl = "sqlite:///{root / "hub.sqlite3"}"\n'
                          f'[blobs]\nroot = "{root / "blobs"}"\n', encoding="utf-8")
        database = Database(make_engine(f"sqlite:///{root / 'hub.sqlite3'}"))
        upgrade(database.engine)
        with database.session() as s:
            _edge, token = accounts.add_edge(s, EDGE, lane, "bench-port", actor="bench")
            accounts.add_user(s, REVIEWER, "reviewer", REVIEWER_PASSWORD, actor="bench")
        database.dispose()
        timings = root / "timings.json" if timed else None
        command = ([sys.executable, str(Path(__file__).resolve()), "hub", str(timings), "--"] if timed
                   else [sys.executable, "-m", "hub"]) + ["--config", str(config), "--port", "0"]
        log = root / "hub.log"
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log.open("ab"))
        return cls(proc, _url_line(proc, "review hub: ", log), token, root, timings)

    def login(self) -> httpx.Client:
        """An httpx client logged in as the bench's reviewer, sending its CSRF token."""
        client = httpx.Client(base_url=self.url, timeout=30.0)
        answer = client.post("/api/v1/login", json={"name": REVIEWER, "password": REVIEWER_PASSWORD})
        answer.raise_for_status()
        client.headers["X-CSRF-Token"] = answer.json()["csrf"]
        self.clients.append(client)
        return client

    def cpu_s(self) -> float:
        return cpu_s(self.proc.pid)

    def timings(self) -> dict[str, Any]:
        """The timed hub's cumulative step timers and profile so far (SIGUSR1, then its file)."""
        assert self.timings_file is not None, "the hub was not started with timed=True"
        self.timings_file.unlink(missing_ok=True)
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                return json.loads(self.timings_file.read_text(encoding="utf-8"))
            except (FileNotFoundError, ValueError):
                time.sleep(0.05)
        raise TimeoutError("the timed hub wrote no timings")

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        _stop(self.proc)


@dataclass
class BareServer:
    """The baseline server in its own process (see the module docstring)."""

    proc: subprocess.Popen[bytes]
    url: str
    folder: Path

    @classmethod
    def start(cls, folder: Path) -> BareServer:
        folder.mkdir(parents=True, exist_ok=True)
        log = folder.parent / "bare.log"
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "bare", str(folder)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=log.open("ab"))
        return cls(proc, _url_line(proc, "bare: ", log), folder)

    def cpu_s(self) -> float:
        return cpu_s(self.proc.pid)

    def clear(self) -> None:
        """Delete what was uploaded to it so far."""
        for path in self.folder.iterdir():
            path.unlink()

    def stop(self) -> None:
        _stop(self.proc)


def tiff_bytes(side_w: int, side_h: int, tag: int, base: np.ndarray | None = None) -> bytes:
    """An uncompressed 16-bit TIFF of noise, `side_w * side_h * 2` bytes and a header, its own by `tag`."""
    planes = (base if base is not None else np.random.default_rng(7).integers(
        2000, 60000, size=(side_h, side_w), dtype=np.uint16)).copy()
    row = (8 * tag) % max(1, side_h - 8)
    planes[row:row + 8, :] = 1000 + tag % 50000  # a stripe of its own
    planes[0, :4] = np.frombuffer(tag.to_bytes(8, "little"), dtype=np.uint16)
    ok, data = cv2.imencode(".tiff", planes, [cv2.IMWRITE_TIFF_COMPRESSION, 1])
    if not ok:
        raise RuntimeError("OpenCV did not encode the TIFF")
    return data.tobytes()


def load_line() -> str:
    load = os.getloadavg()
    return f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"


# ---------------------------------------------------------------- the served sides (subcommands)

class _Timers:
    """Cumulative wall time and calls of wrapped functions, and a cProfile of the wrapped thread calls."""

    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = {}
        self.lock = threading.Lock()
        self.profile = cProfile.Profile()
        self.profiling = threading.Lock()  # one thread at a time under the profile

    def add(self, name: str, took: float) -> None:
        with self.lock:
            entry = self.totals.setdefault(name, [0.0, 0])
            entry[0] += took
            entry[1] += 1

    def wrap(self, name: str, fn: Callable[..., Any], profiled: bool) -> Callable[..., Any]:
        if asyncio.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    self.add(name, time.perf_counter() - start)
            return timed_async

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                if profiled and self.profiling.acquire(blocking=False):
                    try:
                        return self.profile.runcall(fn, *args, **kwargs)
                    finally:
                        self.profiling.release()
                return fn(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - start)
        return timed

    def dump(self, path: Path) -> None:
        with self.profiling:
            text = io.StringIO()
            try:
                pstats.Stats(self.profile, stream=text).sort_stats("tottime").print_stats(25)
            except TypeError:  # nothing profiled yet
                text.write("(nothing profiled)")
        with self.lock:
            data = {"steps": {k: {"s": v[0], "calls": v[1]} for k, v in self.totals.items()},
                    "profile": text.getvalue()}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)


def _serve_timed_hub(out: Path, argv: list[str]) -> int:
    import importlib

    from hub import cli

    timers = _Timers()
    for module_name, attr in TIMED:
        owner: Any = importlib.import_module(module_name)
        *outer, last = attr.split(".")
        for part in outer:
            owner = getattr(owner, part)
        if not hasattr(owner, last):  # a step the hub no longer has
            continue
        setattr(owner, last, timers.wrap(f"{module_name}.{attr}", getattr(owner, last),
                                         profiled=attr in ("Uploads.append", "Uploads.open", "Uploads.status")))
    signal.signal(signal.SIGUSR1, lambda *_: threading.Thread(target=timers.dump, args=(out,)).start())
    return cli.main(argv)


def _bare_app(folder: Path) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    woken: list[asyncio.Event] = [asyncio.Event()]
    waiting = [0]

    async def upload(request: Request) -> JSONResponse:
        received = 0
        with (folder / Path(request.path_params["name"]).name).open("ab") as out:
            async for part in request.stream():
                out.write(part)
                received += len(part)
            if request.query_params.get("fsync") == "1":
                out.flush()
                os.fsync(out.fileno())
        return JSONResponse({"received": received})

    async def wait(request: Request) -> JSONResponse:
        event = woken[0]
        waiting[0] += 1
        try:
            await asyncio.wait_for(event.wait(), float(request.query_params.get("timeout", "10")))
        except TimeoutError:
            return JSONResponse({"woken": False})
        finally:
            waiting[0] -= 1
        return JSONResponse({"woken": True})

    async def waiters(_request: Request) -> JSONResponse:
        return JSONResponse({"waiting": waiting[0]})

    async def wake(_request: Request) -> JSONResponse:
        event, woken[0] = woken[0], asyncio.Event()
        event.set()
        return JSONResponse({"woke": waiting[0]})

    return Starlette(routes=[Route("/upload/{name}", upload, methods=["PATCH"]),
                             Route("/wait", wait, methods=["GET"]), Route("/waiting", waiters, methods=["GET"]),
                             Route("/wake", wake, methods=["POST"])])


def _serve_bare(folder: Path) -> int:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                print(f"bare: http://127.0.0.1:{port}/", flush=True)

    _Server(uvicorn.Config(_bare_app(folder), log_config=None, lifespan="off", access_log=False)).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["bare"] and len(sys.argv) == 3:
        sys.exit(_serve_bare(Path(sys.argv[2])))
    if sys.argv[1:2] == ["hub"] and len(sys.argv) >= 4 and sys.argv[3] == "--":
        sys.exit(_serve_timed_hub(Path(sys.argv[2]), sys.argv[4:]))
    print("usage: hub_fixture.py bare DIR | hub TIMINGS_JSON -- HUB_ARGS...", file=sys.stderr)
    sys.exit(2)
