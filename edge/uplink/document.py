"""A decided passage as the hub receives it: `contract.uplink.PassageUpload`, built from the
store inside the passage's own transaction (a snapshot of that revision).

Images are the media store's files the observations name, each with its size and media type
sniffed from the file's magic (not taken on trust from a label), the device that took it, and the
model's regions and score. An image whose file is missing or of no type the contract knows cannot
be sent: it is left out of the document with a warning (and counted), rather than holding the
whole passage back for ever. Free text (what a device said, a reason's words, a label) is cut
to the contract's length; an identifier that does not fit (a tenth container, a long plate) makes
the document unbuildable (`DocumentError`), which the outbox records as refused, never silently.

A model's score that is not a finite number (NaN, +-Infinity: the model failed on the image) is
sent as `FAILED_SCORE`, see `_finite_score`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from contract.uplink import ImageWire, MediaType, ObservationWire, PassageUpload, ReasonWire, RegionWire
from drivers.scanner.headers import sniff_format
from edge.media import MediaError, MediaStore
from edge.passages import queries
from edge.store import Txn

log = logging.getLogger(__name__)

UNDECIDED = ("open", "analysing")
REFERRED = ("flagged", "held")
_FORMATS: dict[str, MediaType] = {"png": "image/png", "tiff": "image/tiff", "bigtiff": "image/tiff",
                                  "dicos": "application/dicom"}
MAX_IMAGES, MAX_REGIONS = 50, 500
FAILED_SCORE = 1.0
FAILED_NOTE = "model score not a number, sent as 1.0"


class DocumentError(ValueError):
    """A passage that cannot be put into the contract's shape; the message says why."""


@dataclass
class Built:
    """One passage's document and what could not go into it."""

    upload: PassageUpload
    left_out: list[str] = field(default_factory=list)  # image shas not sendable, with the reason


def sniff_media_type(head: bytes) -> MediaType | None:
    """The contract's media type of a file, from its first 132 bytes; None: none it knows."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    found = sniff_format(head)
    return _FORMATS.get(found) if found else None


def _at(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _finite_score(score: Any, sha: str, what: str, failed: list[str]) -> Any:
    """A model's score as the hub may take it: a NaN or an Infinity becomes `FAILED_SCORE` (1.0).

    The contract refuses non-finite numbers (the hub would answer 422 and the passage would never
    arrive). A NaN from a model means the model failed on that image, which says nothing of what
    the image shows: the image must still reach a reviewer, ranked as one that needs a look, not
    dropped (leaving the score out would rank the passage as if the model had seen nothing, 0)
    and not above every real detection (as PostgreSQL sorts a NaN). 1.0 is the top of a
    probability model's scale and well below the comparison model's flag threshold (12), so such
    an image comes early but after real high scores. The image's label says the score is not the
    model's (`FAILED_NOTE`: the reviewer sees it beside the image), and a warning is logged.
    Anything else (a finite number, None, a value the contract refuses for its type) is left as it is.
    """
    if isinstance(score, int | float) and not isinstance(score, bool) and not math.isfinite(score):
        log.warning("uplink: image %s: the model's %s score is %r (the model failed on it); sent as %s",
                    sha, what, score, FAILED_SCORE)
        failed.append(what)
        return FAILED_SCORE
    return score


def _regions(image: dict[str, Any], sha: str, failed: list[str]) -> list[RegionWire]:
    out: list[RegionWire] = []
    for r in image.get("regions") or ():
        x, y, w, h = int(r["x"]), int(r["y"]), int(r["width"]), int(r["height"])
        if w <= 0 or h <= 0:
            continue
        out.append(RegionWire(x=max(0, x), y=max(0, y), width=w, height=h,
                              score=_finite_score(r.get("score"), sha, "region", failed)))
    return out


def _image_score(sha: str, observations: list[dict[str, Any]], regions: list[RegionWire],
                 failed: list[str]) -> float | None:
    """The model's score of the image: its findings' score, else its best region's (never NaN or Infinity)."""
    scores = [float(_finite_score(f["evidence"]["score"], sha, "finding", failed))
              for o in observations for f in o.get("findings") or ()
              if isinstance(f.get("evidence"), dict) and f["evidence"].get("image_sha256") == sha
              and isinstance(f["evidence"].get("score"), int | float)]
    if not scores:
        scores = [r.score for r in regions if r.score is not None]
    return max(scores) if scores else None


