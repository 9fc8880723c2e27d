"""Failed-login throttle: after `failures` failed logins for one name within `window_s`, that name
is refused for `lock_s`.

The same rule as the lane terminal's (edge/users.py), kept here because the hub imports nothing of
the edge. It lives in one process's memory: each hub process throttles on its own, and a restart
forgets; the password hash's cost bounds what that leaves to an attacker.
"""

from __future__ import annotations

import threading
from collections import deque


class LoginThrottle:
    """Per-name failure windows, bounded in size, safe to use from several threads."""

    def __init__(self, failures: int = 5, window_s: float = 300.0, lock_s: float = 60.0,
                 max_names: int = 10_000) -> None:
        self.failures, self.window_s, self.lock_s, self.max_names = failures, window_s, lock_s, max_names
        self._failed: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def locked_for(self, name: str, now: float) -> float:
        """Seconds the name is still refused for (0: it may try)."""
        with self._lock:
            until = self._locked_until.get(name, 0.0)
            if until <= now:
                self._locked_until.pop(name, None)
                return 0.0
            return until - now

    def failed(self, name: str, now: float) -> bool:
        """Count a failure; True when it locks the name."""
        with self._lock:
            if name not in self._failed and len(self._failed) >= self.max_names:
                self._forget_old(now)
            times = self._failed.setdefault(name, deque(maxlen=self.failures))
            times.append(now)
            while times and times[0] <= now - self.window_s:
                times.popleft()
            if len(times) >= self.failures:
                self._locked_until[name] = now + self.lock_s
                return True
            return False

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failed.pop(name, None)

    def _forget_old(self, now: float) -> None:
        """Keep the table bounded: drop names with no failure in the window (or, if none, the oldest)."""
        stale = [n for n, times in self._failed.items() if not times or times[-1] <= now - self.window_s]
        for name in stale or [min(self._failed, key=lambda n: self._failed[n][-1])]:
            del self._failed[name]
        if len(self._locked_until) >= self.max_names:
            for name in [n for n, until in self._locked_until.items() if until <= now]:
                del self._locked_until[name]
