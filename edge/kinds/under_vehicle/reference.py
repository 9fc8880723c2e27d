"""The plate's last clean pass at this lane: the reference a new pass is compared with.

A pass is clean when its passage was released (by the machine or an officer) with no reason
that holds the vehicle (`edge.passages.queries.last_clean_images` says what else it needs). Read
from the passage tables on the analyser's own thread. The newest clean pass whose image is still
on disk is the reference: one whose file is gone is skipped, not a dead end for every later pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from edge.passages.queries import last_clean_images

Read = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


def last_clean_pass(read: Read, device_id: str, plate: str | None, not_image: str,
                    stored: Callable[[str], bool] = lambda sha: True) -> str | None:
    """The SHA-256 of the undercarriage image of `plate`'s last clean pass by this camera whose
    image is `stored`, if any (never the pass's own image)."""
    if not plate:
        return None
    return next((sha for sha in last_clean_images(read, plate, device_id) if sha != not_image and stored(sha)), None)
