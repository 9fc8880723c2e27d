"""The plate's last clean pass at this lane: the reference a new pass is compared with.

A pass is clean when its passage was released (by the machine or an officer) with no reason
that holds the vehicle. Read from the passage tables on the analyser's own thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from edge.passages.queries import last_clean_image

Read = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


def last_clean_pass(read: Read, device_id: str, plate: str | None, not_image: str) -> str | None:
    """The SHA-256 of the undercarriage image of `plate`'s last clean pass by this camera, if any
    (never the pass's own image)."""
    if not plate:
        return None
    sha = last_clean_image(read, plate, device_id)
    return sha if sha != not_image else None
