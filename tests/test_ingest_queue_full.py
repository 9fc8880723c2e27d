"""A full ingest queue must not strand MQTT readings.

An MQTT report is acknowledged (PUBACK) only once stored; a QoS 1 message never acknowledged
is redelivered only when the edge reconnects, and enough of them fill the broker's in-flight
window so that nothing else reaches the lane. So a reading that finds the queue full is held
(bounded per device) and queued as room frees: stored and acknowledged on the same connection.

Real parts: Mosquitto (tests/conftest.py), `MqttTransport` with manual acks, the smart lock's
MQTT adapter, `Ingest` with a tiny queue, SQLite behind a store slowed down on its own thread.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
import pytest

from drivers.mqtt_transport import MqttTransport
from drivers.smart_lock import LockReportWire
from edge.device_status import DeviceStatus
from edge.ingest import Ingest, Reading
from edge.kinds.base import DeviceContext
from edge.kinds.smart_lock.config import SmartLockConfig, SmartLockDefaults
from edge.kinds.smart_lock.history import MIGRATIONS
from edge.kinds.smart_lock.mqtt import MqttLock
from edge.live import LiveBus
from edge.store import AsyncStore, Store
from tests.conftest import Broker

T = TypeVar("T")
T0 = datetime(2026, 11, 30, 9, 0, 0, tzinfo=timezone(timedelta(hours=8)))
DEVICE = "lock-q"
REPORTS = 40  # more than mosquitto's in-flight window (max_inflight_messages 20) and the queue
QUEUE = 2
STORE_DELAY_S = 0.03  # per reading, on the store's thread: a disk that cannot keep up
STALL_S = 3.0  # no reading stored for this long: whatever is left is stranded


class SlowStore(AsyncStore):
    """An `AsyncStore` whose every `record_reading` first waits `STORE_DELAY_S` on the store thread."""

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        if fn is not Store.record_reading:
            return await super().call(fn, *args)

        def slowly(store: Store, *rest: Any) -> T:
            time.sleep(STORE_DELAY_S)
            return fn(store, *rest)

        return await super().call(slowly, *args)


def report(serial: int) -> bytes:
    wire = LockReportWire(terminal="13800000001", serial=serial, lock_id="L1", state="sealed", rope_cut=False,
                          shell_opened=False, battery_pct=90, latitude=22.5, longitude=114.1,
                          time=T0 + timedelta(seconds=serial))
    return wire.model_dump_json().encode("utf-8")


def publish_reports(broker: Broker, topic: str, count: int) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="lock-q-stub")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        for info in [client.publish(topic, report(n), qos=1) for n in range(count)]:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def stored_reports(db: Path) -> int:
    with closing(sqlite3.connect(db)) as con:
        return int(con.execute("SELECT COUNT(*) FROM readings WHERE device_id=?", (DEVICE,)).fetchone()[0])


async def wait_stored(db: Path, want: int, guard_s: float = 60.0) -> int:
    """Wait until `want` readings are stored, or none has been for `STALL_S`; the count stored."""
    deadline = time.monotonic() + guard_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = stored_reports(db)
        if now >= want:
            return now
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > STALL_S:
            return now
        await asyncio.sleep(0.1)
    return stored_reports(db)


def edge_transport(broker: Broker, on_message: Callable[[str, bytes, Callable[[], None]], None]) -> MqttTransport:
    return MqttTransport(broker.url, client_id="queue-full-edge", availability_topic="t/queue-full/availability",
                         on_message=on_message, manual_ack=True)


def redelivered_after_restart(broker: Broker, topic: str) -> int:
    """Reconnect with the same session: the broker sends again whatever was never acknowledged."""
    got: list[bytes] = []
    transport = edge_transport(broker, lambda _t, payload, _ack: got.append(payload))
    transport.subscribe(topic, qos=1)
    transport.start()
    try:
        assert transport.wait_connected(10)
        time.sleep(1.5)
        return len(got)
    finally:
        transport.stop()


def test_mqtt_reports_beyond_a_full_queue_are_stored_and_acked_on_the_same_connection(
    mosquitto: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    db = tmp_path / "edge.sqlite3"
    caplog.set_level(logging.INFO, logger="edge.ingest")

    async def main() -> tuple[int, Ingest, int]:
        store = SlowStore(db, MIGRATIONS)
        await store.call(Store.upsert_device, DEVICE, "smart_lock", "mqtt", "t", "")
        ingest = Ingest(asyncio.get_running_loop(), store, LiveBus(), lambda _row: None, lambda *_: None, maxsize=QUEUE)
        consumer = asyncio.create_task(ingest.run())
        config = SmartLockConfig.model_validate({"id": DEVICE, "kind": "smart_lock", "transport": "mqtt"})
        status = DeviceStatus(DEVICE, "smart_lock", "mqtt", "", "", 90.0)
        holder: list[MqttLock] = []
        transport = edge_transport(mosquitto, lambda t, p, ack: holder[0].on_mqtt_message(t, p, ack))
        lock = MqttLock(DeviceContext(config, SmartLockDefaults(), "lane", status, ingest, transport, lambda _d: None))
        holder.append(lock)
        lock.start()
        transport.start()
        try:
            assert await asyncio.to_thread(transport.wait_connected, 10)
            await asyncio.sleep(0.3)  # let the subscription settle
            await asyncio.to_thread(publish_reports, mosquitto, lock.report_topic, REPORTS)
            stored = await wait_stored(db, REPORTS)
            connects = transport.stats().connects
        finally:
            await asyncio.to_thread(transport.stop)
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
            store.close()
        return stored, ingest, connects

    stored, ingest, connects = asyncio.run(main())
    stats = ingest.stats
    print(f"stored {stored}/{REPORTS} on one connection (connects={connects}); ingest stats: {stats}")
    assert connects == 1, "the test must not lean on a reconnect"
    assert stored == REPORTS, f"{REPORTS - stored} reports never stored while the connection stayed up"
    assert stats.rejected_full == 0 and stats.waited_full > 0 and stats.stored == REPORTS
    assert redelivered_after_restart(mosquitto, lock_topic()) == 0, "every report was acknowledged"
    warnings = ingest_warnings(caplog)
    assert 1 <= len(warnings) < stats.waited_full, "waits are logged, but not one line each"
    assert all("full (2)" in w and "waits for room" in w and DEVICE in w for w in warnings), warnings


def ingest_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "edge.ingest" and r.levelno == logging.WARNING]


def lock_topic() -> str:
    return f"kouan/lane/{DEVICE}/report"


# ------------------------------------------------------------------------------ without a broker


async def lane_ingest(db: Path, maxsize: int) -> tuple[AsyncStore, Ingest, asyncio.Task[None]]:
    store = SlowStore(db, MIGRATIONS)
    await store.call(Store.upsert_device, DEVICE, "smart_lock", "mqtt", "t", "")
    ingest = Ingest(asyncio.get_running_loop(), store, LiveBus(), lambda _row: None, lambda *_: None, maxsize=maxsize)
    return store, ingest, asyncio.create_task(ingest.run())


def plain(name: str, on_stored: Callable[[], None] | None = None) -> Reading:
    return Reading(DEVICE, "report", name.rjust(64, "0"), {"name": name}, on_stored=on_stored)


def test_readings_nobody_would_resend_wait_for_room_instead_of_being_lost(tmp_path: Path) -> None:
    """Like the items of a JT/T 808 0x0704 batch: only the last carries the acknowledgement."""
    db = tmp_path / "edge.sqlite3"
    acked_with: list[int] = []

    async def main() -> Ingest:
        store, ingest, consumer = await lane_ingest(db, maxsize=1)
        batch = [plain(f"item{n}") for n in range(5)] + [plain("last", lambda: acked_with.append(stored_reports(db)))]
        try:
            await asyncio.wait_for(asyncio.to_thread(lambda: [ingest.submit(r) for r in batch]), 30)
            await asyncio.wait_for(ingest.drain(), 30)
        finally:
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
            store.close()
        return ingest

    ingest = asyncio.run(main())
    assert stored_reports(db) == 6 and acked_with == [6], "every item stored, the batch acknowledged once after"
    assert ingest.stats.rejected_full == 0 and ingest.stats.waited_full >= 4


def test_a_stopped_consumer_releases_a_waiting_thread_refused_counted_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    db = tmp_path / "edge.sqlite3"
    caplog.set_level(logging.INFO, logger="edge.ingest")
    acks: list[str] = []
    gate = threading.Event()

    async def main() -> Ingest:
        store, ingest, consumer = await lane_ingest(db, maxsize=1)
        busy = asyncio.ensure_future(store.call(lambda _store: gate.wait(30)))  # the disk hangs
        try:
            ingest.submit(plain("in-hand", lambda: acks.append("in-hand")))
            waits = plain("waits", lambda: acks.append("waits"))
            driver = asyncio.ensure_future(asyncio.to_thread(ingest.submit, waits))
            async with asyncio.timeout(10):
                while ingest.waiting != 1:
                    await asyncio.sleep(0.01)
            consumer.cancel()  # shutdown: the thread must not wait for ever (paho's loop_stop joins it)
            await asyncio.gather(consumer, return_exceptions=True)
            await asyncio.wait_for(driver, 5)
        finally:
            gate.set()
            await busy
            store.close()
        return ingest

    ingest = asyncio.run(main())
    assert acks == [] and ingest.waiting == 0
    assert ingest.stats.rejected_full == 1 and ingest.stats.waited_full == 1
    refusals = [w for w in ingest_warnings(caplog) if "not accepted" in w]
    assert len(refusals) == 1 and "consumer has stopped" in refusals[0] and DEVICE in refusals[0], refusals
