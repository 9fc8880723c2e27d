"""DICOS DX for presentation and Threat Detection Reports: written here, read back by pydicom and by read_dicos."""

from __future__ import annotations

import io
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydicom import dcmread
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset

from drivers.scanner.dicos import DICOS_DX_PRESENTATION, DICOS_DX_PROCESSING, DICOS_TDR, build_dicos_dx
from drivers.scanner.dx_image import decode_grey_planes, presentation_dx
from drivers.scanner.headers import ScanRefused
from drivers.scanner.tdr import Threat, build_tdr, dicos_bytes, read_dicos, write_tdr

TZ = timezone(timedelta(hours=8))
WHEN = datetime(2026, 11, 26, 15, 20, 5, tzinfo=TZ)


def scan16(h: int = 60, w: int = 90, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 65536, (h, w), dtype=np.uint16)


def encoded(image: np.ndarray | list[np.ndarray], ext: str) -> bytes:
    ok, data = cv2.imencodemulti(ext, image) if isinstance(image, list) else cv2.imencode(ext, image)
    assert ok
    return bytes(data)


def dx_from(image: np.ndarray | list[np.ndarray], ext: str = ".tiff") -> Dataset:
    grey = decode_grey_planes(encoded(image, ext), "test image")
    return presentation_dx(grey, scan_id="LANE1-7", scan_time=WHEN, device="uv1", containers=["CSQU3054383"],
                           plate="新A·12345")


def reread(ds: Dataset) -> Dataset:
    return dcmread(io.BytesIO(dicos_bytes(ds)))


def test_dicos_tags_are_pydicoms_own() -> None:
    """Every DICOS keyword we write is in pydicom's dictionary at the tag and VR we document."""
    expected = {0x40101011: ("ThreatSequence", "SQ"), 0x40101012: ("ThreatCategory", "CS"),
                0x40101016: ("ATDAssessmentProbability", "FL"), 0x40101004: ("ThreatROIBase", "FL"),
                0x40101005: ("ThreatROIExtents", "FL"), 0x4010101D: ("BoundingPolygon", "FL"),
                0x40101027: ("TDRType", "CS"), 0x40101031: ("AlarmDecision", "CS"),
                0x4010103A: ("DICOSVersion", "CS"), 0x40101010: ("PotentialThreatObjectID", "US"),
                0x40101037: ("PTORepresentationSequence", "SQ"), 0x40101038: ("ATDAssessmentSequence", "SQ"),
                0x4010102B: ("AlarmDecisionTime", "DT"), 0x40101042: ("OOIType", "CS")}
    for tag, (keyword, vr) in expected.items():
        assert keyword_for_tag(tag) == keyword and dictionary_VR(tag) == vr


@pytest.mark.parametrize(("dtype", "ext"), [(np.uint16, ".tiff"), (np.uint8, ".png"), (np.uint16, ".png")])
def test_presentation_dx_round_trip(dtype: type, ext: str) -> None:
    image = scan16().astype(dtype) if dtype == np.uint16 else (scan16() >> 8).astype(np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pydicom warns on a value its VR does not allow
        back = reread(dx_from(image, ext))
    bits = 16 if dtype == np.uint16 else 8
    assert back.SOPClassUID == DICOS_DX_PRESENTATION == back.file_meta.MediaStorageSOPClassUID
    assert back.PresentationIntentType == "FOR PRESENTATION" and back.Modality == "DX"
    assert (back.BitsAllocated, back.BitsStored, back.HighBit) == (bits, bits, bits - 1)
    assert (back.Rows, back.Columns) == image.shape and back.ImageType == ["ORIGINAL", "PRIMARY"]
    assert float(back.WindowWidth) == int(image.max()) - int(image.min()) + 1
    assert back.PatientID == "LANE1-7" and "新A·12345" in back.ImageComments  # UTF-8 (ISO_IR 192)
    assert np.array_equal(back.pixel_array, image)
    summary = read_dicos(dicos_bytes(back))
    assert (summary.rows, summary.columns, summary.frames, summary.bits) == (*image.shape, 1, bits)


def test_colour_is_made_grey_and_says_so() -> None:
    colour = np.zeros((40, 50, 3), np.uint8)
    colour[..., 2] = 200  # red in BGR
    back = reread(dx_from(colour, ".png"))
    assert back.ImageType[0] == "DERIVED" and "made grey" in back.DerivationDescription
    assert np.array_equal(back.pixel_array, cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY))


def test_two_page_tiff_is_two_frames() -> None:
    high, low = scan16(seed=1), scan16(seed=2)
    back = reread(dx_from([high, low]))
    assert back.NumberOfFrames == 2 and np.array_equal(back.pixel_array, np.stack([high, low]))


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "decode"), (b"not an image at all", "decode"), (b"\x89PNG\r\n\x1a\n" + b"\x13" * 64, "decode"),
])
def test_non_images_refused(data: bytes, reason: str) -> None:
    with pytest.raises(ScanRefused, match="test image") as info:
        decode_grey_planes(data, "test image")
    assert info.value.reason == reason


