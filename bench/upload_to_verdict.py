"""From a passage queued at the edge to the hub's verdict applied at the lane, against a bare long-poll wakeup.

    python bench/upload_to_verdict.py [--passages 30] [--mb 3] [--poll-s 0.1] [--gap 0.5] [--json FILE]

The edge: `tests.uplink_edge.EdgeUplink` (the lane's store, media store, passage service and the
real `Uplink`: upload worker woken by the enqueue, verdict follower long-polling with the config's
default wait) on an event-loop thread of this process; the hub: `python -m hub` on SQLite in its
own process (bench/hub_fixture.py). Before the clock runs, each passage's image (an uncompressed
16-bit TIFF of `--mb` MB, its own bytes) is put in the media store. Then, one passage at a time,
a flagged under-vehicle reading (the stand-in kind of tests/uplink_lane.py) opens and decides a
passage, and its transaction queues the passage and its image for the hub.

A scripted reviewer (an httpx client in a thread of this process, logged in to the hub) polls
`GET /queue` every `--poll-s` seconds; as soon as an item of the lane is there it claims it
(`POST /review/{id}/claim`) and gives a clear verdict (`POST /review/{id}/verdict`).

Times (monotonic, this process), per passage:
- enqueued: `Uplink.enqueue` called for it, inside the reading's store transaction (wrapped);
- at hub: the hub's answer to the passage's PUT returned to the worker (`HubClient.put_passage`,
  wrapped): its image is stored and checked, the passage and its review item committed;
- seen: the reviewer's first `GET /queue` answer that lists it (the poll interval is in here);
- claimed: the claim's answer read; verdict: the verdict's answer read (written at the hub);
- applied: the verdict follower's callback after the apply transaction committed (the passage's
  `verdict_json` and state `reviewed` in the edge store), checked in the store afterwards.
A verdict committed in the hub's process wakes the waiting long poll at once (hub/verdict_signal.py);
the feed also looks at its database every `POLL_S` (hub/routes/verdicts.py) for verdicts written by
other hub processes, which this bench (one hub process) does not have.

Baseline, in the same run, after each passage's verdict is applied (nothing else in flight): the
bare round trip of one HTTP long-poll wakeup on loopback. A thread holds `GET /wait` open on the
bare uvicorn + Starlette server in another process; this thread then sends `POST /wake`; the time
from sending the wake to the waiting GET's answer read is the least that "something was written
on one side -> the other side's long poll answers" costs over HTTP here, with no database, queue
or store. ratio = total p50 / baseline p50, and (verdict -> applied) p50 / baseline p50.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.hub_fixture import BareServer, HubProcess, load_line, tiff_bytes  # noqa: E402
from edge.store import Txn  # noqa: E402
from hub.routes.verdicts import POLL_S  # noqa: E402
from edge.uplink.client import HubClient  # noqa: E402
from edge.uplink.link import Uplink  # noqa: E402
from tests.uplink_edge import EdgeUplink  # noqa: E402
from tests.uplink_lane import pass_payload  # noqa: E402

LANE = "bench-verdict"
STEPS = ("enqueued", "at_hub", "seen", "claimed", "verdict", "applied")
PARTS = (("enqueue -> at hub", "enqueued", "at_hub"), ("at hub -> seen in queue", "at_hub", "seen"),
         ("seen -> claimed", "seen", "claimed"), ("claimed -> verdict written", "claimed", "verdict"),
         ("verdict -> applied at lane", "verdict", "applied"), ("at hub -> claimed", "at_hub", "claimed"),
         ("total enqueue -> applied", "enqueued", "applied"))


class Marks:
    """When each passage reached each step (first time only)."""

    def __init__(self) -> None:
        self.at: dict[int, dict[str, float]] = {}
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)

    def note(self, passage_id: int, step: str, at: float | None = None) -> None:
        with self.changed:
            self.at.setdefault(passage_id, {}).setdefault(step, time.monotonic() if at is None else at)
            self.changed.notify_all()

    def wait(self, passage_id: int, step: str, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: step in self.at.get(passage_id, {}), timeout)


def instrument(marks: Marks) -> None:
    """Note the enqueue and the hub's answer to a passage's PUT (the calls themselves unchanged)."""
    enqueue, put_passage = Uplink.enqueue, HubClient.put_passage

    def timed_enqueue(self: Uplink, txn: Txn, ids: list[int]) -> None:
        for passage_id in ids:
            marks.note(passage_id, "enqueued")
        enqueue(self, txn, ids)

    async def timed_put(self: HubClient, sha256: str, document: bytes) -> Any:
        ack = await put_passage(self, sha256, document)
        marks.note(int(json.loads(document)["passage_id"]), "at_hub")
        return ack

    Uplink.enqueue = timed_enqueue  # type: ignore[method-assign]
    HubClient.put_passage = timed_put  # type: ignore[method-assign]


class TimedEdge(EdgeUplink):
    """The harness's edge, noting when a verdict was applied to a passage (its `changed` callback)."""

    marks: Marks

    def _changed(self, ids: list[int]) -> None:
        for passage_id in ids:
            self.marks.note(passage_id, "applied")
        super()._changed(ids)


