"""The single, ordered path from device readings to the store, lock events and the live page.

Drivers run in their own threads; they hand readings to `Ingest.submit` (thread-safe). One
consumer coroutine stores each reading, derives lock events from state changes, publishes
them on MQTT and to the lane page, and only then calls the reading's `on_stored` callback
(for a JT/T 808 lock: the 0x8001 acknowledgement), so a device stops retransmitting only once
its report is durably stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge.live import LiveBus
from edge.lock_events import derive_lock_events
from edge.store import AsyncStore, Store

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
        last_states: dict[str, dict[str, Any]],
        maxsize: int = 1000,
    ) -> None:
        self._loop = loop
        self._store = store
        self._bus = bus
        self._publish_event = publish_event
        self._low_battery_pct = low_battery_pct
        self._on_device_seen = on_device_seen
        self._states = dict(last_states)
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

    async def drain(self) -> None:
        """Wait until everything submitted so far is handled (for shutdown and tests)."""
        while not self._queue.empty():
            await asyncio.sleep(0.01)

    async def _handle(self, reading: Reading) -> None:
        row_id = await self._store.call(
            Store.record_reading, reading.device_id, reading.received_at, reading.device_time,
            reading.message, reading.sha256, reading.payload, reading.lock_state,
        )
        self._on_device_seen(reading.device_id, reading.received_at, reading.lock_state if row_id else None)
        if row_id is None:
            self.stats.duplicates += 1
        else:
            self.stats.stored += 1
            if reading.lock_state is not None:
                await self._lock_events(reading, row_id)
        if reading.on_stored is not None:
            reading.on_stored()

    async def _lock_events(self, reading: Reading, row_id: int) -> None:
        state = reading.lock_state or {}
        previous = self._states.get(reading.device_id)
        self._states[reading.device_id] = state
        for event in derive_lock_events(previous, state, self._low_battery_pct(reading.device_id)):
            row = await self._store.call(
                Store.add_lock_event, reading.device_id, str(state.get("lock_id", "")), event.event,
                event.detail, reading.device_time, reading.received_at, row_id,
            )
            self.stats.lock_events += 1
            data = row.as_dict()
            self._bus.publish("lock_event", data)
            self._publish_event(data)
            log.info("lock event %s %s: %s", reading.device_id, event.event, event.detail)