def test_three_pages_and_float_refused() -> None:
    with pytest.raises(ScanRefused, match="3 pages"):
        decode_grey_planes(encoded([scan16()] * 3, ".tiff"), "test image")
    with pytest.raises(ScanRefused, match="float32"):
        decode_grey_planes(encoded(np.zeros((8, 8), np.float32), ".tiff"), "test image")


def machine_threats() -> list[Threat]:
    return [Threat.from_box(10, 5, 20, 15, 0.73, description="region 1"),
            Threat.from_box(60, 40, 30, 20, 1.7, description="region 2"),  # clipped to 1.0
            Threat([(1.5, 2.0), (8.0, 2.0), (4.0, 9.25)], None, "CONTRABAND", "drawn by hand")]


def test_machine_tdr_round_trip(tmp_path: Path) -> None:
    image = dx_from(scan16())
    image_back = reread(image)
    tdr = build_tdr(image_back, machine_threats(), "MACHINE", algorithm="cargo_xray 1.5.0", alarm=True,
                    decided_at=WHEN, note="score 0.99")
    path = tmp_path / "scan.tdr.dcm"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_tdr(path, tdr)
    back = dcmread(path)
    assert back.SOPClassUID == DICOS_TDR == back.file_meta.MediaStorageSOPClassUID
    assert back.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert back.SOPInstanceUID not in (image.SOPInstanceUID, "") and back.Modality == "TDR"
    assert back.StudyInstanceUID == image.StudyInstanceUID and back.SeriesInstanceUID != image.SeriesInstanceUID
    assert back["TDRType"].VR == "CS" and back.TDRType == "MACHINE"
    assert back["AlarmDecision"].VR == "CS" and back.AlarmDecision == "ALARM"
    assert back.AlarmDecisionTime == "20261126152005.000000+0800" and back.DICOSVersion == "V02A"
    assert back.ThreatDetectionAlgorithmAndVersion == "cargo_xray 1.5.0" and "OperatorsName" not in back
    assert (back.NumberOfTotalObjects, back.NumberOfAlarmObjects) == (3, 3)
    series = back.ReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == image.SeriesInstanceUID
    assert series.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == image.SOPInstanceUID
    assert series.ReferencedInstanceSequence[0].ReferencedSOPClassUID == DICOS_DX_PRESENTATION
    first = back.ThreatSequence[0]
    assert first.PotentialThreatObjectID == 1 and first["PTORepresentationSequence"].VR == "SQ"
    rep, assessment = first.PTORepresentationSequence[0], first.ATDAssessmentSequence[0]
    assert rep["BoundingPolygon"].VR == "FL"
    assert list(rep.BoundingPolygon) == [10, 5, 0, 30, 5, 0, 30, 20, 0, 10, 20, 0]
    assert list(rep.ThreatROIBase) == [10, 5, 0] and list(rep.ThreatROIExtents) == [20, 15, 1]
    assert rep.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == image.SOPInstanceUID
    assert assessment["ATDAssessmentProbability"].VR == "FL"
    assert assessment.ATDAssessmentProbability == pytest.approx(0.73)
    assert (assessment.ThreatCategory, assessment.ATDAssessmentFlag) == ("ANOMALY", "THREAT")
    assert back.ThreatSequence[1].ATDAssessmentSequence[0].ATDAssessmentProbability == 1.0
    assert "ATDAssessmentProbability" not in back.ThreatSequence[2].ATDAssessmentSequence[0]

    summary = read_dicos(path)
    assert summary.is_tdr and summary.tdr_type == "MACHINE" and summary.alarm is True
    assert summary.referenced_uid == image.SOPInstanceUID and summary.referenced_class_uid == DICOS_DX_PRESENTATION
    assert [t.polygon for t in summary.threats] == [tuple(t.polygon) for t in machine_threats()]
    assert [t.probability for t in summary.threats] == [pytest.approx(0.73), 1.0, None]
    assert [t.category for t in summary.threats] == ["ANOMALY", "ANOMALY", "CONTRABAND"]
    assert summary.algorithm == "cargo_xray 1.5.0" and summary.note == "score 0.99"
    assert summary.to_dict()["threats"][0]["polygon"] == [[10, 5], [30, 5], [30, 20], [10, 20]]


@pytest.mark.parametrize(("alarm", "decision", "flag"), [(True, "ALARM", "THREAT"), (False, "NO_ALARM", None),
                                                          (None, "UNKNOWN", None)])
