"""The ingest path's promises, each checked so that breaking it fails a test.

- A reading is acknowledged (`on_stored`) only once it is in the database, seen from another
  connection; a duplicate is acknowledged too, or the device would resend it for ever.
- A full queue refuses a reading (counted, logged) and does not acknowledge it, so the device
  resends it; one reading whose handling fails is counted and logged and the lane goes on.
- `drain()` returns only once every reading submitted before it is handled (stored and acked).
- Stats, what the runtime is told a device was seen with, and what goes to the page and MQTT
  follow each report's place in its lock's own order (device time, then serial).
- A device silent for longer than its kind allows is offline, whatever its transport says.

Real parts: SQLite (`AsyncStore`, read back through a separate connection) and a `LiveBus`.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from edge.device_status import DeviceStatus
from edge.ingest import Ingest, Reading
from edge.live import LiveBus
from edge.store import AsyncStore, Store

BEIJING = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 30, 9, 0, 0, tzinfo=BEIJING)
ARRIVED = 1_790_000_000.0  # arrival times (epoch s), well apart from the device times
GUARD_S = 10.0  # a hung ingest fails the test instead of hanging it; nothing is timed
LOW_BATTERY = {"lock-a": 20}  # lock-b's kind has no low-battery threshold
DEVICES = ("lock-a", "lock-b", "cam-1")


def at(seconds: int) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def lock_state(state: str, serial: Any, battery: int = 90) -> dict[str, Any]:
    return {"lock_id": "L1", "state": state, "rope_cut": False, "shell_opened": False, "battery_pct": battery,
            "serial": serial}


def rows(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Read the store through a connection of its own, as another process would."""
    with closing(sqlite3.connect(db)) as con:
        return con.execute(sql, args).fetchall()


def rows_seen_elsewhere(db: Path, digest: str) -> int:
    return int(rows(db, "SELECT COUNT(*) FROM readings WHERE sha256=?", digest)[0][0])


class Lane:
    """An `Ingest` on a real store and live bus, recording what it tells the world."""

    def __init__(self, db: Path, maxsize: int = 1000) -> None:
        self.db = db
        self.maxsize = maxsize
        self.acks: list[str] = []
        self.published: list[dict[str, Any]] = []
        self.seen: list[tuple[Any, ...]] = []
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Lane:
        self.store = AsyncStore(self.db)
        for device in DEVICES:
            await self.store.call(Store.upsert_device, device, "smart_lock", "mqtt", "t", "")
        bus = LiveBus()
        self.live = bus.subscribe()
        self.ingest = Ingest(
            asyncio.get_running_loop(), self.store, bus, self.published.append,
            lambda device_id: LOW_BATTERY.get(device_id), lambda *args: self.seen.append(args),
            maxsize=self.maxsize,
        )
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        self.store.close()

    def start(self) -> None:
        self.task = asyncio.create_task(self.ingest.run())

    def reading(
        self, name: str, device: str = "lock-a", *, state: dict[str, Any] | None = None, seconds: int | None = None,
        device_time: str | None = None, arrived: float = ARRIVED, on_stored: Callable[[], None] | None = None,
    ) -> Reading:
        """A reading named `name` (its bytes' digest is sha(name)); acked by recording the name."""
        return Reading(
            device, "report", sha(name), {"name": name}, device_time if seconds is None else at(seconds),
            lock_state=state, received_at=arrived, on_stored=on_stored or (lambda: self.acks.append(name)),
        )

    async def feed(self, *readings: Reading) -> None:
        for reading in readings:
            self.ingest.submit(reading)
        async with asyncio.timeout(GUARD_S):  # awaited in this task (wait_for would wrap it in a new one)
            await self.ingest.drain()

    def live_messages(self) -> list[dict[str, Any]]:
        out = []
        while not self.live.empty():
            out.append(self.live.get_nowait())
        return out


def run_lane(db: Path, body: Callable[[Lane], Any], maxsize: int = 1000, start: bool = True) -> Lane:
    async def main() -> Lane:
        async with Lane(db, maxsize) as lane:
            if start:
                lane.start()
            await body(lane)
            return lane

    return asyncio.run(main())


