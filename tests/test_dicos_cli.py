"""`kouan dicos write|read` on real `kouan infer` result lines from shipped models, and its bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydicom import dcmread

from drivers.scanner.dicos import DICOS_DX_PRESENTATION, DICOS_DX_PROCESSING, DICOS_TDR, write_dicos
from edge.cli import main
from models.generators import cargo_xray, empty_container


def kouan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", "--log-level", "WARNING", *args],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two 16-bit TIFFs scored by cargo_xray (one result file, two lines) and an 8-bit PNG by empty_container."""
    root = tmp_path_factory.mktemp("dicos_cli")
    cargo, _ = cargo_xray.generate(2, "test", anomalous=True, height=256)
    interior, _ = empty_container.generate(1, "test", anomalous=True, height=256)
    assert cargo.dtype == np.uint16 and interior.dtype == np.uint8
    paths = {"tiff": root / "cargo.tiff", "flat": root / "flat.tiff", "png": root / "interior.png"}
    cv2.imwrite(str(paths["tiff"]), cargo)
    cv2.imwrite(str(paths["flat"]), np.full((128, 300), 52000, np.uint16))
    cv2.imwrite(str(paths["png"]), interior)
    for model, images, out in (("cargo_xray", [paths["tiff"], paths["flat"]], "cargo.json"),
                               ("empty_container", [paths["png"]], "interior.json")):
        proc = kouan("infer", "--model", model, "--threads", "2", *map(str, images))
        assert proc.returncode == 0, proc.stderr
        (root / out).write_text(proc.stdout)
        paths[out] = root / out
    return paths


def result_line(findings: Path, image: Path) -> dict:
    return next(r for r in map(json.loads, findings.read_text().splitlines()) if Path(r["image"]) == image)


def box_corners(box: list[int]) -> tuple[tuple[float, float], ...]:
    x, y, w, h = box
    return ((x, y), (x + w, y), (x + w, y + h), (x, y + h))


def check_pair(dx_path: Path, tdr_path: Path, line: dict, pixels: np.ndarray, sop_class: str) -> None:
    dx, tdr = dcmread(dx_path), dcmread(tdr_path)
    assert dx.SOPClassUID == sop_class and tdr.SOPClassUID == DICOS_TDR
    assert np.array_equal(dx.pixel_array, pixels)
    assert tdr.TDRType == "MACHINE" and tdr.AlarmDecision == ("ALARM" if line["flagged"] else "NO_ALARM")
    assert tdr.ThreatDetectionAlgorithmAndVersion == f"{line['model']} {line['version']}"
    assert tdr.StudyInstanceUID == dx.StudyInstanceUID
    ref = tdr.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
    assert (ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID) == (dx.SOPClassUID, dx.SOPInstanceUID)
    items = tdr.ThreatSequence
    assert len(items) == len(line["regions"])
    for item, region in zip(items, line["regions"], strict=True):
        polygon = item.PTORepresentationSequence[0].BoundingPolygon
        assert tuple(zip(polygon[0::3], polygon[1::3], strict=True)) == box_corners(region["box"])
        assert set(polygon[2::3]) == {0.0}
        probability = item.ATDAssessmentSequence[0].ATDAssessmentProbability
        assert probability == pytest.approx(min(max(region["score"], 0.0), 1.0), abs=1e-6)


