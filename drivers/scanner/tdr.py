"""DICOS Threat Detection Reports (TDR, SOP class 1.2.840.10008.5.1.4.1.1.501.3): write one, read any DICOS file.

A TDR holds no pixels: it refers to the image it reports on (Referenced Series Sequence with the
image's series, a Referenced Instance Sequence with its SOP class and instance UIDs) and lists one
Threat Sequence item per potential threat object (PTO): its id, an ATD Assessment Sequence item
(category, flag, probability) and a PTO Representation Sequence item (the referenced image again,
the bounding polygon as (x, y, 0) points in the image's pixel space, the polygon's box as Threat ROI
base and extents). TDRType says who decided: MACHINE (an algorithm, named in
ThreatDetectionAlgorithmAndVersion) or OPERATOR (a person, in OperatorsName); AlarmDecision is the
decision. pydicom knows every keyword used here but does not validate DICOS objects, so `build_tdr`
refuses what would make a report wrong and `read_dicos` checks what it reports.
"""

from __future__ import annotations

import io
import math
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

from pydicom.dataset import Dataset
from pydicom.uid import UID, generate_uid

from drivers.scanner.dicos import (
    DICOS_IMAGES, DICOS_TDR, DICOS_VERSION, UTF8, da_tm, file_meta, image_geometry, open_dicos, pixel_data_problem,
)
from drivers.scanner.headers import ScanRefused, sniff_format

TdrType = Literal["MACHINE", "OPERATOR"]
ALARM_DECISIONS = {True: "ALARM", False: "NO_ALARM", None: "UNKNOWN"}
_ASSESSMENT_FLAGS = {True: "THREAT", False: "NO_THREAT", None: "UNKNOWN"}
_CS = re.compile(r"^[A-Z0-9_ ]{1,16}$")
_LO_MAX = 64


@dataclass
class Threat:
    """One potential threat object on an image: a polygon in its pixels (x right, y down) and a probability."""

    polygon: list[tuple[float, float]]
    probability: float | None
    category: str = "ANOMALY"
    description: str = ""

    def __post_init__(self) -> None:
        if len(self.polygon) < 3:
            raise ValueError(f"a threat's polygon needs at least 3 points, got {len(self.polygon)}")
        for x, y in self.polygon:
            if not (math.isfinite(x) and math.isfinite(y)) or x < 0 or y < 0:
                raise ValueError(f"threat polygon point ({x}, {y}) is not a pixel position")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"threat probability {self.probability} is not within 0..1")
        if not _CS.match(self.category):
            raise ValueError(f"threat category {self.category!r} is not a DICOS code string (A-Z 0-9 _, 1-16)")

    @classmethod
    def from_box(cls, x: int, y: int, width: int, height: int, score: float | None, *,
                 category: str = "ANOMALY", description: str = "") -> Threat:
        """A box's outline (corners at pixel edges: x..x+width) with its score clipped to 0..1 as probability."""
        if width <= 0 or height <= 0:
            raise ValueError(f"box {width} x {height} has no area")
        if score is not None and not math.isfinite(score):
            raise ValueError(f"box score {score} is not a number")
        corners = [(x, y), (x + width, y), (x + width, y + height), (x, y + height)]
        probability = None if score is None else min(max(float(score), 0.0), 1.0)
        return cls([(float(px), float(py)) for px, py in corners], probability, category, description)


@dataclass(frozen=True)
class ThreatSummary:
    """A threat as read back from a TDR."""

    pto_id: int | None
    polygon: tuple[tuple[float, float], ...]
    probability: float | None
    category: str
    description: str
    referenced_uid: str


