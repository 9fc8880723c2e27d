"""The detector's Modbus RTU channel: polled by `ModbusRtuPoller` on its own thread.

Each completed scan (scan state "result ready" with a sequence number not yet acknowledged)
becomes one reading; its `on_stored` (called by ingest only after the store committed) writes
the sequence number to holding register 0, the device's acknowledgement. The write runs on an
acknowledgement thread of its own, never on the event loop. A write that fails is counted and
logged; the device keeps its result ready, the next poll submits it again, the store counts it
as a duplicate and the acknowledgement is written again.

A change of device status or error code becomes a reading too (a fault raises `fault`).
Liveness: the link state of the poller (up at a complete poll, down with its reason), and the
heartbeat register: a device that answers while its heartbeat stays frozen for longer than
`heartbeat_stale_s` has a hung application and is shown offline with that reason.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Any

from drivers.backoff import Backoff
from drivers.empty_box import ACK_REGISTER, BLOCKS, HOLDING_BLOCK, INPUT_BLOCK, EmptyBoxReading, ScanState
from drivers.modbus_rtu import ModbusRtuPoller, Poll
from edge.ingest import Reading
from edge.kinds.base import DeviceContext
from edge.kinds.empty_box.pairing import scan_deriver, status_deriver
from edge.kinds.empty_box.state import scan_fields, status_fields

log = logging.getLogger(__name__)
KIND = "empty_box"
IN_PROGRESS = (ScanState.TRIGGERED, ScanState.SCANNING)


class ModbusChannel:
    """Polls one detector; see the module docstring. `on_scan(sequence, at)` tells the pairing
    clock that a scan result was submitted."""

    def __init__(self, ctx: DeviceContext, liveness: Any, on_scan: Any) -> None:
        config = ctx.config.modbus
        self._id = ctx.config.id
        self._ingest = ctx.ingest
        self._status = ctx.status
        self._liveness = liveness
        self._on_scan = on_scan
        self._stale_s: float = ctx.defaults.heartbeat_stale_s
        self._timeout_s: float = ctx.defaults.pair_timeout_s
        saved = dict(ctx.status.state)
        self._state: dict[str, Any] = saved     # the last state submitted (poller thread only)
        self._heartbeat: int | None = None
        self._heartbeat_at = 0.0
        self._in_progress: tuple[int, str | None] | None = None   # (sequence, container) being scanned
        self._submitted: str | None = None      # key of the scan result in flight to the store
        self._submitted_at = 0.0
        self._resubmit_s = max(5.0, 5 * config.poll_period_s)   # not acknowledged by then: lost on the way
        self._ack_lock = threading.Lock()
        self._ack_due: int | None = None
        self._ack_wake = threading.Event()
        self._stopping = threading.Event()
        self._ack_thread: threading.Thread | None = None
        for name in ("polls", "bad_polls", "scans", "acks", "ack_failures", "status_changes"):
            ctx.status.counters[name] = 0
        self.poller = ModbusRtuPoller(
            config.port, BLOCKS, self._on_poll, self._on_state, unit=config.unit, baudrate=config.baudrate,
            parity=config.parity, stopbits=config.stopbits, period_s=config.poll_period_s, timeout_s=config.timeout_s,
            backoff=Backoff(initial=0.1, maximum=5.0), name=self._id,
        )

    def start(self) -> None:
        self._stopping.clear()
        self._ack_thread = threading.Thread(target=self._ack_loop, name=f"ebox-ack:{self._id}", daemon=True)
        self._ack_thread.start()
        self.poller.start()

    def stop(self) -> None:
        self.poller.stop()
        self._stopping.set()
        self._ack_wake.set()
        if self._ack_thread is not None:
            self._ack_thread.join(5)

    # ------------------------------------------------------------ poller thread

    def _on_state(self, connected: bool, reason: str) -> None:
        log.info("empty box %s modbus %s: %s", self._id, "up" if connected else "down", reason)
        self._liveness.link(connected, reason)

    def _on_poll(self, poll: Poll) -> None:
        counters = self._status.counters
        counters["polls"] += 1
        try:
            reading = EmptyBoxReading.from_registers(poll.of(INPUT_BLOCK), self._id, poll.of(HOLDING_BLOCK))
        except ValueError as exc:
            counters["bad_polls"] += 1
            log.warning("empty box %s: poll refused: %s", self._id, exc)
            return
        self._watch_heartbeat(reading.heartbeat)
        status = status_fields(reading)
        if any(self._state.get(k) != v for k, v in status.items()):
            self._submit_status(reading, status)
        if reading.scan_state in IN_PROGRESS:
            self._in_progress = (reading.sequence, reading.container)
        elif reading.result_ready:
            self._in_progress = None
            self._submit_scan(reading)

    def _watch_heartbeat(self, heartbeat: int) -> None:
        now = time.monotonic()
        if heartbeat != self._heartbeat:
            self._heartbeat, self._heartbeat_at = heartbeat, now
            self._liveness.heartbeat(True, "")
            self._status.last_seen = time.time()
        elif now - self._heartbeat_at > self._stale_s:
            self._liveness.heartbeat(False, f"heartbeat frozen at {heartbeat} for over {self._stale_s:g} s: "
                                            "the detector answers but its application is hung")

    def _submit_status(self, reading: EmptyBoxReading, status: dict[str, Any]) -> None:
        self._status.counters["status_changes"] += 1
        abandoned = self._in_progress if reading.status.name == "FAULT" else None
        self._state = {**self._state, **status}
        key = hashlib.sha256(f"{self._id}:status:{reading.status.value}:{reading.error_code}:{reading.uptime_s}"
                             .encode()).hexdigest()
        payload = {**status, "uptime_s": reading.uptime_s}
        if abandoned is not None:
            payload["abandoned"] = {"sequence": abandoned[0], "container": abandoned[1]}
            self._in_progress = None
        log.info("empty box %s: status %s, error %s", self._id, status["status"], status["error"] or "none")
        self._ingest.submit(Reading(
            self._id, "status", key, payload, state=dict(self._state), kind=KIND,
            derive=status_deriver(dict(self._state), abandoned[1] or "" if abandoned else "", self._timeout_s),
        ))

    def _submit_scan(self, reading: EmptyBoxReading) -> None:
        scan = scan_fields(reading)
        inputs = ",".join(str(v) for v in reading.to_registers()[7:])
        key = hashlib.sha256(f"{self._id}:scan:{inputs}".encode()).hexdigest()
        now = time.monotonic()
        if key == self._submitted and now - self._submitted_at < self._resubmit_s:
            return  # in flight: stored and acknowledged soon (else submitted again: the store keeps it once)
        self._submitted, self._submitted_at = key, now
        self._state = {**self._state, **scan}
        self._status.counters["scans"] += 1
        received = time.time()
        self._on_scan(reading.sequence, received)
        self._ingest.submit(Reading(
            self._id, "scan", key, {**scan, "acknowledged": reading.acknowledged}, device_time=scan["scan_time"],
            state=(shown := dict(self._state)), derive=scan_deriver(scan, self._timeout_s, shown), kind=KIND,
            received_at=received,
            on_stored=lambda sequence=reading.sequence: self._acknowledge(sequence),
        ))

    # ------------------------------------------------------------ acknowledgement

    def _acknowledge(self, sequence: int) -> None:
        """Called by ingest once the scan is stored (event loop): hand the write to the ack thread."""
        with self._ack_lock:
            self._ack_due = sequence
        self._ack_wake.set()

    def _ack_loop(self) -> None:
        while not self._stopping.is_set():
            self._ack_wake.wait()
            self._ack_wake.clear()
            with self._ack_lock:
                sequence, self._ack_due = self._ack_due, None
            if sequence is None or self._stopping.is_set():
                continue
            try:
                self.poller.write_register(ACK_REGISTER, sequence)
                self._status.counters["acks"] += 1
                log.debug("empty box %s: scan %d acknowledged", self._id, sequence)
            except Exception as exc:  # not connected, no answer, exception: the next poll submits it again
                self._status.counters["ack_failures"] += 1
                log.warning("empty box %s: acknowledgement of scan %d not written: %s", self._id, sequence, exc)
                self._submitted = None