def test_operator_tdr(alarm: bool | None, decision: str, flag: str | None) -> None:
    image = dx_from(scan16())
    threats = machine_threats()[:1] if alarm else []
    back = reread(build_tdr(image, threats, "OPERATOR", operator="王小明", alarm=alarm, decided_at=WHEN,
                            note="recheck: suspicious; 箱内 density \\ shape"))
    assert back.TDRType == "OPERATOR" and back.AlarmDecision == decision and str(back.OperatorsName) == "王小明"
    assert "ThreatDetectionAlgorithmAndVersion" not in back and len(back.ThreatSequence) == len(threats)
    if flag:
        assert back.ThreatSequence[0].ATDAssessmentSequence[0].ATDAssessmentFlag == flag
    summary = read_dicos(dicos_bytes(back))
    assert summary.alarm is alarm and summary.operator == "王小明" and summary.note.endswith("density \\ shape")


def test_build_tdr_refuses_what_would_be_wrong() -> None:
    image = dx_from(scan16(h=60, w=90))
    with pytest.raises(ValueError, match="outside the 90 x 60 image"):
        build_tdr(image, [Threat.from_box(80, 10, 20, 5, 0.5)], "MACHINE", algorithm="m", alarm=True,
                  decided_at=WHEN)
    with pytest.raises(ValueError, match="names its operator"):
        build_tdr(image, [], "OPERATOR", alarm=False, decided_at=WHEN)
    with pytest.raises(ValueError, match="names its algorithm"):
        build_tdr(image, [], "MACHINE", alarm=False, decided_at=WHEN)
    with pytest.raises(ValueError, match="UTC offset"):
        build_tdr(image, [], "MACHINE", algorithm="m", alarm=False, decided_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="neither MACHINE nor OPERATOR"):
        build_tdr(image, [], "GROUND_TRUTH", algorithm="m", alarm=False, decided_at=WHEN)  # type: ignore[arg-type]
    tdr = build_tdr(image, [], "MACHINE", algorithm="m", alarm=False, decided_at=WHEN)
    with pytest.raises(ValueError, match="SOP class 1.2.840.10008.5.1.4.1.1.501.3 is not one"):
        build_tdr(tdr, [], "MACHINE", algorithm="m", alarm=False, decided_at=WHEN)
    with pytest.raises(ValueError, match="at least 3 points"):
        Threat([(0, 0), (1, 1)], 0.5)
    with pytest.raises(ValueError, match="not within 0..1"):
        Threat([(0, 0), (1, 0), (1, 1)], 1.5)
    with pytest.raises(ValueError, match="code string"):
        Threat([(0, 0), (1, 0), (1, 1)], 0.5, "anomaly")
    with pytest.raises(ValueError, match="not a number"):
        Threat.from_box(0, 0, 1, 1, float("nan"))


def test_read_dicos_refusals(tmp_path: Path) -> None:
    image = dx_from(scan16())
    data = dicos_bytes(image)
    with pytest.raises(ScanRefused, match="no DICM") as info:
        read_dicos(encoded(scan16(), ".png"))
    assert info.value.reason == "wrong_magic"
    with pytest.raises(ScanRefused, match="truncated") as info:
        read_dicos(data[:-500])
    assert info.value.reason == "truncated"
    with pytest.raises(ScanRefused, match="cannot read") as info:
        read_dicos(tmp_path / "gone.dcm")
    assert info.value.reason == "missing"
    image.SOPClassUID = image.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    with pytest.raises(ScanRefused, match="is not a DICOS image or TDR") as info:
        read_dicos(dicos_bytes(image))
    assert info.value.reason == "sop_class"
    tdr = build_tdr(dx_from(scan16()), machine_threats(), "MACHINE", algorithm="m", alarm=True, decided_at=WHEN)
    tdr.AlarmDecision = "MAYBE"
    with pytest.raises(ScanRefused, match="AlarmDecision 'MAYBE'"):
        read_dicos(dicos_bytes(tdr))
    tdr.AlarmDecision = "ALARM"
    tdr.ThreatSequence[0].PTORepresentationSequence[0].BoundingPolygon = [1.0, 2.0, 0.0, 3.0]
    with pytest.raises(ScanRefused, match="BoundingPolygon holds 4 values"):
        read_dicos(dicos_bytes(tdr))


def test_scanner_dx_for_processing_reads_too(tmp_path: Path) -> None:
    """The scanner's own DICOS (DX for processing, dual energy) summarised by the same reader."""
    ds = build_dicos_dx([scan16(seed=1), scan16(seed=2)], scan_id="s1", scan_time=WHEN, device="sc1")
    summary = read_dicos(dicos_bytes(ds))
    assert summary.sop_class_uid == DICOS_DX_PROCESSING and summary.frames == 2 and summary.bits == 16
    assert summary.sop_class == "DICOS Digital X-Ray Image Storage - For Processing"
    assert reread(ds).PresentationIntentType == "FOR PROCESSING"