def _label(image: dict[str, Any], failed: list[str]) -> str:
    """The image's label, cut to the contract's 200 characters, with `FAILED_NOTE` when a score failed."""
    label = str(image.get("label") or "")
    if not failed:
        return label[:200]
    return f"{label[:200 - len(FAILED_NOTE) - 3]} · {FAILED_NOTE}" if label else FAILED_NOTE


def _image(media: MediaStore, sha: str, observation: dict[str, Any], image: dict[str, Any],
           observations: list[dict[str, Any]]) -> ImageWire | str:
    """The image's wire form, or why it cannot be sent."""
    try:
        path = media.path(sha)
        with path.open("rb") as handle:
            head = handle.read(132)
        size = path.stat().st_size
    except (OSError, MediaError) as exc:
        return f"not in the media store ({exc})"
    media_type = sniff_media_type(head)
    if media_type is None or size <= 0:
        return "not an image type the hub takes (PNG, TIFF, JPEG, DICOM)"
    failed: list[str] = []  # the scores of this image that were not finite numbers
    regions = _regions(image, sha, failed)
    if len(regions) > MAX_REGIONS:
        log.warning("uplink: image %s has %d regions; the hub gets the first %d", sha, len(regions), MAX_REGIONS)
    width, height = image.get("width"), image.get("height")
    score = _image_score(sha, observations, regions, failed)
    return ImageWire(
        sha256=sha, media_type=media_type, size=size, device_id=observation["device_id"],
        kind=str(observation.get("kind") or ""), label=_label(image, failed),
        width=width if isinstance(width, int) and width > 0 else None,
        height=height if isinstance(height, int) and height > 0 else None,
        score=score, regions=regions[:MAX_REGIONS])


def build_upload(txn: Txn, passage_id: int, lane_id: str, media: MediaStore,
                 holds: Callable[[str], bool]) -> Built | None:
    """The passage's document at its current revision; None while it is not decided (or gone)."""
    p = queries.detail(txn, passage_id, {})
    if p is None or p["state"] in UNDECIDED:
        return None
    observations: list[dict[str, Any]] = p["observations"]
    images: dict[str, ImageWire] = {}
    left_out: list[str] = []
    for o in observations:
        for image in o.get("images") or ():
            sha = image["sha256"]
            if sha in images or any(item.startswith(sha) for item in left_out):
                continue
            made = _image(media, sha, o, image, observations)
            if isinstance(made, str):
                left_out.append(f"{sha}: {made}")
            elif len(images) < MAX_IMAGES:
                images[sha] = made
            else:
                left_out.append(f"{sha}: over the contract's {MAX_IMAGES} images")
    held = {(r.get("device_id"), r["code"]): bool(r["holds"]) for r in p["reasons"]}
    try:
        wire_observations = [ObservationWire(
            device_id=o["device_id"], kind=str(o.get("kind") or ""), said=str(o.get("said") or "")[:1000],
            at=_at(o["at"]),
            findings=[ReasonWire(code=f["code"], words=str(f["words"])[:1000],
                                 holds=held.get((o["device_id"], f["code"]), holds(f["code"])))
                      for f in o.get("findings") or ()],
            images=[i["sha256"] for i in o.get("images") or () if i["sha256"] in images],
        ) for o in observations]
        upload = PassageUpload(
            lane=lane_id, passage_id=p["id"], revision=p["version"], state=p["state"], plate=p["plate"] or "",
            containers=p["containers"], declaration_id=p["declaration_id"],
            arrived_at=_at(p["arrived_at"]), decided_at=_at(p["decided_at"]), acted_at=_at(p["acted_at"]),
            acted_by=p["acted_by"] or "", refer=p["state"] in REFERRED and bool(images),
            reasons=[ReasonWire(code=r["code"], words=str(r["words"])[:1000], holds=bool(r["holds"]))
                     for r in p["reasons"]],
            observations=wire_observations, images=list(images.values()))
    except ValueError as exc:  # pydantic's ValidationError is one
        raise DocumentError(f"passage {passage_id} does not fit the upload contract: {exc}") from exc
    return Built(upload, left_out)
