"""The upload contract between an edge and the hub: the only code both import.

Everything that crosses the wire between a lane's edge and the central image-review hub is one
of these pydantic models (JSON, `extra="forbid"`) or one of the paths and headers below. The
edge builds them from its store; the hub validates them at its door. Neither side imports the
other's modules.

Protocol, in order (all under `API`, each request with `Authorization: Bearer <edge token>`):

1. **Images** (blobs), identity = SHA-256 of the bytes:
   - `HEAD BLOB` answers 200 with `Upload-Offset` = `Upload-Length` when the hub holds the whole
     file, 200 with the offset reached so far when an upload is in progress, 404 when it knows
     nothing of it.
   - `POST BLOB` with a `BlobCreate` body opens an upload (or answers the state of the one already
     open or done: re-sending is harmless). Files over the hub's limit are refused (413).
   - `PATCH BLOB` with header `Upload-Offset: <n>` (it must equal the hub's offset, else 409 with
     the hub's offset in the header) and `Content-Type: application/offset+octet-stream` appends
     one chunk (at most `MAX_CHUNK` bytes) and answers `BlobStatus`. After the last byte the hub
     checks the SHA-256 and that the file is the image it claims to be (magic, header, no
     decompression bomb, not truncated); a refusal is 422 with a `Refusal`, and the partial
     upload is dropped so a corrected re-send starts clean.
2. **Passages**, identity = SHA-256 of the document's canonical JSON (`canonical_sha256`):
   `PUT PASSAGE` with a `PassageUpload` body. The hub refuses (409, `Refusal` with `missing`)
   a passage whose images it does not hold whole, so evidence is never half there. A re-send of
   the same document answers `status="duplicate"`; an older revision than the hub holds
   answers `status="superseded"`. Both are confirmations: the edge's outbox may forget the item.
3. **Verdicts** come back on a cursor: `GET VERDICTS?after=<cursor>&wait=<s>` answers the
   lane's verdicts after the cursor, waiting up to `wait` seconds (long poll) when there are
   none. The edge keeps the last cursor it stored, so a reconnect loses none and repeats none.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

API = "/api/v1"
BLOB = API + "/blobs/{sha256}"
PASSAGE = API + "/passages/{sha256}"
VERDICTS = API + "/verdicts"
HEALTH = API + "/health"

UPLOAD_OFFSET = "Upload-Offset"
UPLOAD_LENGTH = "Upload-Length"
CHUNK_CONTENT_TYPE = "application/offset+octet-stream"
MAX_CHUNK = 8 * 1024 * 1024
MAX_WAIT_S = 30.0

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 in lower-case hex.")]
MediaType = Literal["image/png", "image/tiff", "image/jpeg", "application/dicom"]
PassageState = Literal["open", "analysing", "clear", "flagged", "released", "held", "reviewed"]
Verdict = Literal["clear", "suspicious"]


class _Wire(BaseModel):
    # No NaN or Infinity in any number: JSON has neither, SQLite binds NaN as NULL and PostgreSQL
    # sorts both above every number (a NaN score would head the review queue). The hub answers 422.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class BlobCreate(_Wire):
    """Opening an image upload."""

    size: int = Field(gt=0, description="The file's whole length in bytes.")
    media_type: MediaType = Field(description="What the file claims to be; the hub checks its magic against it.")


class BlobStatus(_Wire):
    """Where an image upload stands at the hub."""

    sha256: Sha256
    size: int = Field(description="The file's whole length in bytes.")
    offset: int = Field(description="Bytes the hub holds so far; equal to size when complete.")
    complete: bool = Field(description="The whole file arrived, its hash matched and it is a valid image.")


class Refusal(_Wire):
    """Why the hub refused something, in words, with a machine-readable code."""

    code: str = Field(description="e.g. hash_mismatch, bad_magic, too_large, truncated, bomb, missing_images.")
    detail: str = Field(description="The reason in words.")
    missing: list[Sha256] = Field(default_factory=list, description="Images the hub does not hold whole yet.")


class RegionWire(_Wire):
    """A flagged region, in the image's own pixel coordinates."""

    x: int = Field(ge=0)
    y: int = Field(ge=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    score: float | None = Field(default=None, description="The model's score for the region, when it has one "
                                "(finite: NaN and Infinity are refused).")


class ImageWire(_Wire):
    """One image of a passage and the model's regions on it."""

    sha256: Sha256
    media_type: MediaType
    size: int = Field(gt=0)
    device_id: str = Field(max_length=64)
    kind: str = Field(max_length=32, description="The device kind: scanner, under_vehicle, empty_box, ...")
    label: str = Field(default="", max_length=200, description="What the image shows, in words.")
    width: int | None = Field(default=None, gt=0)
    height: int | None = Field(default=None, gt=0)
    score: float | None = Field(default=None, description="The model's image score, when a model ran (finite: NaN "
                                "and Infinity are refused; the edge sends a failed model's as 1.0).")
    regions: list[RegionWire] = Field(default_factory=list, max_length=500)


class ReasonWire(_Wire):
    """One reason of the lane's decision."""

    code: str = Field(max_length=64)
    words: str = Field(max_length=1000)
    holds: bool = Field(description="True if the reason holds the vehicle, False if it only informs.")


class ObservationWire(_Wire):
    """What one device said of the passage (a reading, or a model's result on it)."""

    device_id: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    said: str = Field(max_length=1000)
    at: datetime
    findings: list[ReasonWire] = Field(default_factory=list, max_length=100)
    images: list[Sha256] = Field(default_factory=list, max_length=50)


class PassageUpload(_Wire):
    """One passage as the lane decided it, with its evidence. Re-sent at each new revision."""

    lane: str = Field(min_length=1, max_length=64, description="Must be the lane of the edge's token.")
    passage_id: int = Field(gt=0, description="The edge's id of the passage, unique within the lane.")
    revision: int = Field(gt=0, description="Grows with each change of the passage at the edge.")
    state: PassageState
    plate: str = Field(default="", max_length=32)
    containers: list[str] = Field(default_factory=list, max_length=8)
    declaration_id: str | None = Field(default=None, max_length=64)
    arrived_at: datetime
    decided_at: datetime | None = None
    acted_at: datetime | None = None
    acted_by: str = Field(default="", max_length=64, description="'machine', or the officer who acted.")
    refer: bool = Field(description="The lane asks the hub to review this passage's images.")
    reasons: list[ReasonWire] = Field(default_factory=list, max_length=100)
    observations: list[ObservationWire] = Field(default_factory=list, max_length=100)
    images: list[ImageWire] = Field(default_factory=list, max_length=50)


class PassageAck(_Wire):
    """The hub's confirmation of a passage document."""

    sha256: Sha256
    status: Literal["stored", "duplicate", "superseded"]
    review_item: int | None = Field(default=None, description="The review-queue item made for it, if any.")


class VerdictWire(_Wire):
    """A reviewer's (or a supervisor's re-check) verdict on a passage, for its lane."""

    cursor: int = Field(gt=0, description="Position in the hub's verdict feed; ask for those after it next time.")
    lane: str
    passage_id: int
    verdict: Verdict
    note: str = Field(default="", max_length=2000)
    reviewer: str
    stage: Literal["review", "recheck"] = Field(description="A first review, or a supervisor's re-check of one.")
    decided_at: datetime


class VerdictPage(_Wire):
    """Verdicts after a cursor, and the cursor to ask from next."""

    verdicts: list[VerdictWire]
    cursor: int = Field(ge=0, description="The last cursor in this page (or the one asked for, when empty).")


def canonical_json(model: BaseModel) -> bytes:
    """The bytes whose hash is a document's identity: sorted keys, no spaces, UTF-8."""
    return json.dumps(model.model_dump(mode="json"), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def canonical_sha256(model: BaseModel) -> str:
    """A document's identity (the last path segment of `PASSAGE`)."""
    return hashlib.sha256(canonical_json(model)).hexdigest()
