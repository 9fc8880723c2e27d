"""Keep the lane's confirmed finds: per device, the images of passages the hub judged suspicious
where that device gave a reason that holds (`edge.passages.queries.find_images`).

They are what the lane has learnt is *not* normal on its own devices. A refit scores them with
its candidate and may lower the candidate's threshold to catch them (`find_threshold.py`). Run
by `Retention` inside the transaction that changed the passage, like the clean images: a verdict
overturned to clear takes the find out again, and the budget keeps the newest `keep_finds` per
device.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edge.media import MediaError, MediaStore
from edge.passages.queries import find_images
from edge.store import Txn

Log = Callable[..., None]
Read = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


@dataclass(frozen=True)
class FoundImage:
    """One device's image of a passage confirmed suspicious, and the reasons it held it for."""

    row_id: int
    sha256: str
    passage_id: int
    size: int
    width: int | None
    height: int | None
    reasons: list[str]
    retained_at: float


def keep_finds(txn: Txn, passage_id: int, keep: Mapping[str, int], media: MediaStore,
               warn: Log, clock: Callable[[], float] = time.time,
               labels: Mapping[str, str] | None = None) -> tuple[int, int]:
    """Bring the passage's finds up to date and enforce each touched device's budget: (kept, removed).
    `keep` maps each device that learns its normal to its budget; 0 keeps none. An image whose
    media file is gone is logged through `warn` and left out."""
    found = find_images(txn, passage_id, labels) if any(keep.values()) else []
    now_found = [(image, codes) for image, codes in found if keep.get(image[0])]
    wanted = {(image[0], image[1]) for image, _ in now_found}
    removed = 0
    for row_id, device_id, sha in txn.execute("SELECT id, device_id, sha256 FROM normal_finds WHERE passage_id=?",
                                              (passage_id,)).fetchall():
        if (device_id, sha) not in wanted:
            removed += txn.execute("DELETE FROM normal_finds WHERE id=?", (row_id,)).rowcount
    kept = 0
    for (device_id, sha, width, height), codes in now_found:
        try:
            size = media.path(sha).stat().st_size
        except (OSError, MediaError) as exc:
            warn("lane finds: image %s of passage %s (%s) not kept: %s", sha[:12], passage_id, device_id, exc)
            continue
        cur = txn.execute("INSERT OR IGNORE INTO normal_finds (device_id, sha256, passage_id, size, width, height, "
                          "reasons, retained_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          (device_id, sha, passage_id, size, width, height, json.dumps(codes), clock()))
        if cur.rowcount:
            kept += 1
            txn.execute("DELETE FROM normal_finds WHERE device_id=? AND id NOT IN (SELECT id FROM normal_finds "
                        "WHERE device_id=? ORDER BY id DESC LIMIT ?)", (device_id, device_id, keep[device_id]))
    return kept, removed


def count_finds_after(read: Read, device_id: str, row_id: int) -> int:
    """How many finds the device holds newer than row `row_id` (0: all of them)."""
    return int(read("SELECT COUNT(*) FROM normal_finds WHERE device_id=? AND id > ?", (device_id, row_id))[0][0])


def retained_finds(read: Read, device_id: str) -> list[FoundImage]:
    """A device's kept finds, oldest first."""
    rows = read("SELECT id, sha256, passage_id, size, width, height, reasons, retained_at FROM normal_finds "
                "WHERE device_id=? ORDER BY id", (device_id,))
    return [FoundImage(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7]) for r in rows]
