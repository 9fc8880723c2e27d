"""Per-device liveness as the lane terminal shows it: connected, last seen, online, counters."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class DeviceStatus:
    """What the edge knows about one configured device right now.

    `online` means the transport is up *and* the device spoke within its kind's
    `offline_after_s`: an open pty with a dead lock behind it is not online.
    """

    id: str
    kind: str
    transport: str
    address: str
    name: str
    offline_after_s: float
    connected: bool = False
    last_seen: float | None = None
    last_error: str = ""
    state: dict[str, Any] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    summarise: Callable[[dict[str, Any]], str] = field(default=lambda state: "", repr=False)  # the kind's

    def online(self, now: float | None = None) -> bool:
        if not self.connected or self.last_seen is None:
            return False
        return ((now or time.time()) - self.last_seen) <= self.offline_after_s

    def as_dict(self, now: float | None = None) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "transport": self.transport, "address": self.address,
            "name": self.name, "connected": self.connected, "online": self.online(now),
            "last_seen": self.last_seen, "last_error": self.last_error, "state": self.state,
            "summary": self.summarise(self.state), "counters": dict(self.counters),
        }
