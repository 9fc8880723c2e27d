"""The ingest path's promises, each checked so that breaking it fails a test.

- A reading is acknowledged (`on_stored`) only once it is in the database, seen from another
  connection; a duplicate is acknowledged too, or the device would resend it for ever.
- A device silent for longer than its kind allows is offline, whatever its transport says.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from edge.device_status import DeviceStatus
from edge.ingest import Ingest, Reading
from edge.live import LiveBus
from edge.store import AsyncStore, Store


def lock_state(state: str, serial: int) -> dict[str, Any]:
    return {"lock_id": "L1", "state": state, "rope_cut": False, "shell_opened": False, "battery_pct": 90,
            "serial": serial}


def run_ingest(db: Path, readings: list[Reading]) -> tuple[Ingest, list[dict[str, Any]]]:
    published: list[dict[str, Any]] = []

    async def main() -> Ingest:
        store = AsyncStore(db)
        await store.call(Store.upsert_device, "lock-a", "smart_lock", "mqtt", "t", "")
        ingest = Ingest(asyncio.get_running_loop(), store, LiveBus(), published.append, lambda _d: 20,
                        lambda *_: None)
        task = asyncio.create_task(ingest.run())
        for reading in readings:
            ingest.submit(reading)
        await asyncio.sleep(0)
        await ingest.drain()
        await asyncio.sleep(0.05)
        task.cancel()
        store.close()
        return ingest

    return asyncio.run(main()), published


def rows_seen_elsewhere(db: Path, sha: str) -> int:
    with sqlite3.connect(db) as con:
        return int(con.execute("SELECT COUNT(*) FROM readings WHERE sha256=?", (sha,)).fetchone()[0])


def test_acknowledged_only_once_stored_and_duplicates_acknowledged_too(tmp_path: Path) -> None:
    db = tmp_path / "edge.sqlite3"
    acks: list[tuple[str, int]] = []

    def reading(sha: str, state: dict[str, Any] | None) -> Reading:
        return Reading("lock-a", "report", sha, {"n": sha}, device_time="2026-11-30T09:00:00+08:00",
                       lock_state=state, on_stored=lambda: acks.append((sha, rows_seen_elsewhere(db, sha))))

    ingest, _ = run_ingest(db, [
        reading("a" * 64, lock_state("sealed", 1)), reading("a" * 64, lock_state("sealed", 1)),
        reading("b" * 64, None), reading("b" * 64, None),
    ])
    assert acks == [("a" * 64, 1), ("a" * 64, 1), ("b" * 64, 1), ("b" * 64, 1)]
    assert ingest.stats.stored == 2 and ingest.stats.duplicates == 2


def test_events_are_stored_before_the_acknowledgement(tmp_path: Path) -> None:
    db = tmp_path / "edge.sqlite3"
    seen: list[int] = []

    def events_elsewhere() -> None:
        with sqlite3.connect(db) as con:
            seen.append(int(con.execute("SELECT COUNT(*) FROM lock_events").fetchone()[0]))

    ingest, published = run_ingest(db, [
        Reading("lock-a", "report", "c" * 64, {}, "2026-11-30T09:00:00+08:00", lock_state("sealed", 1)),
        Reading("lock-a", "report", "d" * 64, {}, "2026-11-30T09:00:10+08:00", lock_state("opened", 2),
                on_stored=events_elsewhere),
    ])
    assert seen == [2] and [e["event"] for e in published] == ["first_seen", "opened"]
    assert ingest.stats.lock_events == 2


def test_a_silent_device_goes_offline() -> None:
    status = DeviceStatus("lock-a", "smart_lock", "mqtt", "t", "", offline_after_s=90.0, connected=True)
    assert not status.online(1000.0), "never heard from: not online"
    status.last_seen = 1000.0
    assert status.online(1000.0) and status.online(1090.0)
    assert not status.online(1090.5), "silent past offline_after_s"
    status.connected = False
    assert not status.online(1000.0), "transport down: not online"
