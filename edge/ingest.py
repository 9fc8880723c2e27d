"""The single, ordered path from device readings to the store, their events and the live page.

Drivers run in their own threads; they hand readings to `Ingest.submit` (thread-safe). One
consumer coroutine stores each reading, with what its kind derives from it (the reading's
`derive`, run in the same store transaction: for a lock, its place in the lock's own order and
the events that implies). Then the events go out on MQTT and to the lane page, and only then is
the reading's `on_stored` callback called (for a JT/T 808 lock: the 0x8001 acknowledgement), so
a device stops retransmitting only once its report is durably stored. A duplicate (same bytes,
stored before) is acknowledged too: the device must stop resending it. Slow analysis of what
was stored happens after the acknowledgement, never before. Ingest names no device kind.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge.live import LiveBus
from edge.store import AsyncStore, Derived, Deriver, EventRow, Store, Txn

log = logging.getLogger(__name__)


@dataclass
class Reading:
    """One reading from a device, as the runtime stores it."""

    device_id: str
    message: str
    sha256: str
    payload: dict[str, Any]
    device_time: str | None = None
    state: dict[str, Any] | None = None  # the device's state as this reading says it (shown, kept)
    derive: Deriver | None = None  # the kind's derivation, run in the reading's store transaction
    kind: str = ""
    from_device: bool = True  # False for what the edge says of a device itself (a timer, an analysis)
    received_at: float = field(default_factory=time.time)
    on_stored: Callable[[], None] | None = None


@dataclass
class IngestStats:
    """Counters an operator watches."""

    submitted: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected_full: int = 0
    errors: int = 0
    events: int = 0
    events_moved: int = 0
    late: int = 0  # readings older, in their device's own order, than one already stored
    follow_errors: int = 0  # readings stored whose follower (passages) failed on them


# Runs inside a stored reading's transaction after its kind's deriver (the passages); returns
# what it changed, handed to `on_followed` after the commit.
Follower = Callable[[Txn, "Reading", int, Derived], list[Any]]


class Ingest:
    """Bounded queue plus one consumer; see the module docstring."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        store: AsyncStore,
        bus: LiveBus,
        publish_event: Callable[[EventRow], None],
        on_device_seen: Callable[[str, float | None, dict[str, Any] | None], None],  # (device, seen at, state)
        maxsize: int = 1000,
        follow: Follower | None = None,
        on_followed: Callable[[list[Any]], None] | None = None,
    ) -> None:
        self._loop = loop
        self._store = store
        self._bus = bus
        self._publish_event = publish_event
        self._on_device_seen = on_device_seen
        self._queue: asyncio.Queue[Reading] = asyncio.Queue(maxsize)
        self._follow = follow
        self._on_followed = on_followed
        self.stats = IngestStats()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def submit(self, reading: Reading) -> None:
        """Hand a reading over from any thread."""
        self._loop.call_soon_threadsafe(self._put, reading)

    def _put(self, reading: Reading) -> None:
        self.stats.submitted += 1
        try:
            self._queue.put_nowait(reading)
        except asyncio.QueueFull:
            # Not acknowledged, so a JT/T 808 lock retransmits it; counted and logged, never silent.
            self.stats.rejected_full += 1
            log.warning("ingest queue full (%s): reading from %s not accepted", self._queue.maxsize, reading.device_id)

    async def run(self) -> None:
        """Consume readings until cancelled."""
        while True:
            reading = await self._queue.get()
            try:
                await self._handle(reading)
            except Exception:  # one bad reading must not stop the lane
                self.stats.errors += 1
                log.exception("failed to ingest reading from %s", reading.device_id)
            finally:
                self._queue.task_done()  # handled (or failed): what drain() waits for

    async def drain(self) -> None:
        """Wait until everything submitted so far is handled (for shutdown and tests)."""
        await asyncio.sleep(0)  # let hand-overs already scheduled by submit() reach the queue
        await self._queue.join()  # the reading taken off the queue last is handled too, not just taken

    def _derive_and_follow(self, reading: Reading, followed: list[Any]) -> Deriver | None:
        """The reading's deriver, then the follower, in one transaction. A failing follower is
        rolled back to a savepoint and counted: the reading itself is still stored and acknowledged."""
        follow = self._follow
        if follow is None:
            return reading.derive

        def derive(txn: Txn, reading_id: int) -> Derived:
            derived = reading.derive(txn, reading_id) if reading.derive is not None else Derived()
            txn.execute("SAVEPOINT follow")
            try:
                followed.extend(follow(txn, reading, reading_id, derived))
            except Exception:
                txn.execute("ROLLBACK TO follow")
                self.stats.follow_errors += 1
                log.exception("reading from %s stored, but following it into its passage failed", reading.device_id)
            txn.execute("RELEASE follow")
            return derived

        return derive

    async def _handle(self, reading: Reading) -> None:
        followed: list[Any] = []
        recorded = await self._store.call(
            Store.record_reading, reading.device_id, reading.received_at, reading.device_time,
            reading.message, reading.sha256, reading.payload, reading.state, self._derive_and_follow(reading, followed),
            reading.kind, reading.from_device,
        )
        stored, derived = recorded.reading_id is not None, recorded.derived
        self._on_device_seen(reading.device_id, reading.received_at if reading.from_device else None,
                             reading.state if derived.newest else None)
        if stored:
            self.stats.stored += 1
        else:
            self.stats.duplicates += 1
        if stored and not derived.newest:
            self.stats.late += 1
            log.info("%s: reading of %s arrived after a later one; placed in the device's order",
                     reading.device_id, reading.device_time)
        for row in derived.events:
            self.stats.events += 1
            self._announce(row)
            log.info("event %s %s at %s: %s", row.device_id, row.event, row.device_time, row.detail)
        for row in derived.moved:
            self.stats.events_moved += 1
            self._announce(row)
            log.info("event %s %s moved back to %s (an earlier reading showed it)", row.device_id, row.event,
                     row.device_time)
        if followed and self._on_followed is not None:
            self._on_followed(followed)
        if reading.on_stored is not None:
            reading.on_stored()

    def _announce(self, row: EventRow) -> None:
        self._bus.publish("event", row.as_dict())
        self._publish_event(row)
