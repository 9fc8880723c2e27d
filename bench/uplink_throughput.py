"""Upload throughput of the edge's real uplink into a real hub, against a bare HTTP upload of the same bytes.

    python bench/uplink_throughput.py [--scans 10] [--mb 30] [--rounds 5] [--piece N] [--parallel N] [--timed] [--json FILE]

Uplink: `tests.uplink_edge.EdgeUplink` (the lane's store, media store, passage service and
`edge.uplink.link.Uplink`, wired as the runtime wires them, on an event-loop thread of this
process). `--scans` uncompressed 16-bit TIFFs of `--mb` MB each go into its media store; one
flagged under-vehicle reading per scan (the stand-in kind of tests/uplink_lane.py) queues a blob
row and a passage row each in the outbox, with the uplink not yet running. Timed: from starting
the uplink (worker, verdict follower, depth watch) until the hub has confirmed every blob and
every passage (the worker's counters, looked at every 5 ms). The hub is `python -m hub`
(bench/hub_fixture.py: SQLite, blobs on disk, loopback, its own process).

Baseline: the same files (same paths, so the same page cache), the same chunk size (8 MiB, the
contract's `MAX_CHUNK`, the uplink's default) and the same pieces (the worker's reads with no
bandwidth cap, `PIECE_UNCAPPED`, 1 MiB; `--piece` sets both sides' for a comparison), streamed by an
`httpx.AsyncClient` as one PATCH per chunk to a bare uvicorn + Starlette endpoint in another
process that only appends the body to a file (bench/hub_fixture.py `BareServer`).

A third arm, for information: the same bare upload with the server fsyncing the file after each
chunk (`?fsync=1`), as the hub does; the bare server's files are deleted after each arm, so
without it their bytes never reach the disk, while the hub's do.

Each round uses fresh scans (the hub keeps what it had; a re-sent blob would cost nothing) and
runs the three arms, rotating which goes first; MB/s are medians over the rounds, MB = 10^6
bytes, ratio = uplink MB/s / bare MB/s (the aim: at least 0.8), also each round's own ratio
(its arms ran back to back, so they shared the machine's load), medianed. Printed besides: the
CPU seconds each process used per arm (hub or bare server, and this process: the edge or the
bare client).
`--timed` serves the hub through bench/hub_fixture.py's timed wrapper: the hub's per-file steps
(body read, append, fsync, offset record, SHA-256, image check, store, record) summed per round,
and a cProfile of its upload calls, to say where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.hub_fixture import BareServer, HubProcess, load_line, tiff_bytes  # noqa: E402
from contract.uplink import CHUNK_CONTENT_TYPE, MAX_CHUNK  # noqa: E402
from edge.uplink import worker  # noqa: E402
from edge.uplink.config import UplinkConfig  # noqa: E402
from tests.uplink_edge import EdgeUplink  # noqa: E402
from tests.uplink_lane import pass_payload  # noqa: E402

LANE = "bench-uplink"
AIM = 0.8
ARMS = ("uplink", "bare", "bare_fsync")
LABELS = {"uplink": "uplink -> python -m hub (SQLite)", "bare": "bare httpx -> uvicorn append",
          "bare_fsync": "(info) bare, fsync after each chunk"}
HUB_DOES = ("per file: HEAD, then POST (opens the upload: part file and its uploads row); per 8 MiB chunk: "
            "the body buffered whole, the blob and row looked up, the chunk written, fsynced and added to the "
            "running SHA-256, its offset and generation committed to the uploads row (SQLite); after the last "
            "chunk the image check (header; an uncompressed TIFF's strips inside the file and a sample of rows "
            "decoded), fsync + rename + "
            "folder fsync into the blob store, a blob row committed; then the passage PUT (document validated, "
            "passage, keys, review item and audit rows committed); an access-log line per request. The edge: "
            "an outbox transaction before and after each item, each piece read in a worker thread")


@dataclass
class Scan:
    name: str
    path: Path
    size: int


def make_round(edge: EdgeUplink, args: argparse.Namespace, round_no: int, base: np.ndarray) -> list[Scan]:
    """The round's scans in the edge's media store, and their passages queued (uplink not running)."""
    scans = []
    for k in range(args.scans):
        data = tiff_bytes(base.shape[1], base.shape[0], round_no * 1000 + k, base)
        sha = edge.media.put_bytes(data).sha256
        scans.append(Scan(sha, edge.media.path(sha), len(data)))
        edge.reading(pass_payload(f"B{round_no:02d}{k:04d}", [sha]))
    kinds = sorted(row["kind"] for row in edge.rows())
    if kinds != ["blob"] * args.scans + ["passage"] * args.scans:
        raise RuntimeError(f"the outbox holds {kinds}, not one blob and one passage per scan")
    return scans


def uplink_arm(edge: EdgeUplink, hub: HubProcess, scans: list[Scan], timeout: float) -> dict[str, float]:
    assert edge.uplink is not None
    uplink, stats = edge.uplink, edge.uplink.stats

    async def start() -> None:
        uplink.start()

    cpu0, hub0, start_at = time.process_time(), hub.cpu_s(), time.monotonic()
    edge.run(start())
    blobs_at = None
    while stats.blobs_sent < len(scans) or stats.passages_sent < len(scans):
        if stats.refused_now or time.monotonic() - start_at > timeout:
            raise RuntimeError(f"uplink: {stats.blobs_sent} blobs, {stats.passages_sent} passages after "
                               f"{time.monotonic() - start_at:.0f} s; refused {stats.refused_now}; {stats.last_error}")
        if blobs_at is None and stats.blobs_sent >= len(scans):
            blobs_at = time.monotonic()
        time.sleep(0.005)
    took = time.monotonic() - start_at
    cpu, hub_cpu = time.process_time() - cpu0, hub.cpu_s() - hub0
    for scan in scans:   # the hub holds each file whole (it checked the SHA-256 itself)
        stored = hub.root / "blobs" / scan.name[:2] / scan.name[2:4] / scan.name
        if not stored.is_file() or stored.stat().st_size != scan.size:
            raise RuntimeError(f"the hub does not hold {scan.name} whole")
    return {"s": took, "blobs_s": (blobs_at or time.monotonic()) - start_at, "server_cpu_s": hub_cpu,
            "client_cpu_s": cpu, "bytes_sent": float(stats.bytes_sent)}


async def _bare_upload(url: str, scans: list[Scan], chunk: int, fsync: bool) -> float:
    async def pieces(handle: Any, length: int) -> Any:
        left = length
        while left > 0:
            piece = handle.read(min(worker.PIECE_UNCAPPED, left))
            left -= len(piece)
            yield piece

    async with httpx.AsyncClient(base_url=url, timeout=60.0) as client:
        start = time.monotonic()
        for scan in scans:
            with scan.path.open("rb") as handle:
                for offset in range(0, scan.size, chunk):
                    length = min(chunk, scan.size - offset)
                    answer = await client.patch(f"/upload/{scan.name}", content=pieces(handle, length),
                                                params={"fsync": "1"} if fsync else None,
                                                headers={"Content-Length": str(length),
                                                         "Content-Type": CHUNK_CONTENT_TYPE})
                    answer.raise_for_status()
                    if answer.json()["received"] != length:
                        raise RuntimeError(f"bare server received {answer.json()} of {length}")
        return time.monotonic() - start


def bare_arm(bare: BareServer, scans: list[Scan], chunk: int, fsync: bool) -> dict[str, float]:
    cpu0, srv0 = time.process_time(), bare.cpu_s()
    took = asyncio.run(_bare_upload(bare.url, scans, chunk, fsync))
    cpu, srv = time.process_time() - cpu0, bare.cpu_s() - srv0
    for scan in scans:
        if (bare.folder / scan.name).stat().st_size != scan.size:
            raise RuntimeError(f"the bare server holds {(bare.folder / scan.name).stat().st_size} of {scan.size}")
    bare.clear()
    return {"s": took, "server_cpu_s": srv, "client_cpu_s": cpu}


def step_diff(after: dict[str, Any], before: dict[str, Any]) -> dict[str, dict[str, float]]:
    out = {}
    for name, now in after["steps"].items():
        was = before["steps"].get(name, {"s": 0.0, "calls": 0})
        out[name] = {"s": now["s"] - was["s"], "calls": now["calls"] - was["calls"]}
    return out


def mean_steps(steps: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    summed: dict[str, dict[str, float]] = {}
    for one in steps:
        for key, value in one.items():
            entry = summed.setdefault(key, {"s": 0.0, "calls": 0.0})
            entry["s"] += value["s"] / len(steps)
            entry["calls"] += value["calls"] / len(steps)
    return summed


def run_rounds(args: argparse.Namespace, tmp: Path, hub: HubProcess, bare: BareServer
               ) -> tuple[dict[str, list[dict[str, float]]], list[dict[str, dict[str, float]]], str, int]:
    """Every round: fresh scans queued at a fresh edge, then the three arms in a rotating order."""
    side = int(round(math.sqrt(args.mb * 1e6 / 2)))
    base = np.random.default_rng(7).integers(2000, 60000, size=(side, side), dtype=np.uint16)
    results: dict[str, list[dict[str, float]]] = {arm: [] for arm in ARMS}
    steps: list[dict[str, dict[str, float]]] = []
    profile, total = "", 0
    for r in range(args.rounds):
        root = tmp / f"edge-{r}"
        root.mkdir()
        edge = EdgeUplink(root, hub.url, hub.token, lane=LANE, chunk_bytes=args.chunk, timeout_s=60.0,
                          parallel_uploads=args.parallel)
        try:
            edge.start(uplink=False)
            scans = make_round(edge, args, r, base)
            total = sum(s.size for s in scans)
            for arm in ARMS[r % 3:] + ARMS[:r % 3]:
                if arm == "uplink":
                    before = hub.timings() if args.timed else None
                    figures = uplink_arm(edge, hub, scans, timeout=120 + total / 1e6)
                    if before is not None:
                        after = hub.timings()
                        steps.append(step_diff(after, before))
                        profile = after["profile"]
                else:
                    figures = bare_arm(bare, scans, args.chunk, fsync=arm == "bare_fsync")
                figures["mb_s"] = total / 1e6 / figures["s"]
                figures["round"] = r
                results[arm].append(figures)
                print(f"round {r + 1}/{args.rounds} {arm:10s}: {total / 1e6:.0f} MB in {figures['s']:.2f} s = "
                      f"{figures['mb_s']:6.1f} MB/s (server CPU {figures['server_cpu_s']:.2f} s, this process "
                      f"{figures['client_cpu_s']:.2f} s)", flush=True)
        finally:
            edge.stop()
            edge.close()
        shutil.rmtree(root)
    return results, steps, profile, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scans", type=int, default=10, help="scans per round (default 10)")
    parser.add_argument("--mb", type=float, default=30.0, help="MB per scan, square 16-bit TIFF (default 30)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the three arms, rotating (default 5)")
    parser.add_argument("--chunk", type=int, default=MAX_CHUNK, help=f"bytes per PATCH (default {MAX_CHUNK})")
    parser.add_argument("--piece", type=int, help=f"bytes per read on both sides (default the worker's "
                                                  f"{worker.PIECE_UNCAPPED})")
    parser.add_argument("--parallel", type=int, default=UplinkConfig.model_fields["parallel_uploads"].default,
                        help="the uplink's [uplink] parallel_uploads (default the config's, %(default)s)")
    parser.add_argument("--timed", action="store_true", help="the hub's steps timed and its upload calls profiled")
    parser.add_argument("--json", type=Path, help="also write the figures to this file as JSON")
    args = parser.parse_args()
    if args.piece:
        worker.PIECE_UNCAPPED = args.piece  # the uplink's reads (no bandwidth cap here) and the bare client's
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kouan-bench-uplink-") as name:
        tmp = Path(name)
        hub = HubProcess.start(tmp / "hub", LANE, timed=args.timed)
        try:
            bare = BareServer.start(tmp / "bare")
            try:
                results, steps, profile, total = run_rounds(args, tmp, hub, bare)
            finally:
                bare.stop()
        finally:
            hub.stop()
    medians = {arm: statistics.median(f["mb_s"] for f in rows) for arm, rows in results.items()}
    per_round = {arm: [u["mb_s"] / b["mb_s"] for u, b in zip(results["uplink"], results[arm])]
                 for arm in ("bare", "bare_fsync")}
    ratio = medians["uplink"] / medians["bare"]
    print(load_line())
    side = int(round(math.sqrt(args.mb * 1e6 / 2)))
    print(f"scans: {args.rounds} rounds of {args.scans} x {total / args.scans / 1e6:.1f} MB 16-bit TIFF "
          f"({side} x {side}), chunks of {args.chunk} bytes, pieces of {worker.PIECE_UNCAPPED}, "
          f"{args.parallel} uplink upload(s) at once; "
          f"{time.monotonic() - started:.0f} s in all")
    for arm, label in LABELS.items():
        rows = results[arm]
        each = ", ".join(format(f["mb_s"], ".1f") for f in rows)
        print(f"{label:40s} median {medians[arm]:6.1f} MB/s  (rounds {each})"
              f"; CPU per round: server {statistics.median(f['server_cpu_s'] for f in rows):.2f} s, this process "
              f"{statistics.median(f['client_cpu_s'] for f in rows):.2f} s")
    print(f"ratio uplink / bare: {ratio:.2f} (aim {AIM}): {'PASS' if ratio >= AIM else 'MISS'}; median of the "
          f"rounds' own ratios {statistics.median(per_round['bare']):.2f}")
    print(f"ratio uplink / bare with fsync per chunk: {medians['uplink'] / medians['bare_fsync']:.2f} "
          f"(rounds' own: median {statistics.median(per_round['bare_fsync']):.2f})")
    print(f"the hub does, the bare endpoint not: {HUB_DOES}")
    summed = mean_steps(steps) if steps else {}
    if summed:
        uplink_s = statistics.mean(f["s"] for f in results["uplink"])
        print(f"hub steps per round (mean of {len(steps)}; uplink round {uplink_s:.2f} s; nested steps inside their "
              f"callers):")
        for key, value in sorted(summed.items(), key=lambda kv: -kv[1]["s"]):
            print(f"  {key:40s} {value['s']:7.3f} s {100 * value['s'] / uplink_s:5.1f} %  {value['calls']:6.0f} calls")
        print("hub upload calls, cProfile by own time (all rounds):")
        print("\n".join("  " + line for line in profile.strip().splitlines()[:40]))
    if args.json:
        args.json.write_text(json.dumps({
            "scans": args.scans, "mb_each": total / args.scans / 1e6, "rounds": args.rounds, "chunk": args.chunk,
            "piece": worker.PIECE_UNCAPPED, "mb_s": medians, "ratio": ratio, "aim": AIM,
            "ratio_per_round": per_round, "results": results, "hub_steps_per_round": summed, "load": load_line()},
            indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
