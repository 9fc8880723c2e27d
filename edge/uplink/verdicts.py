"""Reviewers' verdicts from the hub, applied to the lane's passages.

A long poll (`GET /verdicts?after=<cursor>&wait=<s>`) brings the lane's verdicts after the last
cursor applied. Each verdict is applied in one store transaction together with its cursor, so a
crash or reconnect loses none and applies none twice:

- the passage keeps the verdict (`verdict_json`) and a timeline entry;
- a clear verdict on a flagged or held passage makes it `reviewed` (the officer may release it
  without a note);
- a suspicious verdict on a passage not yet released holds it (`acted_by` "hub:<reviewer>"):
  the vehicle goes to physical inspection;
- on a passage already released it is recorded and raised loudly (timeline, a log warning).

A changed passage is queued for the hub again (its new state) and published like any change.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from contract.uplink import VerdictWire
from edge.passages.rows import timeline
from edge.store import AsyncStore, Store, Txn
from edge.uplink import outbox
from edge.uplink.client import HubClient, HubError
from edge.uplink.config import UplinkConfig
from edge.uplink.outbox import Outbox
from edge.uplink.pacing import backoff_s
from edge.uplink.stats import UplinkStats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Applied:
    """What one verdict did: "applied" (to `passage_id`), "repeat" (applied before), "unmatched"."""

    outcome: str
    passage_id: int | None = None


Watcher = Callable[[Txn, list[int]], object]


def apply_verdict(txn: Txn, verdict: VerdictWire, lane_id: str, queue: Outbox | None, now: float,
                  watchers: Sequence[Watcher] = ()) -> Applied:
    """Apply one verdict and store its cursor, in the caller's one transaction; the watchers (the
    lane's normal) are told of the changed passage in it too."""
    if verdict.cursor <= outbox.cursor(txn):
        return Applied("repeat")  # a page asked for again after a reconnect
    outbox.set_state(txn, outbox.CURSOR_KEY, str(verdict.cursor))
    if verdict.lane != lane_id:
        log.warning("uplink: verdict %s names lane %s, not this lane %s: ignored", verdict.cursor, verdict.lane, lane_id)
        return Applied("unmatched")
    row = txn.execute("SELECT state FROM passages WHERE id=?", (verdict.passage_id,)).fetchone()
    if row is None:
        log.warning("uplink: verdict %s (%s by %s) names passage %s, which this edge does not have: ignored",
                    verdict.cursor, verdict.verdict, verdict.reviewer, verdict.passage_id)
        return Applied("unmatched")
    state = row[0]
    by = f"hub:{verdict.reviewer}"[:64]
    words = f"hub verdict: {verdict.verdict} by {verdict.reviewer}" + (f": {verdict.note}" if verdict.note else "")
    if verdict.stage == "recheck":
        words += " (supervisor's re-check)"
    sets, params = ["verdict_json=?"], [json.dumps(verdict.model_dump(mode="json"), ensure_ascii=False)]
    what = "hub verdict"
    if state == "released":
        if verdict.verdict == "suspicious":
            what = "hub verdict after release"
            words = f"SUSPICIOUS after release: {words}"
            log.warning("uplink: passage %s was already released and the hub says suspicious (%s by %s: %s)",
                        verdict.passage_id, verdict.verdict, verdict.reviewer, verdict.note)
    elif verdict.verdict == "clear" and state in ("flagged", "held"):
        sets.append("state='reviewed'")
    elif verdict.verdict == "suspicious":
        sets += ["state='held'", "acted_by=?", "acted_at=?", "decided_at=COALESCE(decided_at, ?)", "waiting_for=''"]
        params += [by, now, now]
    txn.execute(f"UPDATE passages SET {', '.join(sets)}, version=version+1, updated_at=? WHERE id=?",
                (*params, now, verdict.passage_id))
    timeline(txn, verdict.passage_id, now, what, words, by)
    if queue is not None:
        queue.enqueue_passages(txn, [verdict.passage_id])
    for watch in watchers:
        watch(txn, [verdict.passage_id])
    log.info("uplink: passage %s (%s): %s", verdict.passage_id, state, words)
    return Applied("applied", verdict.passage_id)


class VerdictFollower:
    """Long-polls the hub's verdict feed and applies each verdict (see the module docstring)."""

    def __init__(self, config: UplinkConfig, lane_id: str, store: AsyncStore, client: HubClient, queue: Outbox | None,
                 stats: UplinkStats, changed: Callable[[list[int]], None], clock: Callable[[], float] = time.time,
                 watchers: Sequence[Watcher] = ()) -> None:
        self.config = config
        self.watchers = tuple(watchers)
        self.lane_id = lane_id
        self.store = store
        self.client = client
        self.queue = queue
        self.stats = stats
        self.changed = changed
        self.clock = clock

    async def run(self) -> None:
        cursor: int = await self.store.call(Store.transact, outbox.cursor)
        self.stats.cursor = cursor
        failures = 0
        while True:
            try:
                page = await self.client.verdicts(cursor, self.config.verdict_wait_s)
            except HubError as exc:
                failures += 1
                delay = backoff_s(failures, self.config.backoff_base_s, self.config.backoff_cap_s)
                log.log(logging.WARNING if failures == 1 else logging.DEBUG,
                        "uplink: verdicts not fetched (next try in %.1f s): %s", delay, exc)
                self.stats.failed(f"verdicts: {exc}", self.clock())
                await asyncio.sleep(delay)
                continue
            if failures:
                log.info("uplink: verdicts fetched again after %d failed tries", failures)
            failures = 0
            self.stats.succeeded(self.clock())
            for verdict in sorted(page.verdicts, key=lambda v: v.cursor):
                try:
                    applied: Applied = await self.store.call(Store.transact, apply_verdict, verdict, self.lane_id, self.queue,
                                                    self.clock(), self.watchers)
                except Exception:
                    log.exception("uplink: verdict %s could not be applied; asking again", verdict.cursor)
                    await asyncio.sleep(backoff_s(1, self.config.backoff_base_s, self.config.backoff_cap_s))
                    break
                cursor = max(cursor, verdict.cursor)
                self.stats.cursor = cursor
                if applied.outcome == "repeat":
                    continue
                self.stats.verdicts_received += 1
                if applied.passage_id is None:
                    self.stats.verdicts_unmatched += 1
                else:
                    self.changed([applied.passage_id])
