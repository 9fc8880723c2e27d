"""Iris codes and masks that an edge from before the private store kept in the media folder,
moved into the private store when the reader's adapter starts.

The lane terminal serves any file of the media folder by its SHA-256 to a logged-in user, and a
driver's iris code is biometric data it must never serve; new captures go to the private store
(`[store] private_media`), and this moves the earlier ones there too. Copied and hash-checked
first, then removed from the media folder, so a killed process leaves each file in one place or
both, never none; the move runs again at the next start. A file that cannot be moved is logged
and left where it is (enrolment still finds it: `enrol_store._holding`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from edge.media import MediaError, MediaStore

log = logging.getLogger(__name__)


def move_legacy_codes(read: Callable[[str, Sequence[Any]], list[tuple[Any, ...]]], media: MediaStore,
                      private: MediaStore, device_id: str) -> tuple[int, int]:
    """Move this reader's capture codes and masks still in `media` into `private`; (moved, failed)."""
    rows = read("SELECT code_sha256, mask_sha256 FROM iris_captures WHERE device_id=?", (device_id,))
    moved = failed = 0
    for sha256 in sorted({sha for row in rows for sha in row if sha}):
        try:
            moved += media.move_to(sha256, private)
        except (MediaError, OSError) as exc:
            failed += 1
            log.error("iris %s: iris code or mask %s could not be moved out of the served media folder: %s",
                      device_id, sha256, exc)
    if moved or failed:
        log.warning("iris %s: %d iris codes and masks moved from the media folder to the private store (%d failed)",
                    device_id, moved, failed)
    return moved, failed
