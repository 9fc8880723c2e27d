"""Progress lines for a long fit: step, count, rate and time left, to stderr (or any writer)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

Writer = Callable[[str], None]


def stderr_writer(line: str) -> None:
    """Write one progress line to stderr and flush, so it shows while the fit runs."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _fmt(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.1f}s"
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


class Progress:
    """Counts items of one phase and reports each with the estimated time left."""

    def __init__(self, phase: str, total: int, write: Writer = stderr_writer) -> None:
        self.phase = phase
        self.total = total
        self.done = 0
        self.write = write
        self.started = time.perf_counter()

    def step(self, what: str = "") -> None:
        """One more item finished; print `[phase] i/total what, elapsed, ETA`."""
        self.done += 1
        elapsed = time.perf_counter() - self.started
        eta = elapsed / self.done * (self.total - self.done)
        detail = f" {what}" if what else ""
        self.write(f"[{self.phase}] {self.done}/{self.total}{detail} elapsed {_fmt(elapsed)} ETA {_fmt(eta)}")

    def note(self, text: str) -> None:
        """A one-off line in this phase (a skipped file, a summary)."""
        self.write(f"[{self.phase}] {text}")