def reviewer(client: httpx.Client, marks: Marks, expected: int, poll_s: float, stop: threading.Event,
             errors: list[str]) -> None:
    """Claim each item of the lane as soon as the queue lists it and clear it."""
    done: set[int] = set()
    while len(done) < expected and not stop.is_set():
        try:
            items = client.get("/api/v1/queue").json()["items"]
            seen_at = time.monotonic()
            for item in items:
                if item["lane"] != LANE or item["id"] in done or item["state"] != "queued":
                    continue
                passage_id = int(item["passage_id"])
                marks.note(passage_id, "seen", seen_at)
                claim = client.post(f"/api/v1/review/{item['id']}/claim")
                claim.raise_for_status()
                marks.note(passage_id, "claimed")
                answer = client.post(f"/api/v1/review/{item['id']}/verdict",
                                     json={"fence": claim.json()["fence"], "verdict": "clear", "note": "bench"})
                answer.raise_for_status()
                marks.note(passage_id, "verdict")
                done.add(item["id"])
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            errors.append(f"reviewer: {type(exc).__name__}: {exc}"[:300])
        stop.wait(poll_s)


def wakeup(url: str) -> float:
    """One bare long-poll wakeup round trip (see the module docstring), seconds."""
    got: list[float] = []
    with httpx.Client(base_url=url, timeout=15.0) as waiter, httpx.Client(base_url=url, timeout=15.0) as waker:
        waker.get("/waiting")   # both connections open before the clock runs
        waiter.get("/waiting")

        def hold() -> None:
            answer = waiter.get("/wait", params={"timeout": 10})
            got.append(time.monotonic())
            answer.raise_for_status()

        thread = threading.Thread(target=hold, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while waker.get("/waiting").json()["waiting"] < 1:
            if time.monotonic() > deadline:
                raise TimeoutError("the bare long poll never started waiting")
            time.sleep(0.005)
        sent = time.monotonic()
        if waker.post("/wake").json()["woke"] < 1:
            raise RuntimeError("the wake found nobody waiting")
        thread.join(15)
    if not got:
        raise TimeoutError("the bare long poll did not answer")
    return got[0] - sent


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=30, help="passages, one at a time (default 30)")
    parser.add_argument("--mb", type=float, default=3.0, help="MB of each passage's 16-bit TIFF (default 3)")
    parser.add_argument("--poll-s", type=float, default=0.1, help="the reviewer's GET /queue interval (default 0.1)")
    parser.add_argument("--gap", type=float, default=0.5, help="idle seconds between passages (default 0.5)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file as JSON")
    args = parser.parse_args()
    warnings: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            warnings.append(f"{record.levelname} {record.name}: {record.getMessage()}"[:200])

    logging.basicConfig(level=logging.WARNING, handlers=[Keep()])
    side = int(round(math.sqrt(args.mb * 1e6 / 2)))
    base = np.random.default_rng(3).integers(2000, 60000, size=(side, side), dtype=np.uint16)
    marks = Marks()
    instrument(marks)
    baseline: list[float] = []
    ids: list[int] = []
    errors: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kouan-bench-verdict-") as name:
        tmp = Path(name)
        hub = HubProcess.start(tmp / "hub", LANE)
        bare = BareServer.start(tmp / "bare")
        (tmp / "edge").mkdir()
        edge = TimedEdge(tmp / "edge", hub.url, hub.token, lane=LANE, poll_s=0.5, timeout_s=30.0)
        edge.marks = marks
        stop = threading.Event()
        script: threading.Thread | None = None
        try:
            edge.start()
            images = [edge.media.put_bytes(tiff_bytes(side, side, k, base)) for k in range(args.passages)]
            script = threading.Thread(target=reviewer, args=(hub.login(), marks, args.passages, args.poll_s, stop,
                                                             errors), name="bench-reviewer", daemon=True)
            script.start()
            baseline.append(wakeup(bare.url))   # warm-up, not counted
            baseline.clear()
            for k, image in enumerate(images):
                (passage_id,) = edge.reading(pass_payload(f"V{k:05d}", [image.sha256]))
                ids.append(passage_id)
                if not marks.wait(passage_id, "applied", 60):
                    raise TimeoutError(f"passage {passage_id}: no verdict applied at the lane in 60 s; "
                                       f"steps {marks.at.get(passage_id)}; {errors[-3:]} {warnings[-3:]}")
                baseline.append(wakeup(bare.url))
                time.sleep(args.gap)
            for passage_id in ids:   # what the lane's store says
                passage = edge.passage(passage_id)
                if passage["state"] != "reviewed" or (passage.get("verdict") or {}).get("verdict") != "clear":
                    raise RuntimeError(f"passage {passage_id} at the lane: {passage['state']}, "
                                       f"{passage.get('verdict')}")
        finally:
            stop.set()
            if script is not None:
                script.join(10)
            edge.stop()
            edge.close()
            bare.stop()
            hub.stop()
    took = time.monotonic() - started
    parts = {label: [marks.at[p][b] - marks.at[p][a] for p in ids] for label, a, b in PARTS}
    print(load_line())
    print(f"{len(ids)} passages, one at a time, each one {images[0].size / 1e6:.1f} MB 16-bit TIFF ({side} x {side}); "
          f"the reviewer polls GET /queue every {args.poll_s:g} s; the hub's verdict feed is woken by "
          f"its verdict route (and looks every {POLL_S:g} s for other processes'); "
          f"{took:.0f} s in all")
    print(f"{'':34s} {'p50':>9s} {'p95':>9s} {'max':>9s}")
    rows: dict[str, dict[str, float]] = {}
    for label, values in [*parts.items(), ("baseline: bare long-poll wakeup", baseline)]:
        ms = [1000 * v for v in values]
        rows[label] = {"p50_ms": pct(ms, 50), "p95_ms": pct(ms, 95), "max_ms": max(ms)}
        row = rows[label]
        print(f"{label:34s} {row['p50_ms']:7.1f}ms {row['p95_ms']:7.1f}ms {row['max_ms']:7.1f}ms")
    base50 = rows["baseline: bare long-poll wakeup"]["p50_ms"]
    total50 = rows["total enqueue -> applied"]["p50_ms"]
    back50 = rows["verdict -> applied at lane"]["p50_ms"]
    print(f"ratio total p50 / baseline p50: {total50 / base50:.0f}; verdict -> applied p50 / baseline p50: "
          f"{back50 / base50:.1f}")
    if errors or warnings:
        print(f"log: {len(errors)} reviewer error(s), {len(warnings)} warning(s), e.g. "
              + "; ".join(sorted(set(errors + warnings))[:3]))
    if args.json:
        args.json.write_text(json.dumps({
            "passages": len(ids), "mb_each": images[0].size / 1e6, "poll_s": args.poll_s, "figures": rows,
            "ratio_total": total50 / base50, "ratio_verdict_to_applied": back50 / base50,
            "marks": {str(p): marks.at[p] for p in ids}, "baseline_s": baseline, "load": load_line()},
            indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
