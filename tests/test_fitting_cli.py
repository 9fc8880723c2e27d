"""`kouan model fit` as an operator runs it: a subprocess, progress on stderr, a model folder the core loads.

Also the bad inputs: an unreadable image is named and skipped, an empty or too small folder is
a clear error, and a model changed after fitting is refused by `kouan model verify`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

skimage_data = pytest.importorskip("skimage.data")

from edge.inference.card import load_card, sha256_file
from edge.inference.core import Detector

SIDE = 64


def kouan(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real `kouan` entry point in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def grid_tiles(image: np.ndarray, rows: tuple[int, int]) -> list[np.ndarray]:
    """Non-overlapping SIDE x SIDE tiles of `image` between `rows` (no pixel shared between tiles)."""
    return [image[y:y + SIDE, x:x + SIDE].copy()
            for y in range(rows[0], rows[1] - SIDE + 1, SIDE)
            for x in range(0, image.shape[1] - SIDE + 1, SIDE)]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str], list[np.ndarray]]:
    """Fit once on 32 gravel tiles from the top half plus one corrupt file; held-out tiles from the bottom half."""
    root = tmp_path_factory.mktemp("fit_cli")
    surface = skimage_data.gravel()
    normal = root / "normal"
    normal.mkdir()
    for i, tile in enumerate(grid_tiles(surface, (0, 256))):
        cv2.imwrite(str(normal / f"frame_{i:03d}.png"), tile)
    (normal / "frame_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (normal / "notes.txt").write_text("not an image, not counted\n")
    proc = kouan("model", "fit", "--normal", str(normal), "--out", str(root / "model"), "--name", "gravel_site")
    return root / "model", proc, grid_tiles(surface, (256, 512))


def test_fit_reports_progress_and_summary(fitted: tuple[Path, subprocess.CompletedProcess[str], list[np.ndarray]]) -> None:
    _, proc, _ = fitted
    assert proc.returncode == 0, proc.stderr
    assert "[features] 1/32 frame_000.png" in proc.stderr
    assert "[features] 32/32" in proc.stderr
    assert "ETA" in proc.stderr
    for head in ("gaussian", "knn", "patchcore"):  # --method auto (the default) scores all three out of fold
        assert f"[folds {head}] 5/5" in proc.stderr
    assert "[pick] " in proc.stderr and "[threshold] image " in proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["normal_images"] == 32
    assert summary["name"] == "gravel_site"
    assert summary["method"] in summary["probe_auroc"] and len(summary["probe_auroc"]) == 3


def test_unreadable_image_is_named_and_skipped(fitted: tuple[Path, subprocess.CompletedProcess[str], list[np.ndarray]]) -> None:
    folder, proc, _ = fitted
    assert "skipped unreadable image frame_corrupt.png" in proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [Path(s["image"]).name for s in summary["skipped"]] == ["frame_corrupt.png"]
    assert "frame_corrupt.png" in load_card(folder).training_data


def test_output_folder_loads_in_the_core_with_matching_hash(
        fitted: tuple[Path, subprocess.CompletedProcess[str], list[np.ndarray]]) -> None:
    folder, _, _ = fitted
    card = load_card(folder)
    assert card.sha256 == sha256_file(folder / "model.onnx")
    assert card.task == "anomaly_map"
    assert (card.input.channels, card.input.bit_depth, card.input.height, card.input.width) == (1, 8, SIDE, SIDE)
    assert card.pixel_threshold is not None and card.pixel_threshold <= card.threshold
    detector = Detector.load(folder)
    result = detector.infer(np.full((300, 200), 128, np.uint8))  # larger than a tile: tiled by the core
    assert np.isfinite(result.score)
    verify = kouan("model", "verify", str(folder))
    assert verify.returncode == 0, verify.stderr
    assert json.loads(verify.stdout)["ok"] is True


def test_threshold_leaves_most_held_out_normal_images_unflagged(
        fitted: tuple[Path, subprocess.CompletedProcess[str], list[np.ndarray]]) -> None:
    folder, _, held_out = fitted
    detector = Detector.load(folder)
    flagged = [detector.infer(tile).flagged for tile in held_out]
    assert len(flagged) == 32
    assert np.mean(flagged) <= 0.2, f"{sum(flagged)} of {len(flagged)} held-out normal tiles flagged"


def test_model_changed_after_fit_is_refused(
        fitted: tuple[Path, subprocess.CompletedProcess[str], list[np.ndarray]], tmp_path: Path) -> None:
    folder, _, _ = fitted
    copy = tmp_path / "tampered"
    copy.mkdir()
    data = bytearray((folder / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / "model.onnx").write_bytes(bytes(data))
    (copy / "card.json").write_bytes((folder / "card.json").read_bytes())
    proc = kouan("model", "verify", str(copy))
    assert proc.returncode == 1
    assert "SHA-256 mismatch" in proc.stderr


def test_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    proc = kouan("model", "fit", "--normal", str(tmp_path / "empty"), "--out", str(tmp_path / "m"))
    assert proc.returncode == 2
    assert "no image files" in proc.stderr
    assert not (tmp_path / "m").exists()


def test_too_few_images_is_a_clear_error(tmp_path: Path) -> None:
    normal = tmp_path / "few"
    normal.mkdir()
    for i, tile in enumerate(grid_tiles(skimage_data.brick(), (0, 64))[:3]):
        cv2.imwrite(str(normal / f"{i}.png"), tile)
    (normal / "bad.jpg").write_bytes(b"garbage")
    proc = kouan("model", "fit", "--normal", str(normal), "--out", str(tmp_path / "m"))
    assert proc.returncode == 2
    assert "3 readable image(s), at least 10 are needed" in proc.stderr
    assert "bad.jpg" in proc.stderr


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    proc = kouan("model", "fit", "--normal", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m"))
    assert proc.returncode == 2
    assert "not a folder" in proc.stderr
