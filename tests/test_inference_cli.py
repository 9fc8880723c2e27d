"""`kouan infer` through a real subprocess: JSON lines, error lines for bad images, heatmaps, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.inference.card import MODEL_FILE
from edge.inference.synthetic import identity_map_graph, write_model


def _kouan(*args: str, env_models: Path | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ)
    if env_models is not None:
        env["KOUAN_MODELS_DIR"] = str(env_models)
    return subprocess.run([sys.executable, "-m", "edge.cli", "--log-level", "WARNING", "infer", *args],
                          capture_output=True, text=True, timeout=60, env=env, check=False)


@pytest.fixture
def models(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    write_model(root / "probe", identity_map_graph(1, (32, 32)), "probe", min_region_area=4)
    return root


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "images"
    folder.mkdir()
    flagged = np.full((60, 90), 10, dtype=np.uint8)
    flagged[20:30, 40:55] = 255
    clean = np.full((50, 50, 3), 40, dtype=np.uint8)
    scan16 = np.full((40, 70), 1000, dtype=np.uint16)
    scan16[5:15, 50:60] = 60000
    paths = [folder / "flagged.png", folder / "corrupt.png", folder / "clean.jpg", folder / "scan16.tiff",
             folder / "missing.png"]
    cv2.imwrite(str(paths[0]), flagged)
    paths[1].write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x13" * 64)
    cv2.imwrite(str(paths[2]), clean)
    cv2.imwrite(str(paths[3]), scan16)
    return paths


def test_json_lines_errors_and_heatmaps(models: Path, images: list[Path], tmp_path: Path) -> None:
    heatmaps = tmp_path / "heat"
    proc = _kouan("--model", "probe", "--models-dir", str(models), "--heatmap", str(heatmaps),
                  "--threads", "1", *map(str, images))
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 1, proc.stderr
    assert [line["image"] for line in lines] == [str(p) for p in images]
    flagged, corrupt, clean, scan16, missing = lines
    assert flagged["flagged"] is True and flagged["model"] == "probe" and flagged["ms"] > 0
    assert [r["box"] for r in flagged["regions"]] == [[40, 20, 15, 10]]
    assert "not a decodable image" in corrupt["error"] and "score" not in corrupt
    assert clean["flagged"] is False and clean["regions"] == []
    assert scan16["flagged"] is True and [r["box"] for r in scan16["regions"]] == [[50, 5, 10, 10]]
    assert "cannot read" in missing["error"]
    for line in (flagged, clean, scan16):
        picture = cv2.imread(line["heatmap"], cv2.IMREAD_UNCHANGED)
        assert picture is not None and picture.ndim == 3 and picture.dtype == np.uint8
    marked = cv2.imread(flagged["heatmap"])
    assert tuple(marked[20, 40]) == (0, 0, 255), "region box drawn in red at its top-left corner"
    assert not (heatmaps / "corrupt.heatmap.png").exists()


def test_all_good_images_exit_zero_with_env_models_dir(models: Path, images: list[Path]) -> None:
    proc = _kouan("--model", "probe", str(images[0]), str(images[2]), env_models=models)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 2


def test_tampered_model_is_refused(models: Path, images: list[Path]) -> None:
    path = models / "probe" / MODEL_FILE
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    proc = _kouan("--model", str(models / "probe"), str(images[0]))
    assert proc.returncode == 2
    assert "SHA-256 mismatch" in proc.stderr and "SHA-256 mismatch" in json.loads(proc.stdout)["error"]


def test_unsupported_pixel_type_gives_error_line(models: Path, images: list[Path], tmp_path: Path) -> None:
    float_tiff = tmp_path / "float.tiff"
    assert cv2.imwrite(str(float_tiff), np.full((20, 20), 0.5, dtype=np.float32))
    proc = _kouan("--model", "probe", "--models-dir", str(models), str(float_tiff), str(images[0]))
    first, second = (json.loads(line) for line in proc.stdout.splitlines())
    assert proc.returncode == 1
    assert "float32" in first["error"]
    assert second["flagged"] is True
