"""The single, ordered path from device readings to the store, lock events and the live page.

Drivers run in their own threads; they hand readings to `Ingest.submit` (thread-safe). One
consumer coroutine stores each reading; a lock report is placed in its lock's own order
(device time, then serial) and its events are derived and stored in the same transaction, so
reports that arrive late (retransmitted after an edge restart, or in a blind-area batch) never
make the lock flap. Then the events go out on MQTT and to the lane page, and only then is the
reading's `on_stored` callback called (for a JT/T 808 lock: the 0x8001 acknowledgement), so a
device stops retransmitting only once its report is durably stored. A duplicate (same bytes,
stored before) is acknowledged too: the device must stop resending it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edge.live import LiveBus
from edge.store import AsyncStore, LockEventRow, Store

log = logging.getLogger(__name__)


@dataclass
class Reading:
    """One reading from a device, as the runtime stores it."""

    device_id: str
    message: str
    sha256: str
    payload: dict[str, Any]
    device_time: str | None = None
    lock_state: dict[str, Any] | None = None
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
    lock_events: int = 0
    lock_events_moved: int = 0
    late_reports: int = 0  # lock reports older, in the lock's order, than one already stored


class Ingest:
    """Bounded queue plus one consumer; see the module docstring."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        store: AsyncStore,
        bus: LiveBus,
        publish_event: Callable[[dict[str, Any]], None],
        low_battery_pct: Callable[[str], int | None],
        on_device_seen: Callable[[str, float, dict[str, Any] | None], None],
        maxsize: int = 1000,
    ) -> None:
        self._loop = loop
        self._store = store
        self._bus = bus
        self._publish_event = publish_event
        self._low_battery_pct = low_battery_pct
        self._on_device_seen = on_device_seen
        self._queue: asyncio.Queue[Reading] = asyncio.Queue(maxsize)
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

    async def _handle(self, reading: Reading) -> None:
        if reading.lock_state is None:
            row_id = await self._store.call(
                Store.record_reading, reading.device_id, reading.received_at, reading.device_time,
                reading.message, reading.sha256, reading.payload, None,
            )
            self._on_device_seen(reading.device_id, reading.received_at, None)
            self._count(row_id is not None)
        else:
            await self._lock_report(reading, reading.lock_state)
        if reading.on_stored is not None:
            reading.on_stored()

    async def _lock_report(self, reading: Reading, state: dict[str, Any]) -> None:
        placed = await self._store.call(
            Store.record_lock_report, reading.device_id, reading.received_at, reading.device_time,
            reading.message, reading.sha256, reading.payload, state, lock_order(reading),
            self._low_battery_pct(reading.device_id),
        )
        self._on_device_seen(reading.device_id, reading.received_at, state if placed.newest else None)
        self._count(placed.reading_id is not None)
        if placed.reading_id is not None and not placed.newest:
            self.stats.late_reports += 1
            log.info("lock %s: report of %s arrived after a later one; placed in the lock's order",
                     reading.device_id, reading.device_time)
        for row in placed.events:
            self.stats.lock_events += 1
            self._announce(row)
            log.info("lock event %s %s at %s: %s", row.device_id, row.event, row.device_time, row.detail)
        for row in placed.moved:
            self.stats.lock_events_moved += 1
            self._announce(row)
            log.info("lock event %s %s moved back to %s (an earlier report showed it)", row.device_id, row.event,
                     row.device_time)

    def _count(self, stored: bool) -> None:
        if stored:
            self.stats.stored += 1
        else:
            self.stats.duplicates += 1

    def _announce(self, row: LockEventRow) -> None:
        data = row.as_dict()
        self._bus.publish("lock_event", data)
        self._publish_event(data)


def lock_order(reading: Reading) -> tuple[float, int]:
    """Where a lock report stands in its lock's own order: device time (epoch s), then serial.

    A report without a device time stands at its arrival. Serial numbers wrap at 0xFFFF; they
    only break ties within one second of device time, where a wrap does not happen in practice.
    """
    state = reading.lock_state or {}
    moment = reading.received_at
    if reading.device_time:
        try:
            moment = datetime.fromisoformat(reading.device_time).timestamp()
        except ValueError:
            log.warning("lock %s: device time %r unreadable; ordered by arrival", reading.device_id, reading.device_time)
    return moment, int(state.get("serial") or 0)
