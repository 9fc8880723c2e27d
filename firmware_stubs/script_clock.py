"""When a stub's script starts: at the stub's own start, or at a moment several stubs share.

A script's seconds (`--events "5:tamper"`) count from the stub's start. Stubs started one after
another start seconds apart (each has its imports to make), so a scenario that several play
together (`kouan demo`: every truck seen by each device a few seconds apart) gives them one
origin: KOUAN_SIM_EPOCH, the wall-clock time (Unix seconds) at which script time 0 falls. Events
due before the stub ran are played at once; only the script's clock moves, not the uptime a
device reports.
"""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger(__name__)

ENV = "KOUAN_SIM_EPOCH"


def script_origin() -> float:
    """The `time.monotonic()` reading at which this stub's script time is 0."""
    now = time.monotonic()
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return now
    try:
        epoch = float(raw)
    except ValueError:
        log.warning("%s=%r is not Unix seconds: the script starts now", ENV, raw)
        return now
    return now - (time.time() - epoch)
