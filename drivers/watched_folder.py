"""Watched-folder transport: hands each new, complete file in a folder to a callback, once.

It knows no device. A poller thread lists the folder every `period_s` (no inotify: it works on
network mounts and costs one `scandir` per period) and decides when a file is complete:

- **renamed into place** (the rule for vendors): the file was written as `<name>.part` and
  renamed to `<name>` when complete. A `<name>` whose `<name>.part` was seen on the previous poll
  and is gone now is handed over at once.
- **stable**: any other file is handed over once its size, mtime and inode are the same on two
  polls in a row (so it sat unchanged for at least one period). A writer that pauses longer
  than a period mid-file defeats this; that is why the rename rule exists.

Never opened or handed over: `*.part` files, hidden files (`.name`), anything not a regular file
(symlinks included). Files present at start are handed over too (the edge may have been down
while the scanner wrote). A file is handed over again only if it is replaced (new inode, size
or mtime). State is bounded: a poll keeps at most `max_files` names (names already tracked are
always kept, so never more than twice that); a name beyond is ignored for that poll and counted in
`over_limit` (logged once per burst); names gone from the folder are forgotten. The folder vanishing (an unmounted share, a deleted directory) is reported as link
state `connected False` with the reason, and `True` again when it is back; polling carries on.

The callback runs on the poller thread and should only queue the path (the edge hands it to its
event loop). A callback that raises is logged and counted in `errors`; the file counts as handed
and is not retried (the same file would fail the same way on every poll).
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from drivers.link_state import LinkStateReporter, StateCallback

logger = logging.getLogger(__name__)

PART_SUFFIX = ".part"
FileCallback = Callable[[Path], None]
_Identity = tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns


@dataclass(frozen=True)
class FolderStats:
    """A snapshot of the counters an operator watches for one folder."""

    folder: str
    connected: bool
    polls: int
    files_seen: int
    files_handed: int
    errors: int
    over_limit: int
    tracked: int
    outages: int
    last_error: str


class WatchedFolder:
    """Polls `folder` on its own thread; see the module doc for what counts as complete."""

    def __init__(self, folder: str | Path, on_file: FileCallback, on_state: StateCallback | None = None, *,
                 period_s: float = 0.5, max_files: int = 10_000, name: str | None = None) -> None:
        if period_s <= 0:
            raise ValueError("period_s must be > 0")
        if max_files < 1:
            raise ValueError("max_files must be >= 1")
        self.folder = Path(folder)
        self.name = name or str(folder)
        self._on_file = on_file
        self._link = LinkStateReporter(on_state, f"folder {self.name}")
        self._period_s = period_s
        self._max_files = max_files
        self._pending: dict[str, _Identity] = {}  # name -> identity seen on the last poll, not handed yet
        self._handed: dict[str, _Identity] = {}  # name -> identity handed over
        self._parts: set[str] = set()  # final names whose .part was present on the last poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # guards the counters (poll_once runs on one thread at a time)
        self._poll_lock = threading.Lock()
        self._connected = False
        self._polls = self._seen = self._handed_count = self._errors = self._over = self._outages = 0
        self._over_logged = False
        self._last_error = ""

    # ------------------------------------------------------------------ control

    def start(self) -> None:
        """Start polling on a daemon thread (the first poll is immediate)."""
        if self._thread is not None:
            raise RuntimeError(f"watched folder {self.name} already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"folder:{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling and join the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("folder poller %s did not stop within %.1f s", self.name, timeout)
            self._thread = None
        self._link.report(False, "stopped")

    @property
    def connected(self) -> bool:
        return self._connected

    def stats(self) -> FolderStats:
        with self._lock:
            return FolderStats(self.name, self._connected, self._polls, self._seen, self._handed_count,
                               self._errors + self._link.callback_errors, self._over,
                               len(self._pending) + len(self._handed), self._outages, self._last_error)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.poll_once()
            except Exception:  # never let a surprise end the poller
                logger.exception("folder %s: poll failed", self.name)
                self._count_error("poll failed unexpectedly")
            self._stop.wait(max(0.0, self._period_s - (time.monotonic() - started)))

    # ------------------------------------------------------------------ one poll

    def poll_once(self) -> list[Path]:
        """List the folder once and hand over what is complete now; returns the paths handed (for tests)."""
        with self._poll_lock:
            listing = self._list()
            with self._lock:
                self._polls += 1
            if listing is None:
                return []
            files, parts = listing
            ready: list[Path] = []
            for file_name, identity in files.items():
                if self._handed.get(file_name) == identity:
                    continue
                renamed = file_name in self._parts and file_name not in parts
                if file_name not in self._pending:  # new, or a handed file replaced since
                    with self._lock:
                        self._seen += 1
                if renamed or self._pending.get(file_name) == identity:
                    self._pending.pop(file_name, None)
                    self._handed[file_name] = identity
                    ready.append(self.folder / file_name)
                else:
                    self._pending[file_name] = identity
            for gone in [n for n in self._pending if n not in files]:
                del self._pending[gone]  # deleted, or renamed away, before it was complete
            for gone in [n for n in self._handed if n not in files]:
                del self._handed[gone]
            self._parts = parts
            for path in ready:
                self._hand(path)
            return ready

    def _list(self) -> tuple[dict[str, _Identity], set[str]] | None:
        """(complete-candidate name -> identity, final names of `.part` files); None while the folder is gone."""
        files: dict[str, _Identity] = {}
        parts: set[str] = set()
        over = 0
        try:
            with os.scandir(self.folder) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    if entry.name.endswith(PART_SUFFIX):
                        if len(parts) < self._max_files:
                            parts.add(entry.name[: -len(PART_SUFFIX)])
                        continue
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # removed between listing and stat
                    if not stat.S_ISREG(st.st_mode):
                        continue
                    known = entry.name in self._handed or entry.name in self._pending
                    if not known and len(files) >= self._max_files:  # known names always kept: <= 2x max
                        over += 1
                        continue
                    files[entry.name] = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError as exc:
            self._folder_down(f"{exc.strerror or exc}: {self.folder}")
            return None
        if not self._connected:
            with self._lock:
                self._connected = True
            logger.info("folder %s: watching %s", self.name, self.folder)
            self._link.report(True, f"watching {self.folder}")
        self._note_over(over)
        return files, parts

    def _folder_down(self, reason: str) -> None:
        with self._lock:
            was_up = self._connected
            self._connected = False
            self._last_error = reason
            if was_up:
                self._outages += 1
        if was_up or self._link_never_up():
            logger.warning("folder %s: cannot list (%s); polling on", self.name, reason)
        self._pending.clear()
        self._parts = set()
        self._link.report(False, reason)

    def _link_never_up(self) -> bool:
        return self._polls == 0

    def _note_over(self, over: int) -> None:
        if not over:
            self._over_logged = False
            return
        with self._lock:
            self._over += over
        if not self._over_logged:
            self._over_logged = True
            logger.warning("folder %s: more than %d files tracked; %d ignored this poll (counted in over_limit)",
                           self.name, self._max_files, over)

    def _hand(self, path: Path) -> None:
        try:
            self._on_file(path)
        except Exception:
            logger.exception("folder %s: on_file callback raised for %s; not retried", self.name, path)
            self._count_error(f"callback raised for {path.name}")
            return
        with self._lock:
            self._handed_count += 1

    def _count_error(self, message: str) -> None:
        with self._lock:
            self._errors += 1
            self._last_error = message
