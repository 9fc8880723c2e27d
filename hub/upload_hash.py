"""SHA-256 of an upload's chunks as they arrive, so finishing it need not read the file back.

One hub process keeps, per upload it appended to, the hash state of the bytes `[0, offset)` and
the `uploads` row's `generation` it wrote with that offset. Every change to an upload's row or part
file by any process writes a fresh generation (hub/uploads.py), so the state is valid exactly while
the row still says (this generation, this offset): then nobody else touched the bytes since. Any
other answer (another process appended, the upload was started over or dropped, this process was
restarted) means: hash the file from disk, as before. Only the states of uploads in progress are
kept, at most `MAX_KEPT` (the oldest go first; an upload forgotten is hashed from disk).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

MAX_KEPT = 256


def new_generation() -> str:
    """A fresh nonce for an `uploads` row (64 random bits in hex)."""
    return secrets.token_hex(8)


@dataclass
class RunningHash:
    """The SHA-256 state of an upload's first `offset` bytes, as of row generation `generation`."""

    generation: str
    offset: int
    digest: Any  # hashlib's object (no public type)

    def hexdigest(self) -> str:
        return str(self.digest.hexdigest())


class RunningHashes:
    """One process's running hashes (thread-safe; each upload's use is also under its file lock)."""

    def __init__(self, max_kept: int = MAX_KEPT) -> None:
        self._kept: OrderedDict[str, RunningHash] = OrderedDict()
        self._lock = threading.Lock()
        self.max_kept = max_kept

    def take(self, sha256: str, generation: str, offset: int) -> RunningHash | None:
        """The state to continue from, removed until `keep`: valid for (generation, offset), a new one
        at offset 0, else None (the bytes so far are hashed from disk at the finish)."""
        with self._lock:
            found = self._kept.pop(sha256, None)
        if found is not None and (found.generation, found.offset) == (generation, offset) and generation:
            return found
        return RunningHash(generation, 0, hashlib.sha256()) if offset == 0 else None

    def keep(self, sha256: str, running: RunningHash) -> None:
        """Remember `running` (after its chunk was written and the row committed with its generation)."""
        with self._lock:
            self._kept[sha256] = running
            self._kept.move_to_end(sha256)
            while len(self._kept) > self.max_kept:
                self._kept.popitem(last=False)

    def forget(self, sha256: str) -> None:
        with self._lock:
            self._kept.pop(sha256, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)
