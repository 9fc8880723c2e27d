"""hub.dicos_export.export_zip: the DX, the machine TDR and one operator TDR per verdict, read back by pydicom."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime, timedelta, timezone
from typing import Any

import cv2
import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from contract.uplink import PassageUpload
from drivers.scanner.dicos import DICOS_DX_PRESENTATION, DICOS_DX_PROCESSING, DICOS_TDR, build_dicos_dx
from drivers.scanner.tdr import dicos_bytes
from hub.dicos_export import ExportRefused, export_zip

TZ = timezone(timedelta(hours=8))


def interior() -> np.ndarray:
    rng = np.random.default_rng(5)
    return rng.integers(0, 256, (60, 100), dtype=np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    assert ok
    return bytes(data)


def dicos_upload() -> bytes:
    planes = [np.random.default_rng(s).integers(0, 65536, (60, 100), dtype=np.uint16) for s in (1, 2)]
    return dicos_bytes(build_dicos_dx(planes, scan_id="scan-9", scan_time=datetime(2026, 11, 26, 7, tzinfo=TZ),
                                      device="sc1", containers=["CSQU3054383"]))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


REGIONS = [{"x": 10, "y": 5, "width": 20, "height": 15, "score": 0.8123},
           {"x": 50, "y": 30, "width": 40, "height": 30, "score": 3.5},  # clipped to 1
           {"x": 0, "y": 0, "width": 4, "height": 4, "score": None}]


def passage(images: list[tuple[bytes, str, list[dict[str, Any]], float | None]]) -> dict[str, Any]:
    doc = PassageUpload(
        lane="lane-3", passage_id=41, revision=2, state="flagged", plate="新A·12345", containers=["CSQU3054383"],
        arrived_at=datetime(2026, 11, 26, 15, 20, tzinfo=TZ), decided_at=datetime(2026, 11, 26, 15, 21, tzinfo=TZ),
        refer=True,
        images=[{"sha256": sha(data), "media_type": media, "size": len(data), "device_id": "box1", "kind": "empty_box",
                 "width": 100, "height": 60, "score": score, "regions": regions}
                for data, media, regions, score in images])
    return doc.model_dump(mode="json")


VERDICTS = [{"verdict": "clear", "note": "", "reviewer": "alice", "decided_at": "2026-11-26T07:30:00",
             "stage": "review"},
            {"verdict": "suspicious", "note": "箱底 dense block", "reviewer": "王主管",
             "decided_at": "2026-11-26T15:45:00+08:00", "stage": "recheck"}]


def unzip(data: bytes) -> tuple[dict[str, Dataset], dict[str, Any], dict[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        raw = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(raw.pop("manifest.json"))
    return {name: dcmread(io.BytesIO(body)) for name, body in raw.items()}, manifest, raw


def corners(r: dict[str, Any]) -> list[float]:
    x, y, w, h = r["x"], r["y"], r["width"], r["height"]
    return [x, y, 0, x + w, y, 0, x + w, y + h, 0, x, y + h, 0]


def test_png_export_with_two_verdicts() -> None:
    image = interior()
    data = png_bytes(image)
    doc = passage([(dicos_upload(), "application/dicom", [], 0.01), (data, "image/png", REGIONS, 0.97)])
    files, manifest, raw = unzip(export_zip(data, "image/png", doc, sha(data), VERDICTS))
    assert list(files) == ["image.dx.dcm", "machine.tdr.dcm", "operator-1-review.tdr.dcm",
                           "operator-2-recheck.tdr.dcm"]
    assert manifest["image_sha256"] == sha(data)
    assert [f["name"] for f in manifest["files"]] == list(files)
    assert all(f["sha256"] == sha(raw[f["name"]]) for f in manifest["files"])
    dx = files["image.dx.dcm"]
    assert dx.SOPClassUID == DICOS_DX_PRESENTATION and dx.BitsStored == 8 and dx.PatientID == "lane-3-41"
    assert np.array_equal(dx.pixel_array, image) and "plate 新A·12345" in dx.ImageComments
    assert dx.StationName == "box1" and dx.AcquisitionDateTime.startswith("20261126152000")
    for name, tdr in list(files.items())[1:]:
        assert tdr.SOPClassUID == DICOS_TDR and tdr.StudyInstanceUID == dx.StudyInstanceUID, name
        ref = tdr.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
        assert (ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID) == (dx.SOPClassUID, dx.SOPInstanceUID)
    machine = files["machine.tdr.dcm"]
    assert machine.TDRType == "MACHINE" and machine.AlarmDecision == "ALARM"
    assert machine.AlarmDecisionTime == "20261126152100.000000+0800"
    assert [list(t.PTORepresentationSequence[0].BoundingPolygon) for t in machine.ThreatSequence] == \
        [corners(r) for r in REGIONS]
    probabilities = [t.ATDAssessmentSequence[0].get("ATDAssessmentProbability") for t in machine.ThreatSequence]
    assert probabilities == [pytest.approx(0.8123), 1.0, None]
    clear, suspicious = files["operator-1-review.tdr.dcm"], files["operator-2-recheck.tdr.dcm"]
    assert (clear.TDRType, clear.AlarmDecision, str(clear.OperatorsName)) == ("OPERATOR", "NO_ALARM", "alice")
    assert len(clear.ThreatSequence) == 0 and clear.NumberOfTotalObjects == 0
    assert clear.AlarmDecisionTime == "20261126073000.000000+0000"  # no offset given: the hub's UTC
    assert (suspicious.AlarmDecision, str(suspicious.OperatorsName)) == ("ALARM", "王主管")
    assert suspicious.ImageComments == "recheck: suspicious; 箱底 dense block"
    assert [list(t.PTORepresentationSequence[0].BoundingPolygon) for t in suspicious.ThreatSequence] == \
        [corners(r) for r in REGIONS]
    assert [(f["kind"], f.get("alarm")) for f in manifest["files"]] == \
        [("image", None), ("MACHINE", True), ("OPERATOR", False), ("OPERATOR", True)]


def test_dicos_upload_is_the_dx_itself() -> None:
    data = dicos_upload()
    doc = passage([(data, "application/dicom", [], 0.004)])
    files, manifest, raw = unzip(export_zip(data, "application/dicom", doc, sha(data), []))
    assert list(files) == ["image.dx.dcm", "machine.tdr.dcm"] and raw["image.dx.dcm"] == data
    assert files["image.dx.dcm"].SOPClassUID == DICOS_DX_PROCESSING
    machine = files["machine.tdr.dcm"]
    assert machine.AlarmDecision == "NO_ALARM" and len(machine.ThreatSequence) == 0  # a model ran, found nothing
    ref = machine.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
    assert ref.ReferencedSOPInstanceUID == files["image.dx.dcm"].SOPInstanceUID
    assert manifest["files"][0]["sop_class_uid"] == DICOS_DX_PROCESSING


def test_no_model_is_unknown() -> None:
    data = png_bytes(interior())
    files, _, _ = unzip(export_zip(data, "image/png", passage([(data, "image/png", [], None)]), sha(data), []))
    assert files["machine.tdr.dcm"].AlarmDecision == "UNKNOWN"


def test_refusals() -> None:
    data = png_bytes(interior())
    doc = passage([(data, "image/png", REGIONS, 0.9)])
    with pytest.raises(ExportRefused, match="hash to"):
        export_zip(data + b"x", "image/png", doc, sha(data), [])
    with pytest.raises(ExportRefused, match="has no image"):
        export_zip(data, "image/png", passage([(dicos_upload(), "application/dicom", [], None)]), sha(data), [])
    with pytest.raises(ExportRefused, match="claimed image/tiff but starts like png"):
        export_zip(data, "image/tiff", doc, sha(data), [])
    with zipfile.ZipFile(io.BytesIO(export_zip(data, "image/png", doc, sha(data), []))) as archive:
        machine = archive.read("machine.tdr.dcm")
    with pytest.raises(ExportRefused, match="DICOS Threat Detection Report Storage, not a DX image"):
        export_zip(machine, "application/dicom", passage([(machine, "application/dicom", [], None)]), sha(machine), [])
    with pytest.raises(ExportRefused, match="verdict"):
        export_zip(data, "image/png", doc, sha(data), [{**VERDICTS[0], "verdict": "maybe"}])
    with pytest.raises(ExportRefused, match="reviewer"):
        export_zip(data, "image/png", doc, sha(data), [{k: v for k, v in VERDICTS[0].items() if k != "reviewer"}])
    outside = passage([(data, "image/png", [{"x": 90, "y": 0, "width": 20, "height": 5, "score": 0.5}], 0.9)])
    with pytest.raises(ExportRefused, match="outside the 100 x 60 image"):
        export_zip(data, "image/png", outside, sha(data), [])
    with pytest.raises(ExportRefused, match="lane"):
        export_zip(data, "image/png", {**doc, "lane": ""}, sha(data), [])
    broken = b"\x89PNG\r\n\x1a\n" + b"\x13" * 64
    with pytest.raises(ExportRefused, match="not a decodable image"):
        export_zip(broken, "image/png", passage([(broken, "image/png", [], None)]), sha(broken), [])