# ------------------------------------------------------------------------------ acknowledgement


def test_acknowledged_only_once_stored_and_duplicates_acknowledged_too(tmp_path: Path) -> None:
    db = tmp_path / "edge.sqlite3"
    acks: list[tuple[str, int]] = []

    def reading(digest: str, state: dict[str, Any] | None) -> Reading:
        return Reading("lock-a", "report", digest, {"n": digest}, device_time="2026-11-30T09:00:00+08:00",
                       lock_state=state, on_stored=lambda: acks.append((digest, rows_seen_elsewhere(db, digest))))

    async def body(lane: Lane) -> None:
        await lane.feed(
            reading("a" * 64, lock_state("sealed", 1)), reading("a" * 64, lock_state("sealed", 1)),
            reading("b" * 64, None), reading("b" * 64, None),
        )

    lane = run_lane(db, body)
    assert acks == [("a" * 64, 1), ("a" * 64, 1), ("b" * 64, 1), ("b" * 64, 1)]
    assert lane.ingest.stats.stored == 2 and lane.ingest.stats.duplicates == 2


def test_events_are_stored_before_the_acknowledgement(tmp_path: Path) -> None:
    db = tmp_path / "edge.sqlite3"
    seen: list[int] = []

    def events_elsewhere() -> None:
        seen.append(int(rows(db, "SELECT COUNT(*) FROM lock_events")[0][0]))

    async def body(lane: Lane) -> None:
        await lane.feed(
            lane.reading("c", state=lock_state("sealed", 1), seconds=0),
            lane.reading("d", state=lock_state("opened", 2), seconds=10, on_stored=events_elsewhere),
        )

    lane = run_lane(db, body)
    assert seen == [2] and [e["event"] for e in lane.published] == ["first_seen", "opened"]
    assert lane.ingest.stats.lock_events == 2


# ------------------------------------------------------------------------------ drain


def test_drain_returns_only_once_the_reading_in_hand_is_stored_and_acked(tmp_path: Path) -> None:
    db = tmp_path / "edge.sqlite3"

    async def body(lane: Lane) -> None:
        gate = threading.Event()
        # The store thread is busy, so the consumer takes the reading off the queue and then waits.
        busy = asyncio.ensure_future(lane.store.call(lambda _store: gate.wait(GUARD_S)))
        try:
            lane.ingest.submit(lane.reading("r1", state=lock_state("sealed", 1), seconds=0))
            drained = asyncio.ensure_future(lane.ingest.drain())
            await asyncio.wait({drained}, timeout=0.2)
            assert lane.ingest.depth == 0, "the consumer has the reading in hand"
            assert not drained.done(), "drain returned while a reading was neither stored nor acked"
        finally:
            gate.set()
        await asyncio.wait_for(drained, GUARD_S)
        assert lane.acks == ["r1"] and rows_seen_elsewhere(db, sha("r1")) == 1
        assert [e["event"] for e in lane.published] == ["first_seen"]
        await busy

    run_lane(db, body)


def test_drain_covers_readings_submitted_just_before_it(tmp_path: Path) -> None:
    db = tmp_path / "edge.sqlite3"

    async def body(lane: Lane) -> None:
        for n in range(3):
            lane.ingest.submit(lane.reading(f"r{n}", "cam-1"))
        async with asyncio.timeout(GUARD_S):
            await lane.ingest.drain()  # awaited at once, in this task: no turn of the loop before it
        assert lane.acks == ["r0", "r1", "r2"]
        assert rows(db, "SELECT COUNT(*) FROM readings")[0][0] == 3

    run_lane(db, body)


# ------------------------------------------------------------------------------ liveness


def test_a_silent_device_goes_offline() -> None:
    status = DeviceStatus("lock-a", "smart_lock", "mqtt", "t", "", offline_after_s=90.0, connected=True)
    assert not status.online(1000.0), "never heard from: not online"
    status.last_seen = 1000.0
    assert status.online(1000.0) and status.online(1090.0)
    assert not status.online(1090.5), "silent past offline_after_s"
    status.connected = False
    assert not status.online(1000.0), "transport down: not online"
