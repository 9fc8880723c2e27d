"""The single, ordered path from device readings to the store, their events and the live page.

Drivers run in their own threads; they hand readings to `Ingest.submit` (thread-safe). One
consumer coroutine stores each reading, with what its kind derives from it (the reading's
`derive`, run in the same store transaction: for a lock, its place in the lock's own order and
the events that implies). Then the events go out on MQTT and to the lane page, and only then is
the reading's `on_stored` callback called (for a JT/T 808 lock: the 0x8001 acknowledgement), so
a device stops retransmitting only once its report is durably stored. A duplicate (same bytes,
stored before) is acknowledged too: the device must stop resending it. Slow analysis of what
was stored happens after the acknowledgement, never before. Ingest names no device kind.

A full queue is backpressure, not a refusal: `submit` on a driver's thread waits for room
(`maxsize` readings queued or in hand, counted by a semaphore the consumer releases). Why:
an MQTT report is acknowledged (PUBACK) only once stored, and a QoS 1 message never
acknowledged is redelivered only when the edge reconnects, so a refused report would sit
unstored for as long as the link stays up, and enough of them fill the broker's in-flight
window. An overflow for refused readings only moves the bound (Mosquitto 2.0 sends more than
`max_inflight_messages` unacknowledged, so nothing bounds what it would have to hold), and
forcing a reconnect flaps the lane's link and redelivers all in flight. Waiting on paho's
network thread is MQTT's own flow control: paho stops reading, the broker keeps the rest in
our persistent session, and memory stays at `maxsize` plus one reading per waiting thread. A
serial reader pauses too (the lock retransmits what is not acknowledged), and readings nobody
would resend (the edge's own, a batch's items before the one that carries the acknowledgement)
are not lost to a full queue. A wait over 1.5 x the MQTT keepalive lets the broker drop the
link; it redelivers what was not acknowledged after the reconnect, so nothing is lost then
either. Only a submit that cannot wait is refused (on the event loop itself, which must never
block, or once the consumer has stopped): counted in `rejected_full`, logged, not acknowledged,
so the device or the broker sends it again. Waits are counted (`waited_full`, the `waiting`
gauge) and logged at most once per `WAIT_LOG_S`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge.live import LiveBus
from edge.store import AsyncStore, Derived, Deriver, EventRow, Store, Txn

log = logging.getLogger(__name__)

WAIT_SLICE_S = 0.5  # a waiting submitter looks this often whether the consumer has stopped
WAIT_LOG_S = 10.0  # at most one WARNING about waiting submitters per this many seconds


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
    rejected_full: int = 0  # refused: the queue full and the submitter could not wait (see the module doc)
    waited_full: int = 0  # readings whose submitting thread waited for room (backpressure)
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
        if maxsize < 1:
            raise ValueError("the ingest queue needs a bound (maxsize >= 1)")
        self.maxsize = maxsize
        self._slots = threading.Semaphore(maxsize)  # taken by submit, given back once a reading is handled
        self._queue: asyncio.Queue[Reading] = asyncio.Queue()  # bounded by the slots
        self._stopped = threading.Event()  # the consumer has ended: waiting is pointless
        self._count_lock = threading.Lock()  # for the counters drivers' threads change
        self._waiting = 0
        self._wait_logged = -WAIT_LOG_S
        self._follow = follow
        self._on_followed = on_followed
        self.stats = IngestStats()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    @property
    def waiting(self) -> int:
        """Submitting threads waiting for room right now."""
        return self._waiting

    def submit(self, reading: Reading) -> None:
        """Hand a reading over from any thread; on a driver's thread, wait while the queue is full."""
        if not self._slots.acquire(blocking=False) and not self._wait_for_room(reading):
            return
        try:
            self._loop.call_soon_threadsafe(self._put, reading)
        except RuntimeError:  # the event loop is closed: the edge has stopped
            self._slots.release()
            self._refuse(reading, "the event loop is closed")

    def _wait_for_room(self, reading: Reading) -> bool:
        """Backpressure: block this (driver's) thread until a slot frees; False if refused instead."""
        if self._on_loop():
            self._refuse(reading, "the queue is full and it was submitted on the event loop, which must not wait")
            return False
        if self._stopped.is_set():
            self._refuse(reading, "the consumer has stopped")
            return False
        self._note_wait(reading, +1)
        try:
            while not self._slots.acquire(timeout=WAIT_SLICE_S):
                if self._stopped.is_set() or self._loop.is_closed():
                    self._refuse(reading, "the consumer has stopped")
                    return False
            return True
        finally:
            self._note_wait(reading, -1)

    def _note_wait(self, reading: Reading, change: int) -> None:
        with self._count_lock:
            self._waiting += change
            if change < 0:
                return
            self.stats.waited_full += 1
            now = time.monotonic()
            if now - self._wait_logged < WAIT_LOG_S:
                return
            self._wait_logged, waits = now, self.stats.waited_full
        log.warning("ingest queue full (%s): reading from %s waits for room on thread %s (%s waits so far)",
                    self.maxsize, reading.device_id, threading.current_thread().name, waits)

    def _on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:  # no loop runs in this thread
            return False

    def _refuse(self, reading: Reading, why: str) -> None:
        # Not acknowledged, so the device or the broker sends it again; counted and logged, never silent.
        with self._count_lock:
            self.stats.submitted += 1
            self.stats.rejected_full += 1
        log.warning("ingest (queue of %s): reading from %s not accepted: %s", self.maxsize, reading.device_id, why)

    def _put(self, reading: Reading) -> None:
        """On the loop: queue a reading whose slot its submitter holds."""
        if self._stopped.is_set():
            self._slots.release()
            self._refuse(reading, "the consumer has stopped")
            return
        with self._count_lock:
            self.stats.submitted += 1
        self._queue.put_nowait(reading)  # never full: the slot bounds it

    async def run(self) -> None:
        """Consume readings until cancelled; then waiting submitters are released (refused)."""
        self._stopped.clear()
        try:
            while True:
                await self._consume(await self._queue.get())
        finally:
            self._stopped.set()
            if self._queue.qsize():
                log.warning("ingest stopped with %s readings queued and not stored (none acknowledged: devices "
                            "and the broker send theirs again)", self._queue.qsize())

    async def _consume(self, reading: Reading) -> None:
        try:
            await self._handle(reading)
        except Exception:  # one bad reading must not stop the lane
            self.stats.errors += 1
            log.exception("failed to ingest reading from %s", reading.device_id)
        finally:
            self._queue.task_done()  # handled (or failed): what drain() waits for
            self._slots.release()

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
