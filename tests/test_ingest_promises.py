"""The ingest path's promises, each checked so that breaking it fails a test.

- A reading is acknowledged (`on_stored`) only once it is in the database, seen from another
  connection; a duplicate is acknowledged too, or the device would resend it for ever.
- A full queue makes a driver's thread wait for room (counted, logged) rather than refuse: a
  refused MQTT report would come back only after a reconnect. Only where nothing may wait (the
  event loop) is a reading refused (counted, logged, not acknowledged, so the device resends it).
  One reading whose handling fails is counted and logged and the lane goes on.
- `drain()` returns only once every reading submitted before it is handled (stored and acked).
- Stats, what the runtime is told a device was seen with, and what goes to the page and MQTT
  follow each report's place in its lock's own order (device time, then serial).
- A device silent for longer than its kind allows is offline, whatever its transport says.

Real parts: SQLite (`AsyncStore`, read back through a separate connection) and a `LiveBus`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from edge.device_status import DeviceStatus
from edge.ingest import Ingest, Reading
from edge.kinds.smart_lock.history import MIGRATIONS, in_lock_order, lock_order
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
        self.store = AsyncStore(self.db, MIGRATIONS)
        for device in DEVICES:
            await self.store.call(Store.upsert_device, device, "smart_lock", "mqtt", "t", "")
        bus = LiveBus()
        self.live = bus.subscribe()
        self.ingest = Ingest(
            asyncio.get_running_loop(), self.store, bus, lambda row: self.published.append(row.as_dict()),
            lambda *args: self.seen.append(args),
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
        moment = device_time if seconds is None else at(seconds)
        return Reading(
            device, "report", sha(name), {"name": name}, moment, state=state,
            derive=None if state is None else in_lock_order(state, moment, LOW_BATTERY.get(device)),
            kind="smart_lock" if state is not None else "", received_at=arrived,
            on_stored=on_stored or (lambda: self.acks.append(name)),
        )

    async def feed(self, *readings: Reading) -> None:
        for reading in readings:
            self.ingest.submit(reading)
        await self.settle()

    async def settle(self) -> None:
        """Await `drain()` in this very task, as the runtime's shutdown does; a consumer that stops
        (or returns) fails the test at once instead of hanging it."""
        waiting = asyncio.current_task()
        assert waiting is not None and self.task is not None

        def consumer_stopped(_task: object) -> None:
            waiting.cancel()

        self.task.add_done_callback(consumer_stopped)
        try:
            async with asyncio.timeout(GUARD_S):
                await self.ingest.drain()
        except asyncio.CancelledError:
            if self.task.done():
                raise AssertionError("the ingest consumer stopped") from (
                    None if self.task.cancelled() else self.task.exception())
            raise
        finally:
            self.task.remove_done_callback(consumer_stopped)

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


def ingest_records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "edge.ingest" and r.levelno == level]


# ------------------------------------------------------------------------------ acknowledgement


def test_acknowledged_only_once_stored_and_duplicates_acknowledged_too(tmp_path: Path) -> None:
    db = tmp_path / "edge.sqlite3"
    acks: list[tuple[str, int]] = []

    def reading(digest: str, state: dict[str, Any] | None) -> Reading:
        return Reading("lock-a", "report", digest, {"n": digest}, device_time="2026-11-30T09:00:00+08:00",
                       state=state, derive=in_lock_order(state, "2026-11-30T09:00:00+08:00", 20) if state else None,
                       on_stored=lambda: acks.append((digest, rows_seen_elsewhere(db, digest))))

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
        seen.append(int(rows(db, "SELECT COUNT(*) FROM events")[0][0]))

    async def body(lane: Lane) -> None:
        await lane.feed(
            lane.reading("c", state=lock_state("sealed", 1), seconds=0),
            lane.reading("d", state=lock_state("opened", 2), seconds=10, on_stored=events_elsewhere),
        )

    lane = run_lane(db, body)
    assert seen == [2] and [e["event"] for e in lane.published] == ["first_seen", "opened"]
    assert lane.ingest.stats.events == 2


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
        assert lane.task is not None
        done, _ = await asyncio.wait({drained, lane.task}, timeout=GUARD_S, return_when=asyncio.FIRST_COMPLETED)
        assert drained in done, "drained once the store answered"
        assert lane.acks == ["r1"] and rows_seen_elsewhere(db, sha("r1")) == 1
        assert [e["event"] for e in lane.published] == ["first_seen"]
        await busy

    run_lane(db, body)


def test_drain_covers_readings_submitted_just_before_it(tmp_path: Path) -> None:
    db = tmp_path / "edge.sqlite3"

    async def body(lane: Lane) -> None:
        for n in range(3):
            lane.ingest.submit(lane.reading(f"r{n}", "cam-1"))
        await lane.settle()  # drain() awaited at once, in this task: no turn of the loop before it
        assert lane.acks == ["r0", "r1", "r2"]
        assert rows(db, "SELECT COUNT(*) FROM readings")[0][0] == 3

    run_lane(db, body)


# ------------------------------------------------------------------------------ refusals and failures


def test_a_full_queue_makes_a_drivers_thread_wait_and_refuses_only_on_the_event_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    db = tmp_path / "edge.sqlite3"
    caplog.set_level(logging.INFO, logger="edge.ingest")

    async def body(lane: Lane) -> None:
        r1, r2 = lane.reading("r1", "cam-1"), lane.reading("r2", "cam-1")
        r3, r4 = lane.reading("r3", "lock-a"), lane.reading("r4", "lock-b")
        # Handed over from a driver's thread while nothing consumes: the queue (2) fills, the thread waits.
        driver = asyncio.ensure_future(asyncio.to_thread(lambda: [lane.ingest.submit(r) for r in (r1, r2, r3, r4)]))
        async with asyncio.timeout(GUARD_S):
            while lane.ingest.waiting != 1 or lane.ingest.depth != 2:
                await asyncio.sleep(0.01)
        stats = lane.ingest.stats
        assert not driver.done()
        assert stats.submitted == 2 and stats.waited_full == 1 and stats.rejected_full == 0
        lane.ingest.submit(lane.reading("r5", "lock-b"))  # on the event loop nothing may wait: refused
        assert stats.submitted == 3 and stats.rejected_full == 1
        lane.start()
        await asyncio.wait_for(driver, GUARD_S)
        await lane.settle()
        assert lane.acks == ["r1", "r2", "r3", "r4"], "every reading that waited is stored and acknowledged"
        assert [rows_seen_elsewhere(db, sha(n)) for n in ("r1", "r2", "r3", "r4", "r5")] == [1, 1, 1, 1, 0]
        await lane.feed(lane.reading("r5", "lock-b"))  # the device resends what was not acknowledged
        assert lane.acks[-1] == "r5" and rows_seen_elsewhere(db, sha("r5")) == 1
        assert stats.submitted == 6 and stats.rejected_full == 1 and stats.stored == 5 and stats.waited_full >= 1

    run_lane(db, body, maxsize=2, start=False)
    waits, refusals = (
        [m for m in (r.getMessage() for r in ingest_records(caplog, logging.WARNING)) if word in m]
        for word in ("waits for room", "not accepted"))
    assert len(waits) == 1 and "full (2)" in waits[0] and "lock-a" in waits[0], waits
    assert len(refusals) == 1 and "event loop" in refusals[0] and "lock-b" in refusals[0], refusals
    assert len(ingest_records(caplog, logging.WARNING)) == 2


def test_a_reading_that_fails_is_counted_and_logged_and_the_next_still_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    db = tmp_path / "edge.sqlite3"
    caplog.set_level(logging.INFO, logger="edge.ingest")

    async def body(lane: Lane) -> None:
        await lane.feed(
            lane.reading("bad1", "lock-b", state=lock_state("sealed", "not-a-serial"), seconds=0),
            lane.reading("good1", state=lock_state("sealed", 1), seconds=0),
            lane.reading("bad2", "lock-b", state=lock_state("opened", "?"), seconds=5),
            lane.reading("good2", state=lock_state("opened", 2), seconds=10),
        )
        assert lane.task is not None and not lane.task.done(), "the consumer is still running"

    lane = run_lane(db, body)
    assert lane.ingest.stats.errors == 2 and lane.ingest.stats.stored == 2
    assert lane.acks == ["good1", "good2"], "a reading that failed is not acknowledged"
    assert [rows_seen_elsewhere(db, sha(n)) for n in ("bad1", "good1", "bad2", "good2")] == [0, 1, 0, 1]
    assert [e["event"] for e in lane.published] == ["first_seen", "opened"]
    errors = ingest_records(caplog, logging.ERROR)
    assert len(errors) == 2
    for record in errors:
        message = record.getMessage()
        assert "fail" in message and "lock-b" in message and record.exc_info is not None, message


# ------------------------------------------------------------------------------ counters and what is stored


def test_stored_and_duplicates_are_counted_for_plain_and_lock_readings_alike(tmp_path: Path) -> None:
    db = tmp_path / "edge.sqlite3"
    counts: list[tuple[int, int]] = []

    async def body(lane: Lane) -> None:
        stats = lane.ingest.stats
        await lane.feed(lane.reading("p1", "cam-1"), lane.reading("p1", "cam-1"), lane.reading("p2", "cam-1"))
        counts.append((stats.stored, stats.duplicates))
        await lane.feed(
            lane.reading("l1", state=lock_state("sealed", 1), seconds=0),
            lane.reading("l1", state=lock_state("sealed", 1), seconds=0),
            lane.reading("l2", state=lock_state("sealed", 2), seconds=30),
            lane.reading("l2", state=lock_state("sealed", 2), seconds=30),
            lane.reading("l3", state=lock_state("sealed", 3), seconds=60),
        )
        counts.append((stats.stored, stats.duplicates))

    lane = run_lane(db, body)
    assert counts == [(2, 1), (5, 3)]
    assert lane.acks == ["p1", "p1", "p2", "l1", "l1", "l2", "l2", "l3"]
    assert lane.ingest.stats.submitted == 8 and lane.ingest.stats.errors == 0


def test_a_reading_is_stored_whole_and_its_device_reported_seen(tmp_path: Path) -> None:
    db = tmp_path / "edge.sqlite3"

    async def body(lane: Lane) -> None:
        await lane.feed(
            lane.reading("plain", "cam-1", device_time=at(3), arrived=ARRIVED + 1),
            lane.reading("lock", state=lock_state("sealed", 1), seconds=4, arrived=ARRIVED + 2),
        )

    lane = run_lane(db, body)
    stored = rows(db, "SELECT device_id, received_at, device_time, message, sha256, payload_json FROM readings ORDER BY id")
    assert stored == [
        ("cam-1", ARRIVED + 1, at(3), "report", sha("plain"), '{"name": "plain"}'),
        ("lock-a", ARRIVED + 2, at(4), "report", sha("lock"), '{"name": "lock"}'),
    ]
    assert lane.seen == [("cam-1", ARRIVED + 1, None), ("lock-a", ARRIVED + 2, lock_state("sealed", 1))]


def test_a_reading_the_edge_makes_itself_does_not_count_as_the_device_speaking(tmp_path: Path) -> None:
    db = tmp_path / "edge.sqlite3"
    analysis = Reading("cam-1", "analysis", sha("analysis"), {"score": 0.2}, state={"score": 0.2},
                       from_device=False, received_at=ARRIVED + 5)

    async def body(lane: Lane) -> None:
        await lane.feed(lane.reading("pass", "cam-1", device_time=at(0), arrived=ARRIVED + 1), analysis)

    lane = run_lane(db, body)
    assert lane.seen == [("cam-1", ARRIVED + 1, None), ("cam-1", None, {"score": 0.2})]
    (last_seen, state), = rows(db, "SELECT last_seen, state_json FROM devices WHERE id='cam-1'")
    assert last_seen == ARRIVED + 1 and state == '{"score": 0.2}', "its state is kept, its time of speaking is not moved"


def test_device_seen_gets_the_state_only_from_the_newest_report(tmp_path: Path) -> None:
    db = tmp_path / "edge.sqlite3"
    newest, older = lock_state("opened", 2), lock_state("sealed", 1)

    async def body(lane: Lane) -> None:
        await lane.feed(
            lane.reading("new", state=newest, seconds=10, arrived=ARRIVED + 1),
            lane.reading("old", state=older, seconds=0, arrived=ARRIVED + 2),  # late: older in the lock's order
            lane.reading("new", state=newest, seconds=10, arrived=ARRIVED + 3),  # a retransmission
        )

    lane = run_lane(db, body)
    assert lane.seen == [("lock-a", ARRIVED + 1, newest), ("lock-a", ARRIVED + 2, None), ("lock-a", ARRIVED + 3, None)]
    assert lane.acks == ["new", "old", "new"]


def test_equal_device_times_are_ordered_by_serial(tmp_path: Path) -> None:
    db = tmp_path / "edge.sqlite3"
    second, first = lock_state("opened", 8), lock_state("sealed", 7)

    async def body(lane: Lane) -> None:
        # Two reports within one second of device time: the serial says which came first.
        await lane.feed(lane.reading("s8", state=second, seconds=0), lane.reading("s7", state=first, seconds=0))

    lane = run_lane(db, body)
    assert lane.seen == [("lock-a", ARRIVED, second), ("lock-a", ARRIVED, None)]
    assert lane.ingest.stats.late == 1
    stored = rows(db, "SELECT serial, order_time FROM lock_history ORDER BY reading_id")
    assert stored == [(8, T0.timestamp()), (7, T0.timestamp())]


def test_late_reports_are_counted_and_moved_events_announced(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "edge.sqlite3"
    caplog.set_level(logging.INFO, logger="edge.ingest")

    async def body(lane: Lane) -> None:
        await lane.feed(
            lane.reading("a", state=lock_state("sealed", 1), seconds=0),
            lane.reading("c", state=lock_state("opened", 3), seconds=20),
            lane.reading("b", state=lock_state("opened", 2), seconds=10),  # late: the opening moves back to it
            lane.reading("z", state=lock_state("sealed", 0), seconds=-10),  # late: first seen moves back to it
            lane.reading("b", state=lock_state("opened", 2), seconds=10),  # a retransmission: not a late report
        )

    lane = run_lane(db, body)
    stats = lane.ingest.stats
    assert (stats.stored, stats.duplicates) == (4, 1)
    assert (stats.late, stats.events, stats.events_moved) == (2, 2, 2)
    stored = rows(db, "SELECT id, device_id, kind, subject, event, detail, device_time, received_at FROM events ORDER BY id")
    keys = ("id", "device_id", "kind", "subject", "event", "detail", "device_time", "received_at")
    final = {row[0]: dict(zip(keys, row)) for row in stored}
    assert [(e["event"], e["device_time"]) for e in final.values()] == [("first_seen", at(-10)), ("opened", at(10))]
    # Raised at a then c, then each moved back: every change goes out again with its new time.
    first_seen, opened = final.values()
    assert lane.published == [
        {**first_seen, "device_time": at(0)}, {**opened, "device_time": at(20)}, opened, first_seen,
    ]
    assert lane.live_messages() == [{"type": "event", "data": data} for data in lane.published]

    infos = [r.getMessage() for r in ingest_records(caplog, logging.INFO)]

    def logged(*parts: str) -> bool:
        return any(all(part in message for part in parts) for message in infos)

    assert logged("lock-a", "first_seen", at(0), first_seen["detail"]) and logged("lock-a", "opened", at(20), "lock opened")
    assert logged("lock-a", "opened", "moved", at(10)) and logged("lock-a", "first_seen", "moved", at(-10))
    assert logged("lock-a", at(10), "later") and logged("lock-a", at(-10), "later")


def test_low_battery_threshold_is_the_reporting_devices_own(tmp_path: Path) -> None:
    db = tmp_path / "edge.sqlite3"

    async def body(lane: Lane) -> None:
        await lane.feed(
            lane.reading("a", "lock-a", state=lock_state("sealed", 1, battery=15), seconds=0),
            lane.reading("b", "lock-b", state=lock_state("sealed", 1, battery=15), seconds=0),
        )

    lane = run_lane(db, body)
    assert [(e["device_id"], e["event"]) for e in lane.published] == [
        ("lock-a", "first_seen"), ("lock-a", "battery_low"), ("lock-b", "first_seen"),
    ]


# ------------------------------------------------------------------------------ lock_order


def order_of(device_time: str | None, state: dict[str, Any] | None, arrived: float = ARRIVED) -> tuple[float, int]:
    return lock_order(device_time, (state or {}).get("serial"), arrived, "lock-a")


def test_lock_order_is_device_time_with_its_offset_then_serial() -> None:
    epoch = datetime(2026, 11, 30, 1, 0, 0, tzinfo=timezone.utc).timestamp()  # 09:00 in Beijing
    assert order_of("2026-11-30T09:00:00+08:00", lock_state("sealed", 7)) == (epoch, 7)
    assert order_of("2026-11-30T01:00:05+00:00", lock_state("sealed", 7)) == (epoch + 5, 7)
    assert order_of("2026-11-30T09:00:00+08:00", {"state": "sealed"}) == (epoch, 0), "no serial: 0"


def test_lock_order_without_a_device_time_is_the_arrival() -> None:
    assert order_of(None, lock_state("sealed", 3)) == (ARRIVED, 3)
    assert order_of("", lock_state("sealed", 4), arrived=ARRIVED + 9) == (ARRIVED + 9, 4)
    assert order_of(None, None) == (ARRIVED, 0)


def test_lock_order_unreadable_device_time_is_the_arrival_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edge.kinds.smart_lock.history")
    assert order_of("30/11/2026 09:00", lock_state("sealed", 5)) == (ARRIVED, 5)
    warnings = [r.getMessage() for r in caplog.records
                if r.name == "edge.kinds.smart_lock.history" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "lock-a" in warnings[0] and "30/11/2026 09:00" in warnings[0], warnings


# ------------------------------------------------------------------------------ liveness


def test_a_silent_device_goes_offline() -> None:
    status = DeviceStatus("lock-a", "smart_lock", "mqtt", "t", "", offline_after_s=90.0, connected=True)
    assert not status.online(1000.0), "never heard from: not online"
    status.last_seen = 1000.0
    assert status.online(1000.0) and status.online(1090.0)
    assert not status.online(1090.5), "silent past offline_after_s"
    status.connected = False
    assert not status.online(1000.0), "transport down: not online"
