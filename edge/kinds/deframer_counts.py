"""A serial adapter's deframer counters, summed over every connection.

An adapter starts a new deframer at each connect (after the old one's unfinished frame has been
counted as truncated), so its counters (bytes_in, frames, bad_bytes, bad_frames,
bad_frames_<reason>) are the deframers' own accounting: the retired ones' totals plus the live
one's. Names no kind: it needs only the stats every deframer keeps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Protocol


class DeframerStats(Protocol):
    """What a deframer counts (drivers.jt808 and drivers.iris both keep these)."""

    bytes_in: int
    frames: int
    bad_bytes: int
    bad_frames: Counter[str]

    @property
    def bad_frame_total(self) -> int: ...


class DeframerCounts:
    """Totals of retired deframers, written with the live one's into `counters`."""

    def __init__(self, counters: dict[str, int], reasons: Iterable[str]) -> None:
        self._counters = counters
        self._reasons = tuple(reasons)
        self._bytes_in = self._frames = self._bad_bytes = 0
        self._bad_frames: Counter[str] = Counter()

    def retire(self, stats: DeframerStats) -> None:
        """Fold a deframer that is being replaced into the totals (flush it first)."""
        self._bytes_in += stats.bytes_in
        self._frames += stats.frames
        self._bad_bytes += stats.bad_bytes
        self._bad_frames.update(stats.bad_frames)

    def export(self, live: DeframerStats) -> None:
        """Write the totals plus the live deframer's counts into the counters."""
        counters = self._counters
        counters["bytes_in"] = self._bytes_in + live.bytes_in
        counters["frames"] = self._frames + live.frames
        counters["bad_bytes"] = self._bad_bytes + live.bad_bytes
        counters["bad_frames"] = self._bad_frames.total() + live.bad_frame_total
        for reason in self._reasons:
            counters[f"bad_frames_{reason}"] = self._bad_frames[reason] + live.bad_frames[reason]
