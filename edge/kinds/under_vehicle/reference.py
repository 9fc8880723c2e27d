"""The plate's last clean pass at this lane: the reference a new pass is compared with.

A pass is clean when its passage was released (by the machine or an officer) with no reason
that holds the vehicle. Read from the passage tables on the analyser's own thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from edge.passages.observation import norm

Read = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


def last_clean_pass(read: Read, device_id: str, plate: str | None, not_image: str) -> str | None:
    """The SHA-256 of the undercarriage image of `plate`'s last clean pass by this camera, if any."""
    if not plate:
        return None
    rows = read(
        "SELECT json_extract(o.observation_json, '$.images[0].sha256') FROM passages p "
        "JOIN passage_observations o ON o.passage_id = p.id "
        "WHERE p.plate = ? AND p.state IN ('released', 'reviewed') AND p.reasons_json NOT LIKE '%\"holds\": true%' "
        "AND o.device_id = ? AND o.pending = 0 ORDER BY p.id DESC LIMIT 1", (norm(plate), device_id))
    sha = rows[0][0] if rows else None
    return sha if sha and sha != not_image else None
