"""Keep the images of clean passages, per device, within the retention budget.

`Retention` is called with the passages a transaction changed, inside that transaction (the
passage service and the verdict follower hand it over the way they hand the outbox its
passages), so a passage released clean and its place in the lane's normal are stored together
or not at all. A passage counts when it was released with no reason that holds or cleared by
the hub's reviewer (`edge.passages.queries.clean_images`); a suspicious verdict after release
takes its images out again. After each change the device's budget is enforced: at most
`keep_images` rows and `keep_bytes` bytes, the oldest dropped first; each device has its own
budget (`[normal.device.<id>]` over `[normal]`), since their images differ in size. The work
runs behind a savepoint: a failure here is logged and counted and never undoes the release
itself. The same call keeps the lane's confirmed finds (`finds.py`).

Every retained image's media file is protected: whatever prunes the media store must keep the
hashes `protected_media` returns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from edge.media import MediaError, MediaStore
from edge.normal.config import NormalConfig
from edge.normal.finds import Read, keep_finds
from edge.passages.queries import clean_images
from edge.store import Txn

log = logging.getLogger(__name__)


@dataclass
class RetentionStats:
    """What an operator watches: images kept, dropped by the budget, taken out again, failures;
    confirmed finds kept and taken out again."""

    retained: int = 0
    dropped: int = 0
    removed: int = 0
    errors: int = 0
    finds: int = 0
    finds_removed: int = 0


@dataclass(frozen=True)
class RetainedImage:
    """One kept image of a device's clean pass."""

    row_id: int
    sha256: str
    passage_id: int
    size: int
    width: int | None
    height: int | None
    why: str
    retained_at: float


class Retention:
    """See the module docstring; call it as `retention(txn, passage_ids)` on the store thread."""

    def __init__(self, config: NormalConfig, media: MediaStore, clock: Callable[[], float] = time.time,
                 labels: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.devices = set(config.devices)
        self.budgets = {device_id: config.for_device(device_id) for device_id in config.devices}
        self.labels = dict(labels or {})  # device -> the label of the images its lane model looks at
        self.media = media
        self.clock = clock
        self.stats = RetentionStats()

    def __call__(self, txn: Txn, passage_ids: Iterable[int]) -> None:
        ids = list(passage_ids)
        if not ids:
            return
        txn.execute("SAVEPOINT normal_retention")
        try:
            touched: set[str] = set()
            for passage_id in ids:
                touched |= self._one(txn, passage_id)
            for device_id in sorted(touched):
                self._enforce(txn, device_id)
        except Exception:
            txn.execute("ROLLBACK TO normal_retention")
            txn.execute("RELEASE normal_retention")
            self.stats.errors += 1
            log.exception("lane normal: passages %s not taken into the retained images (their release stands)", ids)
            return
        txn.execute("RELEASE normal_retention")

    def _one(self, txn: Txn, passage_id: int) -> set[str]:
        found, unfound = keep_finds(txn, passage_id, {d: b.keep_finds for d, b in self.budgets.items()}, self.media,
                                    log.warning, self.clock, self.labels)
        self.stats.finds += found
        self.stats.finds_removed += unfound
        if found:
            log.info("lane finds: passage %s confirmed suspicious, %d image(s) kept as finds", passage_id, found)
        clean = clean_images(txn, passage_id, self.labels)
        if clean is None:
            gone = txn.execute("DELETE FROM normal_images WHERE passage_id=?", (passage_id,)).rowcount
            if gone:
                self.stats.removed += gone
                log.warning("lane normal: passage %s no longer counts as clean; its %d image(s) taken out",
                            passage_id, gone)
            return set()
        why, images = clean
        touched: set[str] = set()
        for device_id, sha, width, height in images:
            if device_id not in self.devices:
                continue
            try:
                size = self.media.path(sha).stat().st_size
            except (OSError, MediaError) as exc:
                log.warning("lane normal: image %s of passage %s (%s) not kept: %s", sha[:12], passage_id,
                            device_id, exc)
                continue
            cur = txn.execute(
                "INSERT OR IGNORE INTO normal_images (device_id, sha256, passage_id, size, width, height, why, "
                "retained_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (device_id, sha, passage_id, size, width, height, why, self.clock()))
            if cur.rowcount:
                self.stats.retained += 1
                touched.add(device_id)
        return touched

    def _enforce(self, txn: Txn, device_id: str) -> None:
        """The device's budget: the newest `keep_images`, and of those the newest within `keep_bytes`."""
        budget = self.budgets[device_id]
        dropped = txn.execute(
            "DELETE FROM normal_images WHERE device_id=? AND id NOT IN "
            "(SELECT id FROM normal_images WHERE device_id=? ORDER BY id DESC LIMIT ?)",
            (device_id, device_id, budget.keep_images)).rowcount
        if budget.keep_bytes:
            dropped += txn.execute(
                "DELETE FROM normal_images WHERE id IN (SELECT id FROM (SELECT id, SUM(size) OVER "
                "(ORDER BY id DESC) AS total FROM normal_images WHERE device_id=?) WHERE total > ?)",
                (device_id, budget.keep_bytes)).rowcount
        if dropped:
            self.stats.dropped += dropped
            log.info("lane normal: %s over its retention budget, %d oldest image(s) dropped", device_id, dropped)


def retained(read: Read, device_id: str) -> list[RetainedImage]:
    """A device's kept images, oldest first."""
    rows = read("SELECT id, sha256, passage_id, size, width, height, why, retained_at FROM normal_images "
                "WHERE device_id=? ORDER BY id", (device_id,))
    return [RetainedImage(*row) for row in rows]


def count_after(read: Read, device_id: str, row_id: int) -> int:
    """How many images the device kept after row `row_id` (0: all of them)."""
    return int(read("SELECT COUNT(*) FROM normal_images WHERE device_id=? AND id > ?", (device_id, row_id))[0][0])


def protected_media(read: Read) -> set[str]:
    """The media hashes a pruner must keep: every retained image and every kept find of every device."""
    return {row[0] for row in read("SELECT sha256 FROM normal_images UNION SELECT sha256 FROM normal_finds", ())}
