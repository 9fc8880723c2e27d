"""Enrolment for `kouan iris enrol`: a card's templates from a few good captures of the same eye.

`enrol_from_captures(captures)` takes (code, mask) pairs that already passed the quality gate,
checks that every pair of them matches under the lane's rule (so one wrong eye, a second person
or a bad capture cannot slip into the enrolment) and returns them as templates, most visible
bits first, at most `keep`. Matching later takes the best over these templates. Store each with
`Template.to_bytes()` (1024 bytes). Pure numpy, imports nothing from the rest of edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.kinds.iris.matching import Decision, MatchConfig, Template, match

MIN_CAPTURES = 2


@dataclass(frozen=True)
class Enrolment:
    """The templates kept and the distances that showed the captures agree (capture i, j, distance)."""

    templates: tuple[Template, ...]
    agreement: tuple[tuple[int, int, float], ...]


def enrol_from_captures(captures: Sequence[tuple[np.ndarray, np.ndarray]], config: MatchConfig = MatchConfig(),
                        keep: int = 3) -> Enrolment:
    """Templates from `captures` ((code, mask) bool arrays of CODE_SHAPE); ValueError saying why not."""
    if len(captures) < MIN_CAPTURES:
        raise ValueError(f"enrolment needs at least {MIN_CAPTURES} good captures of the same eye, got {len(captures)}")
    templates = [Template(code, mask) for code, mask in captures]
    agreement: list[tuple[int, int, float]] = []
    for i in range(len(templates)):
        for j in range(i + 1, len(templates)):
            result = match(templates[i].code, templates[i].mask, [templates[j]], config)
            if result.decision is not Decision.ACCEPT or result.best is None:
                raise ValueError(f"captures {i + 1} and {j + 1} do not agree ({result.reason}): "
                                 "not the same eye, or a bad capture; capture again")
            agreement.append((i, j, result.best.distance))
    ranked = sorted(templates, key=lambda t: int(t.mask.sum()), reverse=True)
    return Enrolment(tuple(ranked[:keep]), tuple(agreement))
