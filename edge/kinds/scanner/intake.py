"""The scanner's adapter: the MQTT notice channel and the watched-folder channel, paired by file name.

A notice is parsed on paho's thread (refused, counted and acknowledged if bad), stored as a
reading that keeps it in `scanner_pending`, and acknowledged (PUBACK) only once the scan it
announces is stored, refused, or given up (`file_missing`). A file is handed over by the
folder's poller. A notice and its file, once both are here, go to the adapter's one worker
thread, which verifies the file (`drivers.scanner.load_scan`: size, SHA-256, header, decode),
copies it into the media store by the notice's SHA-256 and submits the reading; one scan at a
time, at most `max_pending` notices waiting. A stored scan's file is removed from the folder
(the media store holds its bytes), a refused one moved to `<folder>/refused/`. A restarted edge
takes the waiting notices from the device's stored state; the broker redelivers their messages.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.scanner import ScanLimits, ScanNotice, ScanRefused, load_scan, sha256_path
from drivers.scanner.notice import AVAILABILITY_CHANNEL, NOTICE_CHANNEL, ScanNoticeWire
from drivers.watched_folder import WatchedFolder
from edge.ingest import Reading
from edge.kinds.availability import read_availability
from edge.kinds.base import DeviceContext
from edge.kinds.scanner.config import ScannerConfig
from edge.kinds.scanner.readings import (
    missing_reading, notice_reading, orphan_reading, received_reading, refused_reading,
)
from edge.media import MediaError, MediaStore

log = logging.getLogger(__name__)
RETRY_UNSTORED_S = 60.0  # an outcome submitted but not stored by then (ingest queue full) is worked out again
MAX_ORPHANS = 1000
MAX_DONE = 512
REFUSED_FOLDER = "refused"


@dataclass
class Waiting:
    """A notice waiting for its file (or being worked on)."""

    notice: ScanNotice
    noticed_at: float
    ack: Callable[[], None] | None = None  # None: restored after a restart, not redelivered (yet)
    path: Path | None = None
    submitted_at: float | None = None  # the outcome's reading was submitted (waiting for the store)


@dataclass
class Orphan:
    """A file no notice has claimed yet."""

    path: Path
    seen_at: float
    reported: bool = False


class ScannerIntake:
    """One scanner: notices on MQTT, files from the folder, one worker thread; see the module docstring."""

    def __init__(self, ctx: DeviceContext) -> None:
        config: ScannerConfig = ctx.config
        if ctx.media is None:
            raise ValueError(f"scanner {config.id}: the edge has no media store to keep scans in")
        self.status = status = ctx.status
        self._id = config.id
        self._config = config
        self._ingest = ctx.ingest
        self._mqtt = ctx.mqtt
        self._media: MediaStore = ctx.media
        self._changed = ctx.changed
        self._limits = ScanLimits(max_side=config.max_side, max_file_bytes=config.max_file_bytes)
        prefix = config.topic_prefix or ctx.topic_prefix
        self.notice_topic = f"{prefix}/{NOTICE_CHANNEL}"
        self.availability_topic = f"{prefix}/{AVAILABILITY_CHANNEL}"
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._waiting: OrderedDict[str, Waiting] = OrderedDict()  # file name -> notice, oldest first
        self._orphans: OrderedDict[str, Orphan] = OrderedDict()  # file name -> file without a notice
        self._done: OrderedDict[str, None] = OrderedDict()  # scan ids settled lately (a redelivery is acked)
        self._cleanup: deque[tuple[Path, bool]] = deque()  # (file, refused) to remove or move aside
        self._available = True
        self._folder_up = False
        for name in ("notices", "bad_notices", "deferred_notices", "scans", "refused", "files_missing",
                     "files_without_notice", "redelivered"):
            status.counters[name] = 0
        self._restore(status.state.get("pending") or [])
        self._folder = WatchedFolder(config.folder, self._on_file, self._on_folder_state,
                                     period_s=config.poll_period_s, name=f"{config.id} {config.folder}")
        self._worker = threading.Thread(target=self._run, name=f"scanner:{config.id}", daemon=True)

    def _restore(self, pending: list[dict[str, Any]]) -> None:
        """The notices a previous run left waiting (from the stored state), their first arrival kept."""
        for item in pending:
            try:
                notice = ScanNotice.from_wire(ScanNoticeWire.model_validate(item["notice"]), self._id)
                self._waiting[notice.file_name] = Waiting(notice, float(item["noticed_at"]))
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("scanner %s: a stored waiting notice is unreadable, dropped: %s", self._id, exc)
        if self._waiting:
            log.info("scanner %s: %d notice(s) still waiting for their file", self._id, len(self._waiting))

    # ------------------------------------------------------------------ LaneDevice

    def start(self) -> None:
        self._mqtt.subscribe(self.notice_topic, qos=1)
        self._mqtt.subscribe(self.availability_topic, qos=1)
        self._worker.start()
        self._folder.start()

    def stop(self) -> None:
        """Stop the folder and the worker; waiting notices stay unacknowledged on the broker and in the store."""
        self._folder.stop()
        self._stop.set()
        self._wake.set()
        self._worker.join(30)

    def handles_topic(self, topic: str) -> bool:
        return topic in (self.notice_topic, self.availability_topic)

    def on_mqtt_message(self, topic: str, payload: bytes, ack: Callable[[], None]) -> None:
        """On paho's thread: parse, note, hand over; never block here."""
        if topic == self.availability_topic:
            ack()
            availability = read_availability(payload)
            self._available = availability.online
            self._show_link(availability.reason)
            return
        self.status.counters["notices"] += 1
        try:
            notice = ScanNotice.from_json(payload, self._id)
        except ValueError as exc:  # refuse, count, acknowledge: it would be refused again
            self.status.counters["bad_notices"] += 1
            log.warning("scanner %s: notice refused: %s", self._id, exc)
            ack()
            return
        now = time.time()
        reading: Reading | None = None
        with self._lock:
            if notice.scan_id in self._done:
                ack()  # settled before; this is the broker's redelivery
                return
            waiting = self._waiting.get(notice.file_name)
            if waiting is not None and waiting.notice.scan_id == notice.scan_id:
                waiting.ack = ack  # a redelivery (after a reconnect or restart): acknowledge this one
                self.status.counters["redelivered"] += 1
                return
            if waiting is not None or len(self._waiting) >= self._config.max_pending:
                self.status.counters["deferred_notices"] += 1
                log.warning("scanner %s: notice %s not taken now (%s); the broker keeps it", self._id,
                            notice.scan_id, "its file name is awaited by another notice" if waiting else
                            f"{len(self._waiting)} notices already wait")
                return
            waiting = self._waiting[notice.file_name] = Waiting(notice, now, ack)
            orphan = self._orphans.pop(notice.file_name, None)
            if orphan is not None:
                waiting.path = orphan.path
            reading = notice_reading(self._id, notice, hashlib.sha256(payload).hexdigest(), now)
        self._ingest.submit(reading)
        self._wake.set()

    # ------------------------------------------------------------------ folder channel

    def _on_file(self, path: Path) -> None:
        """On the folder's thread: pair with its notice, or keep it as an orphan."""
        with self._lock:
            waiting = self._waiting.get(path.name)
            if waiting is not None and waiting.submitted_at is None:
                waiting.path = path
            else:
                self._orphans.pop(path.name, None)
                self._orphans[path.name] = Orphan(path, time.time())
                while len(self._orphans) > MAX_ORPHANS:
                    dropped, _ = self._orphans.popitem(last=False)
                    log.warning("scanner %s: over %d files without notice; forgot %s", self._id, MAX_ORPHANS, dropped)
        self._wake.set()

    def _on_folder_state(self, connected: bool, reason: str) -> None:
        self._folder_up = connected
        self._show_link(f"folder: {reason}")

    def _show_link(self, reason: str) -> None:
        connected = self._available and self._folder_up
        self.status.connected = connected
        self.status.last_error = "" if connected else reason
        self._changed(self._id)

    # ------------------------------------------------------------------ the worker

    def _run(self) -> None:
        tick = min(self._config.poll_period_s, 1.0)
        while not self._stop.is_set():
            self._wake.wait(tick)
            self._wake.clear()
            try:
                self._clean_up()
                while not self._stop.is_set() and (job := self._next_ready()) is not None:
                    self._take(job)
                self._give_up_on_old(time.time())
            except Exception:  # the worker must go on for the next truck
                log.exception("scanner %s: worker step failed", self._id)

    def _next_ready(self) -> Waiting | None:
        now = time.time()
        with self._lock:
            for waiting in self._waiting.values():
                stale = waiting.submitted_at is not None and now - waiting.submitted_at > RETRY_UNSTORED_S
                if waiting.path is not None and (waiting.submitted_at is None or stale):
                    waiting.submitted_at = now
                    return waiting
        return None

    def _take(self, waiting: Waiting) -> None:
        """Verify and decode the file, keep it by its SHA-256, submit the outcome."""
        notice, path = waiting.notice, waiting.path
        assert path is not None
        try:
            height, width = self._load(path, notice)
            stored = self._media.put_file(path, notice.sha256)
        except ScanRefused as exc:
            log.warning("scanner %s: scan %s refused (%s): %s", self._id, notice.scan_id, exc.reason, exc)
            self._submit(refused_reading(self._id, notice, exc.reason, str(exc), self._settle(waiting, path, True)))
            return
        except (MediaError, OSError) as exc:
            log.warning("scanner %s: scan %s not kept in the media store: %s", self._id, notice.scan_id, exc)
            self._submit(refused_reading(self._id, notice, "media", str(exc), self._settle(waiting, path, True)))
            return
        log.info("scanner %s: scan %s verified and kept as %s (%d bytes)", self._id, notice.scan_id, stored.sha256,
                 stored.size)
        self._submit(received_reading(self._id, notice, stored.sha256, height, width,
                                      self._settle(waiting, path, False)))

    def _load(self, path: Path, notice: ScanNotice) -> tuple[int, int]:
        """The verified scan's (height, width); a file the readers fail on unexpectedly is ScanRefused("corrupt")."""
        try:
            scan = load_scan(path, notice, self._limits)
        except (ScanRefused, OSError, MemoryError):
            raise
        except Exception as exc:  # a reader bug must refuse this file, not retry it forever
            log.exception("scanner %s: scan %s could not be read", self._id, notice.scan_id)
            raise ScanRefused("corrupt", f"the scan file cannot be read ({type(exc).__name__}: {exc})") from exc
        height, width = scan.high.shape
        return int(height), int(width)  # only its dimensions go on: the pixels are freed before the next scan

    def _give_up_on_old(self, now: float) -> None:
        """Notices whose file never came, files whose notice never came."""
        with self._lock:
            late = [w for w in self._waiting.values() if w.path is None and w.submitted_at is None
                    and now - w.noticed_at > self._config.notice_wait_s]
            for waiting in late:
                waiting.submitted_at = now
            lonely = [o for o in self._orphans.values()
                      if not o.reported and now - o.seen_at > self._config.file_wait_s]
        for waiting in late:
            log.warning("scanner %s: file %s of scan %s never came", self._id, waiting.notice.file_name,
                        waiting.notice.scan_id)
            self._submit(missing_reading(self._id, waiting.notice, now - waiting.noticed_at,
                                         self._settle(waiting, None, False)))
        for orphan in lonely:
            self._report_orphan(orphan, now)

    def _report_orphan(self, orphan: Orphan, now: float) -> None:
        try:
            file_sha, size = sha256_path(orphan.path)
        except OSError:
            with self._lock:
                self._orphans.pop(orphan.path.name, None)  # gone meanwhile
            return
        orphan.reported = True
        if self._media.has(file_sha):  # taken before (an edge stopped between acknowledging and removing it)
            with self._lock:
                self._orphans.pop(orphan.path.name, None)
            self._cleanup.append((orphan.path, False))
            return
        self.status.counters["files_without_notice"] += 1
        log.warning("scanner %s: file %s has no notice", self._id, orphan.path.name)
        self._submit(orphan_reading(self._id, orphan.path.name, file_sha, size, now - orphan.seen_at))

    def _submit(self, reading: Reading) -> None:
        self._ingest.submit(reading)

    def _settle(self, waiting: Waiting, path: Path | None, refused: bool) -> Callable[[], None]:
        """The outcome's `on_stored` (on the event loop): acknowledge the notice, forget it, tidy the folder."""

        def on_stored() -> None:
            with self._lock:
                if self._waiting.get(waiting.notice.file_name) is waiting:
                    del self._waiting[waiting.notice.file_name]
                self._done[waiting.notice.scan_id] = None
                while len(self._done) > MAX_DONE:
                    self._done.popitem(last=False)
                ack = waiting.ack
            counter = "files_missing" if path is None else "refused" if refused else "scans"
            self.status.counters[counter] += 1
            if ack is not None:
                ack()
            if path is not None:
                self._cleanup.append((path, refused))
                self._wake.set()

        return on_stored

    def _clean_up(self) -> None:
        """Remove stored scans' files from the folder; move refused ones to `refused/` for a technician."""
        while self._cleanup:
            path, refused = self._cleanup.popleft()
            try:
                if refused:
                    aside = path.parent / REFUSED_FOLDER
                    aside.mkdir(exist_ok=True)
                    os.replace(path, aside / path.name)
                else:
                    path.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("scanner %s: could not %s %s: %s", self._id, "move aside" if refused else "remove",
                            path, exc)
