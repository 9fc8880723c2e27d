"""Fan-out of live updates (device changes, lock events) to lane-terminal browsers.

Each subscriber has a bounded queue. A browser that cannot keep up is not allowed to grow
memory: its queue is cleared and it receives one `resync` message, on which the page reloads
its lists from the API. That loss is counted, never silent.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)
CLOSE = "close"


class LiveBus:
    """Broadcast of small JSON-able messages to any number of subscribers."""

    def __init__(self, queue_size: int = 256) -> None:
        self._queue_size = queue_size
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.published = 0
        self.resyncs = 0

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def close(self) -> None:
        """Tell every subscriber the stream is over (shutdown), so open pages do not hold it up."""
        for queue in self._subscribers:
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait({"type": CLOSE, "data": {}})

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Queue a message for every subscriber; call on the event loop thread."""
        self.published += 1
        message = {"type": kind, "data": data}
        for queue in self._subscribers:
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                self.resyncs += 1
                log.warning("live subscriber too slow: queue of %s full, sending resync", self._queue_size)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait({"type": "resync", "data": {}})
