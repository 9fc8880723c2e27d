"""The `kouan sim` run loop every firmware stub shares: run until SIGINT, SIGTERM or --duration.

Both signals are handled alike (the loop is left and the stub stopped cleanly: a pty's --link
symlink removed, "offline" announced), the counters are printed on stderr as the last line and
the exit status is 0. The handlers are in place before the stub is made, so a signal that comes
while a pty and its link are being created still ends in a clean stop.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Protocol, TypeVar

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stub(Protocol):
    """What the run loop needs of a stub."""

    @property
    def counters(self) -> Mapping[str, int]: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


S = TypeVar("S", bound=Stub)


def run_stub(make: Callable[[], S | None], duration: float, announce: Callable[[S], None] | None = None) -> int:
    """Make the stub (None: refused, the reason already on stderr: exit 2), start it, `announce(stub)`
    once it runs, wait for a signal or `duration` seconds (0: no limit), stop it; counters on stderr, 0."""
    stopping = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()   # Ctrl-C and SIGTERM alike: leave the loop, clean up

    previous = {sig: signal.signal(sig, on_signal) for sig in _SIGNALS}
    try:
        stub = make()
        if stub is None:
            return 2
        stub.start()
        try:
            if announce is not None:
                announce(stub)
            deadline = time.monotonic() + duration if duration > 0 else None
            while not stopping.is_set() and (deadline is None or time.monotonic() < deadline):
                stopping.wait(0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic())))
        finally:
            stub.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(dict(stub.counters), file=sys.stderr)
    return 0
