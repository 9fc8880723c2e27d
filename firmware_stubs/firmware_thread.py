"""A stub's firmware loop on a daemon thread of its own: `start()` runs `run()`, `stop()` sets
`_stop` and waits for the loop to end. What every device stub's life cycle has in common."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod


class FirmwareThread(ABC):
    """Subclass it with `run()` (which returns once `_stop` is set) and, if a stub opens something
    before its loop does, `_never_started()` to release it when stopped without starting."""

    stop_timeout_s = 5.0

    def __init__(self, thread_name: str | None = None) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_name = thread_name or type(self).__name__

    @abstractmethod
    def run(self) -> None:
        """The stub's firmware loop (a stub without one fails at construction)."""

    def start(self) -> None:
        """Run the firmware loop in a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name=self._thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the loop (it releases its transport on the way out) and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.stop_timeout_s if timeout is None else timeout)
            self._thread = None
        else:
            self._never_started()

    def _never_started(self) -> None:
        """Stopped without a start: release what the constructor opened (nothing, by default)."""