def test_write_16_bit_tiff_through_the_command(scans: dict[str, Path], tmp_path: Path) -> None:
    line = result_line(scans["cargo.json"], scans["tiff"])
    assert line["flagged"] and line["regions"], "cargo_xray found nothing on an anomalous scan"
    proc = kouan("dicos", "write", "--image", str(scans["tiff"]), "--findings", str(scans["cargo.json"]),
                 "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    dx_path, tdr_path = tmp_path / "out" / "cargo.dx.dcm", tmp_path / "out" / "cargo.tdr.dcm"
    assert proc.stdout.splitlines() == [str(dx_path), str(tdr_path)]
    check_pair(dx_path, tdr_path, line, cv2.imread(str(scans["tiff"]), cv2.IMREAD_UNCHANGED), DICOS_DX_PRESENTATION)
    assert dcmread(dx_path).BitsStored == 16


def test_unflagged_line_of_a_two_line_result(scans: dict[str, Path], tmp_path: Path) -> None:
    line = result_line(scans["cargo.json"], scans["flat"])
    assert not line["flagged"] and not line["regions"]
    assert main(["dicos", "write", "--image", str(scans["flat"]), "--findings", str(scans["cargo.json"]),
                 "--out", str(tmp_path)]) == 0
    check_pair(tmp_path / "flat.dx.dcm", tmp_path / "flat.tdr.dcm", line, np.full((128, 300), 52000, np.uint16),
               DICOS_DX_PRESENTATION)


def test_write_8_bit_png(scans: dict[str, Path], tmp_path: Path) -> None:
    line = result_line(scans["interior.json"], scans["png"])
    assert line["regions"]
    assert main(["dicos", "write", "--image", str(scans["png"]), "--findings", str(scans["interior.json"]),
                 "--out", str(tmp_path), "--name", "box7"]) == 0
    check_pair(tmp_path / "box7.dx.dcm", tmp_path / "box7.tdr.dcm", line,
               cv2.imread(str(scans["png"]), cv2.IMREAD_UNCHANGED), DICOS_DX_PRESENTATION)
    assert dcmread(tmp_path / "box7.dx.dcm").BitsAllocated == 8


def test_dicos_input_is_kept_as_it_is(scans: dict[str, Path], tmp_path: Path) -> None:
    pixels = cv2.imread(str(scans["tiff"]), cv2.IMREAD_UNCHANGED)
    source = tmp_path / "scan1.dcm"
    write_dicos(source, [pixels], scan_id="scan1", scan_time=datetime.now(timezone.utc), device="sc1")
    findings = tmp_path / "one.json"
    line = result_line(scans["cargo.json"], scans["tiff"])
    findings.write_text(json.dumps(line) + "\n")
    out = str(tmp_path / "o")
    assert main(["dicos", "write", "--image", str(source), "--findings", str(findings), "--out", out]) == 0
    assert (tmp_path / "o" / "scan1.dx.dcm").read_bytes() == source.read_bytes()
    check_pair(tmp_path / "o" / "scan1.dx.dcm", tmp_path / "o" / "scan1.tdr.dcm", line, pixels, DICOS_DX_PROCESSING)


def test_read_words_and_json(scans: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dicos", "write", "--image", str(scans["tiff"]), "--findings", str(scans["cargo.json"]),
                 "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    dx_path, tdr_path = tmp_path / "cargo.dx.dcm", tmp_path / "cargo.tdr.dcm"
    assert main(["dicos", "read", str(dx_path), str(tdr_path)]) == 0
    words = capsys.readouterr().out
    line = result_line(scans["cargo.json"], scans["tiff"])
    assert f"{line['width']} x {line['height']} pixels, 1 frame(s), 16 bits" in words
    assert f"MACHINE report by cargo_xray {line['version']}: ALARM" in words
    x, y, w, h = line["regions"][0]["box"]
    assert f"threat 1: ANOMALY, probability {min(line['regions'][0]['score'], 1.0):.4f}, polygon ({x}, {y}) " in words
    assert main(["dicos", "read", "--json", str(tdr_path)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["sop_class_uid"] == DICOS_TDR and record["alarm"] is True
    assert record["referenced_uid"] == dcmread(dx_path).SOPInstanceUID
    assert [t["polygon"] for t in record["threats"]] == [[list(p) for p in box_corners(r["box"])]
                                                         for r in line["regions"]]


def bad_write(capsys: pytest.CaptureFixture[str], out: Path, image: Path, findings: Path) -> str:
    code = main(["dicos", "write", "--image", str(image), "--findings", str(findings), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert not out.exists() or not list(out.iterdir()), "a refused write left files"
    return err


def test_bad_inputs(scans: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    line = result_line(scans["cargo.json"], scans["tiff"])
    missing = tmp_path / "missing.tiff"
    assert f"image {missing}: cannot read" in bad_write(capsys, out, missing, scans["cargo.json"])
    assert "findings" in bad_write(capsys, out, scans["tiff"], tmp_path / "none.json")
    no_flag = tmp_path / "no_flag.json"
    no_flag.write_text(json.dumps({k: v for k, v in line.items() if k != "flagged"}))
    assert f"findings {no_flag}: not a `kouan infer` result line: flagged: Field required" in \
        bad_write(capsys, out, scans["tiff"], no_flag)
    error_line = tmp_path / "error.json"
    error_line.write_text(json.dumps({"image": str(scans["tiff"]), "error": "not a decodable image"}))
    assert "is an error, not findings: not a decodable image" in bad_write(capsys, out, scans["tiff"], error_line)
    text = tmp_path / "notes.tiff"
    text.write_text("these are not pixels")
    one = tmp_path / "one.json"
    one.write_text(json.dumps(line))
    assert f"image {text}: not a decodable image" in bad_write(capsys, out, text, one)
    assert "the result is for a" in bad_write(capsys, out, scans["png"], one)  # findings of another image
    assert "no result lines for interior.png" in bad_write(capsys, out, scans["png"], scans["cargo.json"])
    tdr_dir = tmp_path / "made"
    assert main(["dicos", "write", "--image", str(scans["tiff"]), "--findings", str(one), "--out", str(tdr_dir)]) == 0
    capsys.readouterr()
    assert "is not a DICOS DX image" in bad_write(capsys, out, tdr_dir / "cargo.tdr.dcm", one)


def test_read_bad_file_named_and_others_still_read(scans: dict[str, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.dcm"
    write_dicos(good, [np.zeros((4, 5), np.uint16)], scan_id="s", scan_time=datetime.now(timezone.utc), device="d")
    assert main(["dicos", "read", "--json", str(scans["png"]), str(good), str(tmp_path / "gone.dcm")]) == 2
    captured = capsys.readouterr()
    records = [json.loads(x) for x in captured.out.splitlines()]
    assert [r["file"] for r in records] == [str(scans["png"]), str(good), str(tmp_path / "gone.dcm")]
    assert "no DICM" in records[0]["error"] and records[1]["columns"] == 5 and "cannot read" in records[2]["error"]
    assert f"kouan dicos: {scans['png']}: not a DICOM file" in captured.err
