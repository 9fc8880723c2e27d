"""Ingest readings for the iris reader's messages, whichever transport brought them.

A capture's iris code and mask (512 bytes each) go to the private media store by SHA-256 (which
the lane terminal never serves) before the reading is submitted; the reading's payload holds only
the capture's metadata, its quality components and those two hashes (a few hundred bytes of
JSON). The device's state, which every logged-in officer sees, holds neither hash. The reading is keyed by the
SHA-256 of the capture's payload as the serial protocol lays it out (without the frame's
sequence number), so a resend, over either transport, is stored once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from drivers.iris import IrisCapture, Status
from drivers.iris.messages import encode_payload
from edge.ingest import Reading
from edge.kinds.iris.config import IrisDefaults
from edge.kinds.iris.outcome import judge_capture
from edge.media import MediaStore

KIND_NAME = "iris"


def capture_reading(capture: IrisCapture, media: MediaStore, defaults: IrisDefaults,
                    on_stored: Callable[[], None] | None = None) -> Reading:
    """Store code and mask as media (MediaError/OSError if that fails), then the reading that judges it."""
    _, body = encode_payload(capture.body())
    code = media.put_bytes(capture.code).sha256
    mask = media.put_bytes(capture.mask).sha256
    moment = capture.time.isoformat()
    quality = capture.quality.as_dict()
    payload: dict[str, Any] = {
        "seq": capture.seq, "card_id": capture.card_id, "time": moment, "eye": capture.eye.name.lower(),
        "transport": capture.transport, "quality": quality, "code_shape": [8, 256, 2],
        "code_sha256": code, "mask_sha256": mask,
    }
    state: dict[str, Any] = {"card_id": capture.card_id, "time": moment, "eye": payload["eye"]}
    derive = judge_capture(state, capture.code_bits(), capture.mask_bits(), quality, (code, mask), moment,
                           defaults.thresholds(), defaults.match_config())
    return Reading(capture.device, "capture", hashlib.sha256(body).hexdigest(), payload, device_time=moment,
                   state=state, derive=derive, kind=KIND_NAME, on_stored=on_stored)


def status_reading(device_id: str, status: Status, sha256: str, on_stored: Callable[[], None] | None = None) -> Reading:
    """A heartbeat: stored (the device was heard), no state change, no event."""
    payload = {"uptime_s": status.uptime_s, "state": status.state.name.lower(), "faults": status.fault_names(),
               "pending": status.pending}
    return Reading(device_id, "status", sha256, payload, kind=KIND_NAME, on_stored=on_stored)
