"""Wakes the verdict long polls waiting in this hub process as soon as a verdict is committed here.

The verdict and re-check routes call `notify()` after their transaction committed (from a worker
thread); every long poll waiting in `listen()` is woken on its own event loop and looks at the
database again at once. A verdict committed by another hub process wakes nobody here: the long poll
still looks every `hub.routes.verdicts.POLL_S` for those.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class VerdictSignal:
    """The long polls of one app waiting for a verdict (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}

    def notify(self) -> int:
        """Wake every waiting long poll; how many were waiting."""
        with self._lock:
            waiting = list(self._waiting.values())
        for loop, event in waiting:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # its loop closed meanwhile: nobody to wake
                pass
        return len(waiting)

    @contextmanager
    def listen(self) -> Iterator[asyncio.Event]:
        """An event set by each `notify()` while the block lasts (clear it before each look)."""
        event = asyncio.Event()
        key = id(event)
        with self._lock:
            self._waiting[key] = (asyncio.get_running_loop(), event)
        try:
            yield event
        finally:
            with self._lock:
                self._waiting.pop(key, None)

    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)