@dataclass(frozen=True)
class DicosSummary:
    """What a DICOS file is: its SOP class and instance; pixel layout for an image; decision and threats for a TDR."""

    sop_class: str
    sop_class_uid: str
    instance_uid: str
    study_uid: str
    series_uid: str
    ooi_id: str
    dicos_version: str
    rows: int | None = None
    columns: int | None = None
    frames: int | None = None
    bits: int | None = None
    tdr_type: str | None = None
    alarm_decision: str | None = None
    threats: tuple[ThreatSummary, ...] = field(default=())
    referenced_uid: str | None = None
    referenced_class_uid: str | None = None
    algorithm: str = ""
    operator: str = ""
    decided_at: str = ""
    note: str = ""

    @property
    def is_tdr(self) -> bool:
        return self.sop_class_uid == DICOS_TDR

    @property
    def alarm(self) -> bool | None:
        """True for ALARM, False for NO_ALARM, None for UNKNOWN or an image."""
        return {"ALARM": True, "NO_ALARM": False}.get(self.alarm_decision or "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; polygons as [[x, y], ...]."""
        data = asdict(self)
        data["alarm"] = self.alarm
        data["threats"] = [{**asdict(t), "polygon": [list(p) for p in t.polygon]} for t in self.threats]
        return data


def _text(value: str, what: str, limit: int = _LO_MAX) -> str:
    if "\\" in value or len(value) > limit:
        raise ValueError(f"{what} {value!r} must be at most {limit} characters without a backslash")
    return value


def _reference(image: Dataset) -> Dataset:
    ref = Dataset()
    ref.ReferencedSOPClassUID = image.SOPClassUID
    ref.ReferencedSOPInstanceUID = image.SOPInstanceUID
    return ref


def _threat_item(number: int, threat: Threat, image: Dataset, alarm: bool | None) -> Dataset:
    assessment = Dataset()
    assessment.ThreatCategory = threat.category
    if threat.description:
        assessment.ThreatCategoryDescription = threat.description
    assessment.ATDAbilityAssessment = "NO_INTERFERENCE"
    assessment.ATDAssessmentFlag = _ASSESSMENT_FLAGS[alarm]
    if threat.probability is not None:
        assessment.ATDAssessmentProbability = threat.probability
    xs, ys = [p[0] for p in threat.polygon], [p[1] for p in threat.polygon]
    representation = Dataset()
    representation.ReferencedInstanceSequence = [_reference(image)]
    representation.BoundingPolygon = [v for x, y in threat.polygon for v in (x, y, 0.0)]
    representation.ThreatROIBase = [min(xs), min(ys), 0.0]
    representation.ThreatROIExtents = [max(xs) - min(xs), max(ys) - min(ys), 1.0]
    item = Dataset()
    item.PotentialThreatObjectID = number
    item.ATDAssessmentSequence = [assessment]
    item.PTORepresentationSequence = [representation]
    return item


def build_tdr(image_ds: Dataset, threats: list[Threat], tdr_type: TdrType, *, operator: str = "",
              algorithm: str = "", alarm: bool | None, decided_at: datetime, note: str = "") -> Dataset:
    """A TDR on `image_ds` (a DICOS image); `alarm` None is UNKNOWN (no decision could be made)."""
    sop = image_ds.get("SOPClassUID")
    if sop not in DICOS_IMAGES or not all(image_ds.get(k) for k in ("SOPInstanceUID", "StudyInstanceUID",
                                                                     "SeriesInstanceUID")):
        raise ValueError(f"a TDR reports on a DICOS image with its UIDs; SOP class {sop} is not one")
    if tdr_type not in ("MACHINE", "OPERATOR"):
        raise ValueError(f"TDR type {tdr_type!r} is neither MACHINE nor OPERATOR")
    if tdr_type == "MACHINE" and not algorithm:
        raise ValueError("a MACHINE TDR names its algorithm")
    if tdr_type == "OPERATOR" and not operator:
        raise ValueError("an OPERATOR TDR names its operator")
    if decided_at.utcoffset() is None:
        raise ValueError("decided_at must carry its UTC offset")
    rows, columns = int(image_ds.Rows), int(image_ds.Columns)
    for threat in threats:
        outside = [p for p in threat.polygon if p[0] > columns or p[1] > rows]
        if outside:
            raise ValueError(f"threat polygon point {outside[0]} lies outside the {columns} x {rows} image")
    ds = Dataset()
    ds.file_meta = file_meta(DICOS_TDR)
    ds.SpecificCharacterSet = UTF8
    ds.SOPClassUID = DICOS_TDR
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = image_ds.StudyInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "TDR"
    ds.SeriesDescription = "machine threat detection" if tdr_type == "MACHINE" else "operator verdict"
    ds.InstanceNumber = 1
    date, time, offset = da_tm(decided_at)
    ds.ContentDate, ds.ContentTime = date, time
    ds.TimezoneOffsetFromUTC = offset
    ds.Manufacturer = "Kouan"
    ds.PatientID = image_ds.get("PatientID", "")
    ds.OOIType = image_ds.get("OOIType", "CARGO")
    ds.DICOSVersion = DICOS_VERSION
    ds.TDRType = tdr_type
    ds.AlarmDecision = ALARM_DECISIONS[alarm]
    ds.AlarmDecisionTime = date + time + offset
    ds.AbortFlag = "SUCCESS"
    ds.NumberOfTotalObjects = len(threats)
    ds.NumberOfAlarmObjects = len(threats) if alarm else 0
    if tdr_type == "MACHINE":
        ds.ThreatDetectionAlgorithmAndVersion = _text(algorithm, "algorithm")
    else:
        ds.OperatorsName = _text(operator, "operator")
    if len(note) > 10240:
        raise ValueError(f"note of {len(note)} characters is over the 10240 an LT holds")
    if note:
        ds.ImageComments = note
    series = Dataset()
    series.SeriesInstanceUID = image_ds.SeriesInstanceUID
    series.ReferencedInstanceSequence = [_reference(image_ds)]
    ds.ReferencedSeriesSequence = [series]
    ds.ThreatSequence = [_threat_item(n, t, image_ds, alarm) for n, t in enumerate(threats, start=1)]
    return ds


def dicos_bytes(ds: Dataset) -> bytes:
    """The DICOM file (preamble, DICM, file meta, data set) of `ds`, in memory."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def write_tdr(path: str | Path, ds: Dataset) -> None:
    """Write `ds` to `path` whole or not at all (a `.part` file renamed into place)."""
    path = Path(path)
    part = path.with_name(path.name + ".part")
    try:
        part.write_bytes(dicos_bytes(ds))
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


def _first_reference(items: Any) -> Dataset | None:
    for item in items or ():
        refs = item.get("ReferencedInstanceSequence") or ()
        if refs:
            return refs[0]
    return None


def _threat_summary(item: Dataset) -> ThreatSummary:
    assessments = item.get("ATDAssessmentSequence") or [Dataset()]
    representations = item.get("PTORepresentationSequence") or ()
    if not representations:
        raise ScanRefused("corrupt", "TDR threat item has no PTO Representation Sequence")
    representation = representations[0]
    values = [float(v) for v in (representation.get("BoundingPolygon") or ())]
    if len(values) < 9 or len(values) % 3:
        raise ScanRefused("corrupt", f"TDR BoundingPolygon holds {len(values)} values, not 3 or more (x, y, z) points")
    probability = assessments[0].get("ATDAssessmentProbability")
    if probability is not None and not 0.0 <= float(probability) <= 1.0:
        raise ScanRefused("corrupt", f"TDR ATDAssessmentProbability {probability} is not within 0..1")
    ref = _first_reference([representation])
    pto = item.get("PotentialThreatObjectID")
    return ThreatSummary(None if pto is None else int(pto),
                         tuple((values[i], values[i + 1]) for i in range(0, len(values), 3)),
                         None if probability is None else float(probability),
                         str(assessments[0].get("ThreatCategory", "")),
                         str(assessments[0].get("ThreatCategoryDescription", "")),
                         str(ref.ReferencedSOPInstanceUID) if ref is not None else "")


def _read(f: BinaryIO, size: int) -> DicosSummary:
    if sniff_format(f.read(132)) != "dicos":
        raise ScanRefused("wrong_magic", "not a DICOM file (no DICM at byte 128)")
    ds = open_dicos(f)
    sop = UID(str(ds.get("SOPClassUID", "")))
    if sop not in (*DICOS_IMAGES, DICOS_TDR):
        raise ScanRefused("sop_class", f"SOP class {sop or 'none'} ({sop.name if sop else 'missing'}) is not a "
                                       "DICOS image or TDR (1.2.840.10008.5.1.4.1.1.501.x)")
    meta = ds.file_meta
    instance = str(ds.get("SOPInstanceUID", ""))
    if meta.get("MediaStorageSOPClassUID") != sop or str(meta.get("MediaStorageSOPInstanceUID", "")) != instance:
        raise ScanRefused("corrupt", "file meta's SOP class/instance disagree with the data set's")
    base: dict[str, Any] = {
        "sop_class": sop.name, "sop_class_uid": str(sop), "instance_uid": instance,
        "study_uid": str(ds.get("StudyInstanceUID", "")), "series_uid": str(ds.get("SeriesInstanceUID", "")),
        "ooi_id": str(ds.get("PatientID", "")), "dicos_version": str(ds.get("DICOSVersion", "")),
    }
    if sop != DICOS_TDR:
        g = image_geometry(ds)
        problem = pixel_data_problem(ds, g, size)
        if problem:
            raise ScanRefused("truncated", problem)
        return DicosSummary(**base, rows=g.rows, columns=g.columns, frames=g.frames, bits=g.bits_stored)
    decision = str(ds.get("AlarmDecision", ""))
    if decision not in ALARM_DECISIONS.values():
        raise ScanRefused("corrupt", f"TDR AlarmDecision {decision!r} is not ALARM, NO_ALARM or UNKNOWN")
    tdr_type = str(ds.get("TDRType", ""))
    if not tdr_type:
        raise ScanRefused("corrupt", "TDR has no TDRType")
    threats = tuple(_threat_summary(item) for item in ds.get("ThreatSequence") or ())
    ref = _first_reference(ds.get("ReferencedSeriesSequence"))
    if ref is None:
        raise ScanRefused("corrupt", "TDR refers to no image (no Referenced Series / Instance Sequence)")
    algorithm = ds.get("ThreatDetectionAlgorithmAndVersion", "")
    return DicosSummary(**base, tdr_type=tdr_type, alarm_decision=decision, threats=threats,
                        referenced_uid=str(ref.ReferencedSOPInstanceUID),
                        referenced_class_uid=str(ref.ReferencedSOPClassUID),
                        algorithm="\\".join(algorithm) if isinstance(algorithm, list) else str(algorithm),
                        operator=str(ds.get("OperatorsName", "")), decided_at=str(ds.get("AlarmDecisionTime", "")),
                        note=str(ds.get("ImageComments", "")))


def read_dicos(source: str | Path | bytes) -> DicosSummary:
    """Summarise a DICOS file (a path, or its bytes); ScanRefused (a ValueError) saying why it is not one."""
    if isinstance(source, bytes):
        return _read(io.BytesIO(source), len(source))
    try:
        with open(source, "rb") as f:
            return _read(f, os.fstat(f.fileno()).st_size)
    except OSError as exc:
        raise ScanRefused("missing", f"cannot read {source}: {exc.strerror or exc}") from None
