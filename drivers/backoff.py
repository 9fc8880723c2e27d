"""Exponential backoff with jitter for reconnect loops.

Used by the serial transport (and anything else that retries a connection): the delay
doubles after each failed attempt, is capped, and is randomised so that many devices
losing a shared resource at once (a USB hub, the site broker) do not retry in lock-step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays `initial * factor**n` capped at `maximum`, each drawn from `[d * (1 - jitter), d]`.

    Never below `initial` and never above `maximum`. Call `reset()` after a connection that
    proved good, so that the next outage starts again with a short delay.
    """

    initial: float = 0.1
    maximum: float = 5.0
    factor: float = 2.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError(f"backoff needs 0 < initial <= maximum, got {self.initial} and {self.maximum}")
        if self.factor < 1.0:
            raise ValueError(f"backoff factor must be >= 1, got {self.factor}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"backoff jitter must be within [0, 1], got {self.jitter}")

    def next_delay(self) -> float:
        """The delay before the next attempt; counts the attempt."""
        ceiling = min(self.maximum, self.initial * self.factor**min(self.attempts, 64))
        self.attempts += 1
        delay = ceiling * (1.0 - self.jitter * self.rng.random())
        return max(self.initial, min(self.maximum, delay))

    def reset(self) -> None:
        """Start again from `initial` (after a good connection)."""
        self.attempts = 0
