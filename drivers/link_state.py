"""Reporting a transport's connected / disconnected changes, once each, to an optional callback."""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

StateCallback = Callable[[bool, str], None]


class LinkStateReporter:
    """Calls `on_state(connected, reason)` only when the state changes; a failing callback is
    logged and counted, never raised into the transport's thread."""

    def __init__(self, on_state: StateCallback | None, what: str) -> None:
        self._on_state = on_state
        self._what = what
        self._reported: bool | None = None
        self.callback_errors = 0

    def report(self, connected: bool, reason: str) -> None:
        if self._reported is connected:
            return
        self._reported = connected
        if self._on_state is None:
            return
        try:
            self._on_state(connected, reason)
        except Exception:
            self.callback_errors += 1
            logger.exception("%s: on_state callback raised", self._what)
