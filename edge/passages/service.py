"""The runtime's side of passages: follows stored readings into the book, checks deadlines,
takes declarations (HTTP, MQTT, a file) and officers' actions, and publishes each change.

Every write goes through the store thread (`Store.transact`, or the reading's own transaction);
after each commit the changed passages go to the lane page (`passage` on the live stream) and to
MQTT `kouan/<lane>/passages/<id>` (the passage whole, JSON, QoS 1; buffered by the transport
while the broker is away).
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.ingest import Reading
from edge.live import LiveBus
from edge.passages import queries
from edge.passages.book import LaneDeviceRole, PassageBook
from edge.passages.config import PassagesConfig
from edge.passages.declarations import Declaration, DeclarationError, parse_json, read_file
from edge.passages.observation import ReadingView
from edge.store import AsyncStore, Derived, Store, Txn

log = logging.getLogger(__name__)
STORE_RETRY_S = (1.0, 60.0)  # first and longest wait before storing a declaration again
DECISION_BUCKETS_S = (0.25, 0.5, 1.0, 1.5, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)


@dataclass
class PassageStats:
    """Counters an operator watches (exported by edge/metrics.py)."""

    declarations_accepted: int = 0
    declarations_refused: int = 0
    declarations_store_errors: int = 0  # MQTT declarations whose storing failed (retried, not acknowledged)
    published: int = 0
    decided: dict[str, int] = field(default_factory=lambda: {"clear": 0, "flagged": 0})
    decision_buckets: list[int] = field(default_factory=lambda: [0] * (len(DECISION_BUCKETS_S) + 1))
    decision_sum_s: float = 0.0


class PassageService:
    """See the module docstring."""

    def __init__(self, config: PassagesConfig, lane_id: str, store: AsyncStore, bus: LiveBus,
                 publish: Callable[[str, bytes], None], roles: Mapping[str, LaneDeviceRole],
                 outbox: Callable[[Txn, list[int]], object] | None = None,
                 watchers: Sequence[Callable[[Txn, list[int]], object]] = ()) -> None:
        self.config = config
        self._outbox = outbox  # queues changed passages for the hub inside their transaction (edge/uplink)
        self._watchers = tuple(watchers)  # others told of changed passages in their transaction (edge/normal)
        self.lane_id = lane_id
        self.book = PassageBook(config, roles)
        self.names = {device_id: role.name or device_id for device_id, role in roles.items()}
        self._store = store
        self._bus = bus
        self._publish_mqtt = publish
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._decided_seen: dict[int, str] = {}
        self.stats = PassageStats()
        if not config.deadlines:
            log.warning("passages: no device is waited for ([passages] deadlines is empty): each passage is decided "
                        "at its first reading")

    @property
    def declarations_topic(self) -> str:
        return f"kouan/{self.lane_id}/declarations"

    def passage_topic(self, passage_id: int) -> str:
        return f"kouan/{self.lane_id}/passages/{passage_id}"

    # ------------------------------------------------------------ following readings (store thread)

    def follow(self, txn: Txn, reading: Reading, reading_id: int, derived: Derived) -> list[int]:
        view = ReadingView(reading_id, reading.device_id, reading.kind, reading.message, reading.payload, reading.state,
                           tuple(derived.events), reading.device_time, reading.received_at, reading.from_device)
        return self._queued(txn, self.book.follow(txn, view))

    def _queued(self, txn: Txn, ids: list[int]) -> list[int]:
        """Hand the changed passages to the outbox (when there is an uplink) and the watchers, in the same
        transaction."""
        if self._outbox is not None and ids:
            self._outbox(txn, ids)
        for watch in self._watchers if ids else ():
            watch(txn, ids)
        return ids

    def _tick(self, txn: Txn, now: float) -> list[int]:
        return self._queued(txn, self.book.tick(txn, now))

    def _act(self, txn: Txn, *args: Any) -> list[int]:
        return self._queued(txn, self.book.act(txn, *args))

    def _load_declaration(self, txn: Txn, *args: Any) -> tuple[str, list[int]]:
        outcome, changed = self.book.load_declaration(txn, *args)
        return outcome, self._queued(txn, changed)

    def changed(self, ids: list[int]) -> None:
        """Publish these passages (event loop; after their commit)."""
        if ids:
            task = asyncio.ensure_future(self._publish(ids))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _publish(self, ids: list[int]) -> None:
        try:
            rows = await self._store.call(Store.transact, _details, sorted(set(ids)), self.names)
        except Exception:
            log.exception("passages %s changed but could not be read back to publish", ids)
            return
        for passage in rows:
            self._count_decision(passage)
            summary = {k: v for k, v in passage.items() if k not in ("observations", "timeline", "declaration")}
            summary["reasons"] = len(passage["reasons"])
            self._bus.publish("passage", summary)
            self._publish_mqtt(self.passage_topic(passage["id"]), json.dumps(passage, default=str).encode())
            self.stats.published += 1

    def _count_decision(self, passage: dict[str, Any]) -> None:
        if passage["decided_at"] is None or passage["id"] in self._decided_seen:
            return
        outcome = "flagged" if passage["holding"] else "clear"
        self._decided_seen[passage["id"]] = outcome
        if len(self._decided_seen) > 10_000:
            self._decided_seen.pop(next(iter(self._decided_seen)))
        self.stats.decided[outcome] = self.stats.decided.get(outcome, 0) + 1
        took = passage["decided_at"] - passage["arrived_at"]
        self.stats.decision_buckets[bisect.bisect_left(DECISION_BUCKETS_S, took)] += 1
        self.stats.decision_sum_s += took

    # ------------------------------------------------------------ deadlines

    async def run(self) -> None:
        """Decide passages whose deadline passed, every `tick_s` (also those a stopped edge left)."""
        while True:
            try:
                changed = await self._store.call(Store.transact, self._tick, time.time())
                self.changed(changed)
            except Exception:
                log.exception("passages: deadline check failed; trying again")
            await asyncio.sleep(self.config.tick_s)

    # ------------------------------------------------------------ declarations

    async def declare(self, declaration: Declaration, source: str) -> str:
        outcome, changed = await self._store.call(Store.transact, self._load_declaration, declaration, source,
                                                  time.time())
        self.stats.declarations_accepted += 1
        log.info("declaration %s (%s) from %s: %s", declaration.id, declaration.plate, source, outcome)
        self.changed(changed)
        return outcome

    def refused(self, error: DeclarationError) -> None:
        self.stats.declarations_refused += 1
        log.warning("%s", error)

    async def load_file(self, path: Path) -> None:
        try:
            good, errors = read_file(path)
        except OSError as exc:
            log.error("declarations file %s cannot be read: %s", path, exc)
            return
        for line in errors:
            self.refused(DeclarationError(line))
        for declaration in good:
            await self.declare(declaration, f"file {path.name}")
        log.info("declarations file %s: %d loaded, %d refused", path, len(good), len(errors))

    def on_mqtt_declaration(self, payload: bytes, ack: Callable[[], None]) -> None:
        """paho's thread: hand over to the loop; acknowledged once stored (or refused, with the reason logged)."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(functools.partial(self._mqtt_declaration, payload, ack))

    def _mqtt_declaration(self, payload: bytes, ack: Callable[[], None]) -> None:
        async def take() -> None:
            try:
                declaration = parse_json(payload, f"MQTT {self.declarations_topic}")
            except DeclarationError as exc:
                self.refused(exc)
                ack()
                return
            delay = STORE_RETRY_S[0]
            while True:  # not acknowledged until stored: a restart before that gets it redelivered
                try:
                    await self.declare(declaration, "mqtt")
                    break
                except Exception:
                    self.stats.declarations_store_errors += 1
                    log.exception("declaration %s from MQTT not stored yet; not acknowledged, retrying in %.0f s",
                                  declaration.id, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, STORE_RETRY_S[1])
            ack()

        task = asyncio.ensure_future(take())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    # ------------------------------------------------------------ the terminal's questions and actions

    async def act(self, passage_id: int, action: str, user: str, note: str, confirmed: bool,
                  seen_version: int | None = None) -> dict[str, Any]:
        changed = await self._store.call(Store.transact, self._act, passage_id, action, user, note, confirmed,
                                         time.time(), seen_version)
        log.info("passage %s: %s by %s%s", passage_id, action, user, f" ({note})" if note else "")
        await self._publish(changed)
        detail = await self.detail(passage_id)
        assert detail is not None
        return detail

    async def page(self, before: int | None, limit: int, state: str | None) -> dict[str, Any]:
        return await self._store.call(Store.transact, queries.page, before, limit, state)

    async def waiting_counts(self) -> dict[str, int]:
        return await self._store.call(Store.transact, queries.waiting_counts)

    async def detail(self, passage_id: int) -> dict[str, Any] | None:
        return await self._store.call(Store.transact, queries.detail, passage_id, self.names)

    async def day_stats(self, since: float) -> dict[str, Any]:
        return await self._store.call(Store.transact, queries.stats, since)

    async def stop(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _details(txn: Txn, ids: list[int], names: dict[str, str]) -> list[dict[str, Any]]:
    return [d for passage_id in ids if (d := queries.detail(txn, passage_id, names)) is not None]
