"""What the uplink counts and last saw, for the metrics and the lane terminal (`GET /api/uplink`).
Written on the event loop by the worker, the verdict follower and the depth watch; read there too."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class UplinkStats:
    """Counters since start, and the outbox as last looked at."""

    bytes_sent: int = 0  # every byte handed to the link, resent ones included
    blobs_sent: int = 0
    passages_sent: int = 0
    refused_now: int = 0  # refusals recorded since start
    verdicts_received: int = 0
    verdicts_unmatched: int = 0  # verdicts naming no passage of this lane (logged)
    hub_reachable: bool | None = None  # None: not tried yet
    last_error: str = ""
    last_error_at: float | None = None
    last_ok_at: float | None = None
    cursor: int = 0
    depth: int = 0
    depth_blobs: int = 0
    depth_passages: int = 0
    oldest_created_at: float | None = None
    refused: int = 0  # rows in outbox_refused (all time: they are kept)
    refused_by_code: dict[str, int] = field(default_factory=dict)

    def failed(self, error: str, now: float, reachable: bool | None = False) -> bool:
        """Record a failure; True when it is the first since the hub last answered (worth a WARNING:
        an outage is logged once, not at every retry)."""
        first = reachable is False and self.hub_reachable is not False
        self.last_error, self.last_error_at = error, now
        if reachable is not None:
            self.hub_reachable = reachable
        return first

    def succeeded(self, now: float) -> bool:
        """Record an answer; True when the hub was unreachable until now."""
        back = self.hub_reachable is False
        self.hub_reachable, self.last_ok_at = True, now
        return back
