"""One reviewed image as DICOS, in a zip: the DX, the machine's TDR and one operator TDR per verdict.

The DX is the uploaded file itself when it is DICOS (so its SOP instance is the scanner's own),
else a DICOS DX for presentation made from the decoded pixels. The MACHINE TDR carries the edge's
regions on that image (polygon = the box's corners, probability = the region's score clipped to
0..1); it alarms when the model marked a region, says NO_ALARM when a model ran and marked none,
and UNKNOWN when no model ran (the passage document carries no per-image flag). Each verdict becomes
an OPERATOR TDR by its reviewer: ALARM with the machine's regions for `suspicious`, NO_ALARM and no
threats for `clear`. A `manifest.json` lists the files. Bad input is an `ExportRefused` (a
ValueError) saying why; nothing is half-written, since the zip is built in memory.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydicom.dataset import Dataset

from contract.uplink import ImageWire, PassageUpload
from drivers.scanner.dicos import DICOS_DX_PRESENTATION, DICOS_DX_PROCESSING, open_dicos
from drivers.scanner.dx_image import decode_grey_planes, presentation_dx
from drivers.scanner.headers import ScanRefused, sniff_format
from drivers.scanner.tdr import Threat, build_tdr, dicos_bytes, read_dicos

_FORMATS = {"image/png": "png", "image/tiff": "tiff", "image/jpeg": "jpeg", "application/dicom": "dicos"}


class ExportRefused(ValueError):
    """The inputs cannot make a true DICOS export; the message says why."""


class VerdictRecord(BaseModel):
    """A verdict as the hub holds it (a `verdicts` row, or a VerdictWire dumped)."""

    model_config = ConfigDict(extra="forbid")

    verdict: Literal["clear", "suspicious"] = Field(description="The reviewer's decision.")
    note: str = Field("", max_length=2000, description="The reviewer's note.")
    reviewer: str = Field(min_length=1, description="Who decided.")
    decided_at: datetime = Field(description="When; without an offset it is taken as UTC, as the hub stores it.")
    stage: Literal["review", "recheck"] = Field(description="A first review, or a supervisor's re-check.")
    cursor: int | None = Field(None, description="Position in the verdict feed, when given.")
    lane: str | None = Field(None, description="The passage's lane, when given.")
    passage_id: int | None = Field(None, description="The edge's passage id, when given.")
    item_id: int | None = Field(None, description="The review item, when given.")


def _aware(moment: datetime) -> datetime:
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=timezone.utc)


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())


def _dx(image_bytes: bytes, media_type: str, passage: PassageUpload, image: ImageWire) -> tuple[Dataset, bytes]:
    """(the DX data set, its file's bytes): the upload when DICOS, else made from the pixels."""
    if media_type not in _FORMATS:
        raise ExportRefused(f"media type {media_type} is not one the hub keeps")
    found = "jpeg" if image_bytes.startswith(b"\xff\xd8\xff") else sniff_format(image_bytes[:132])
    if _FORMATS[media_type] != found:
        raise ExportRefused(f"the image is claimed {media_type} but starts like {found or 'no known format'}")
    try:
        if media_type == "application/dicom":
            summary = read_dicos(image_bytes)
            if summary.sop_class_uid not in (DICOS_DX_PRESENTATION, DICOS_DX_PROCESSING):
                raise ExportRefused(f"the uploaded DICOS is {summary.sop_class}, not a DX image")
            return open_dicos(io.BytesIO(image_bytes)), image_bytes
        grey = decode_grey_planes(image_bytes, f"image {image.sha256[:12]}")
    except ScanRefused as exc:
        raise ExportRefused(str(exc)) from None
    ds = presentation_dx(grey, scan_id=f"{passage.lane}-{passage.passage_id}"[:64],
                         scan_time=_aware(passage.arrived_at), device=image.device_id,
                         containers=passage.containers, plate=passage.plate or None)
    return ds, dicos_bytes(ds)


def _machine_threats(image: ImageWire) -> list[Threat]:
    return [Threat.from_box(r.x, r.y, r.width, r.height, r.score,
                            description=f"region {i}: {r.width} x {r.height} px at ({r.x}, {r.y})"
                                        + ("" if r.score is None else f", score {r.score:.4f}"))
            for i, r in enumerate(image.regions, start=1)]


def export_zip(image_bytes: bytes, media_type: str, passage: dict[str, Any], image_sha256: str,
               verdicts: list[dict[str, Any]]) -> bytes:
    """The zip of one image of a passage: DX, MACHINE TDR, one OPERATOR TDR per verdict, manifest.json."""
    digest = hashlib.sha256(image_bytes).hexdigest()
    if digest != image_sha256:
        raise ExportRefused(f"the image's bytes hash to {digest}, not {image_sha256}")
    try:
        doc = PassageUpload.model_validate(passage)
        records = [VerdictRecord.model_validate(v) for v in verdicts]
    except ValidationError as exc:
        raise ExportRefused(f"passage or verdicts are not as the hub stores them: {_problems(exc)}") from None
    image = next((i for i in doc.images if i.sha256 == image_sha256), None)
    if image is None:
        raise ExportRefused(f"passage {doc.lane}/{doc.passage_id} has no image {image_sha256}")
    dx, dx_file = _dx(image_bytes, media_type, doc, image)
    size = (int(dx.Columns), int(dx.Rows))
    if (image.width or size[0], image.height or size[1]) != size:
        raise ExportRefused(f"the passage says the image is {image.width} x {image.height}, "
                            f"it is {size[0]} x {size[1]}")
    files: list[tuple[str, bytes, dict[str, Any]]] = [("image.dx.dcm", dx_file, {"kind": "image"})]
    try:
        threats = _machine_threats(image)
        machine_alarm = True if threats else (False if image.score is not None else None)
        score = "no model score" if image.score is None else f"image score {image.score:.4f}"
        machine = build_tdr(dx, threats, "MACHINE", algorithm=f"Kouan edge model, lane {doc.lane}"[:64],
                            alarm=machine_alarm, decided_at=_aware(doc.decided_at or doc.arrived_at),
                            note=f"passage {doc.lane}/{doc.passage_id} revision {doc.revision}: {score}, "
                                 f"{len(threats)} region(s)")
        files.append(("machine.tdr.dcm", dicos_bytes(machine), {"kind": "MACHINE", "alarm": machine_alarm}))
        for n, record in enumerate(records, start=1):
            suspicious = record.verdict == "suspicious"
            note = f"{record.stage}: {record.verdict}" + (f"; {record.note}" if record.note else "")
            tdr = build_tdr(dx, threats if suspicious else [], "OPERATOR", operator=record.reviewer,
                            alarm=suspicious, decided_at=_aware(record.decided_at), note=note)
            files.append((f"operator-{n}-{record.stage}.tdr.dcm", dicos_bytes(tdr),
                          {"kind": "OPERATOR", "alarm": suspicious, "reviewer": record.reviewer,
                           "stage": record.stage, "verdict": record.verdict}))
    except ValueError as exc:
        raise ExportRefused(f"passage {doc.lane}/{doc.passage_id}: {exc}") from None
    return _zip(files, image_sha256, _aware(doc.arrived_at))


def _zip(files: list[tuple[str, bytes, dict[str, Any]]], image_sha256: str, when: datetime) -> bytes:
    stamp = when.astimezone(timezone.utc).timetuple()[:6]
    manifest: dict[str, Any] = {"image_sha256": image_sha256, "files": []}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, facts in files:
            summary = read_dicos(data)  # what we wrote is checked by the same reader as any other file
            manifest["files"].append({"name": name, "sha256": hashlib.sha256(data).hexdigest(),
                                      "sop_class_uid": summary.sop_class_uid, "sop_instance_uid": summary.instance_uid,
                                      **facts})
            archive.writestr(zipfile.ZipInfo(name, stamp), data, zipfile.ZIP_DEFLATED, 1)
        archive.writestr(zipfile.ZipInfo("manifest.json", stamp),
                         json.dumps(manifest, indent=2, ensure_ascii=False), zipfile.ZIP_DEFLATED, 1)
    return buffer.getvalue()
