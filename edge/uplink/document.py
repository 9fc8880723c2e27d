"""A decided passage as the hub receives it: `contract.uplink.PassageUpload`, built from the
store inside the passage's own transaction (a snapshot of that revision).

Images are the media store's files the observations name, each with its size and media type
sniffed from the file's magic (not taken on trust from a label), the device that took it, and the
model's regions and score. An image whose file is missing or of no type the contract knows cannot
be sent: it is left out of the document with a warning (and counted), rather than holding the
whole passage back for ever. Free text (what a device said, a reason's words, a label) is cut
to the contract's length; an identifier that does not fit (a tenth container, a long plate) makes
the document unbuildable (`DocumentError`), which the outbox records as refused, never silently.
"""

from __future__ import annotations

import logging
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


def _regions(image: dict[str, Any]) -> list[RegionWire]:
    out: list[RegionWire] = []
    for r in image.get("regions") or ():
        x, y, w, h = int(r["x"]), int(r["y"]), int(r["width"]), int(r["height"])
        if w <= 0 or h <= 0:
            continue
        out.append(RegionWire(x=max(0, x), y=max(0, y), width=w, height=h, score=r.get("score")))
    return out


def _image_score(sha: str, observations: list[dict[str, Any]], regions: list[RegionWire]) -> float | None:
    """The model's score of the image: its findings' score, else its best region's."""
    scores = [float(f["evidence"]["score"]) for o in observations for f in o.get("findings") or ()
              if isinstance(f.get("evidence"), dict) and f["evidence"].get("image_sha256") == sha
              and isinstance(f["evidence"].get("score"), int | float)]
    if not scores:
        scores = [r.score for r in regions if r.score is not None]
    return max(scores) if scores else None


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
    regions = _regions(image)
    if len(regions) > MAX_REGIONS:
        log.warning("uplink: image %s has %d regions; the hub gets the first %d", sha, len(regions), MAX_REGIONS)
    width, height = image.get("width"), image.get("height")
    return ImageWire(
        sha256=sha, media_type=media_type, size=size, device_id=observation["device_id"],
        kind=str(observation.get("kind") or ""), label=str(image.get("label") or "")[:200],
        width=width if isinstance(width, int) and width > 0 else None,
        height=height if isinstance(height, int) and height > 0 else None,
        score=_image_score(sha, observations, regions), regions=regions[:MAX_REGIONS])


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
