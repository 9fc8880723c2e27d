"""`kouan model fit` on a real photographed surface that none of our generators made.

The surface is scikit-image's `brick` photograph (512x512 grey). 50 clean training crops
come from its top half only; the held-out clean and defective crops come from its bottom
half, so no evaluated pixel was seen while fitting. Defects are painted onto held-out crops:
foreign material, scratches, stains, tone changes, smudges (edge.fitting.defects). The fit
runs through the `kouan` CLI entry point; scoring runs through the inference core
(Detector), exactly as a site would use the model.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

skimage_data = pytest.importorskip("skimage.data")

from edge.cli import main
from edge.fitting.defects import DEFECTS, add_defect
from edge.inference.core import Detector
from models.backbone.evaluate_fit import auroc, crops

N_TRAIN = 50
N_TEST_CLEAN = 40
N_TEST_DEFECT = 40  # 8 of each of the 5 defect kinds


def write_normal_folder(folder: Path, surface: np.ndarray, n: int, rng: np.random.Generator) -> None:
    """Training crops from the top half of the photograph, as PNG files."""
    folder.mkdir(parents=True, exist_ok=True)
    half = surface.shape[0] // 2
    for i, crop in enumerate(crops(surface, (0, half), n, rng)):
        cv2.imwrite(str(folder / f"normal_{i:03d}.png"), crop)


def held_out_set(surface: np.ndarray, foreign: np.ndarray, rng: np.random.Generator
                 ) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Clean and defective uint8 crops from the bottom half, and the defect kind of each defective one."""
    half = surface.shape[0] // 2
    clean = crops(surface, (half, surface.shape[0]), N_TEST_CLEAN, rng)
    bases = crops(surface, (half, surface.shape[0]), N_TEST_DEFECT, rng)
    other = foreign.astype(np.float32)[..., None] / 255.0
    kinds = [list(DEFECTS)[i % len(DEFECTS)] for i in range(N_TEST_DEFECT)]
    defective = []
    for base, kind in zip(bases, kinds, strict=True):
        img, _ = add_defect(base.astype(np.float32)[..., None] / 255.0, kind, rng, other)
        defective.append((np.clip(img[..., 0], 0, 1) * 255 + 0.5).astype(np.uint8))
    return clean, defective, kinds


@pytest.mark.slow
def test_fit_on_unseen_brick_surface_reaches_auroc_090(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(20261126)
    surface = skimage_data.brick()
    write_normal_folder(tmp_path / "normal", surface, N_TRAIN, rng)

    rc = main(["model", "fit", "--normal", str(tmp_path / "normal"), "--out", str(tmp_path / "model")])
    assert rc == 0, capsys.readouterr().err

    detector = Detector.load(tmp_path / "model")
    clean, defective, kinds = held_out_set(surface, skimage_data.gravel(), rng)
    clean_scores = np.array([detector.infer(img).score for img in clean])
    defect_scores = np.array([detector.infer(img).score for img in defective])

    overall = auroc(clean_scores, defect_scores)
    per_kind = {k: round(auroc(clean_scores, defect_scores[np.array(kinds) == k]), 3) for k in DEFECTS}
    flagged_clean = float(np.mean(clean_scores >= detector.card.threshold))
    flagged_defect = float(np.mean(defect_scores >= detector.card.threshold))
    print(f"brick: image AUROC {overall:.3f}, per kind {per_kind}, flagged clean {flagged_clean:.2f}, "
          f"flagged defective {flagged_defect:.2f}")
    assert overall >= 0.90, per_kind
    # the training crops overlap each other (50 crops of one half-photo), so out-of-fold normal scores
    # are a little optimistic and the threshold a little low; over seeds 0-4, 0-30% of clean crops flagged
    assert flagged_clean <= 0.35
