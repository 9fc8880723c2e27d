"""Measure `kouan model fit` on real photographed surfaces our generators never made.

For each scikit-image photograph (brick, grass, gravel: 512x512 grey) and each seed:
50 clean 128x128 training crops from the top half -> fit (the library call behind
`kouan model fit`) -> score 40 clean and 40 defective crops from the bottom half with the
inference core (8 of each defect kind in edge.fitting.defects, or with `--defects independent`
5 of each of models/independent/surface_defects.py's, written blind). Prints image AUROC overall
and per defect kind, the share of clean / defective crops flagged at the card's threshold,
and the fit time. Needs scikit-image (`pip install -e .[dev]`).

Run: `python models/backbone/evaluate_fit.py [--seeds 5] [--surfaces brick grass gravel]
[--backbone filterbank] [--backbone-dir DIR] [--method knn] [--calibrate N] [--json runs.jsonl]`;
`--json` appends one line per fit (every score, the out-of-fold figures), for choosing a threshold
rule without refitting.
The selection surfaces (moon, cell, hubble_deep_field, immunohistochemistry; colour made grey)
are for choosing settings, so that brick, grass and gravel stay an evaluation only.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from skimage import data as skimage_data

from edge.fitting import FitOptions, fit_model
from edge.fitting.calibrate import calibrate_model
from edge.fitting.defects import DEFECTS, add_defect
from edge.inference.core import Detector

CROP = 128


def auroc(normal: np.ndarray, anomalous: np.ndarray) -> float:
    """Probability that an anomalous image outscores a normal one (ties count half)."""
    greater = (anomalous[:, None] > normal[None, :]).mean()
    ties = (anomalous[:, None] == normal[None, :]).mean()
    return float(greater + 0.5 * ties)


def crops(image: np.ndarray, rows: tuple[int, int], n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`n` random CROP x CROP crops whose rows lie inside `rows` (start, end)."""
    ys = rng.integers(rows[0], rows[1] - CROP + 1, n)
    xs = rng.integers(0, image.shape[1] - CROP + 1, n)
    return [image[y:y + CROP, x:x + CROP].copy() for y, x in zip(ys, xs, strict=True)]


def grey_surface(name: str) -> np.ndarray:
    """A scikit-image photograph as grey uint8 (colour ones converted)."""
    image = getattr(skimage_data, name)()
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image


def surface_defects() -> Any:
    """The blind-written defects (models/independent/surface_defects.py): evaluation only."""
    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:  # run as a script: only models/backbone is on the path
        sys.path.insert(0, root)
    from models.independent import surface_defects as module

    return module


def kinds_of(defects: str) -> tuple[str, ...]:
    return tuple(surface_defects().KINDS) if defects == "independent" else tuple(DEFECTS)


def evaluate(surface_name: str, seed: int, method: str, bank: int = 1024, backbone: str = "filterbank",
             defects: str = "own", calibrate: int = 0, **options: object) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    surface = grey_surface(surface_name)
    foreign = (skimage_data.gravel() if surface_name != "gravel" else skimage_data.grass()).astype(np.float32) / 255
    half = surface.shape[0] // 2
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "normal").mkdir()
        (root / "unseen").mkdir()
        for i, crop in enumerate(crops(surface, (0, half), 50, rng)):  # the first `calibrate` are not fitted
            cv2.imwrite(str(root / ("unseen" if i < calibrate else "normal") / f"{i:03d}.png"), crop)
        opts = FitOptions(method=method, seed=seed, bank_size=bank, backbone=backbone,  # type: ignore[arg-type]
                          **options)  # type: ignore[arg-type]
        result = fit_model(root / "normal", root / "model", opts, write=lambda line: None)
        if calibrate:  # the fit's threshold re-picked on clean crops it never saw (`kouan model calibrate`)
            calibrate_model(root / "model", root / "unseen", root / "model", min_images=calibrate)
        detector = Detector.load(root / "model")
        clean = np.array([detector.infer(c).score for c in crops(surface, (half, surface.shape[0]), 40, rng)])
        kinds = np.array([list(kinds_of(defects))[i % len(kinds_of(defects))] for i in range(40)])
        defective = []
        for i, (base, kind) in enumerate(zip(crops(surface, (half, surface.shape[0]), 40, rng), kinds, strict=True)):
            if defects == "independent":
                bad, _ = surface_defects().add_defect(base, str(kind), seed * 1000 + i)
            else:
                img, _ = add_defect(base.astype(np.float32)[..., None] / 255, str(kind), rng, foreign[..., None])
                bad = (np.clip(img[..., 0], 0, 1) * 255 + 0.5).astype(np.uint8)
            defective.append(detector.infer(bad).score)
        bad = np.array(defective)
        thr = detector.card.threshold
    return {
        "surface": surface_name, "seed": seed, "auroc": auroc(clean, bad),
        "per_kind": {k: round(auroc(clean, bad[kinds == k]), 2) for k in kinds_of(defects)}, "defects": defects,
        "flagged_clean": float(np.mean(clean >= thr)), "flagged_defective": float(np.mean(bad >= thr)),
        "fit_s": result.seconds, "backbone": backbone, "method": method, "picked": result.method,
        "quality": result.quality, "threshold": thr, "oof": sorted(result.oof_scores.values()),
        "clean": clean.tolist(), "defective": bad.tolist(), "kinds": kinds.tolist(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--surfaces", nargs="+", default=["brick", "grass", "gravel"])
    parser.add_argument("--method", default="knn", choices=["knn", "gaussian", "padim", "patchcore", "auto"])
    parser.add_argument("--backbone", default="filterbank", choices=["filterbank", "lite0"])
    parser.add_argument("--backbone-dir", type=Path, default=None,
                        help="folder with a variant filter bank (make_backbone.py --out); default the shipped one")
    parser.add_argument("--bank", type=int, default=FitOptions.bank_size, help="k-NN memory bank size")
    parser.add_argument("--set", nargs="*", default=[], metavar="OPTION=VALUE",
                        help="other FitOptions fields, e.g. coreset_max=2048 neighbours=3 margin=2")
    parser.add_argument("--calibrate", type=int, default=0, metavar="N",
                        help="fit on 50 - N training crops and re-pick the threshold on the other N, which the fit "
                        "never saw (`kouan model calibrate`'s rule); 0: the fit's own threshold")
    parser.add_argument("--json", type=Path, help="append one JSON line per fit to this file")
    parser.add_argument("--defects", choices=["own", "independent"], default="own",
                        help="the test crops' defects: edge.fitting.defects (own, also the fit's probes) or "
                        "models/independent/surface_defects.py (written blind; evaluation only)")
    args = parser.parse_args()
    options: dict[str, object] = {k: float(v) if "." in v else int(v) for k, v in (o.split("=", 1) for o in args.set)}
    if args.backbone_dir is not None:
        options["backbone_dir"] = args.backbone_dir
    for name in args.surfaces:
        rows = []
        for seed in range(args.seeds):
            r = evaluate(name, seed, args.method, args.bank, args.backbone, args.defects, args.calibrate, **options)
            rows.append(r)
            if args.json:
                with args.json.open("a", encoding="utf-8") as f:
                    f.write(json.dumps({**r, "options": options, "calibrate": args.calibrate}, default=str) + "\n")
            print(f"{r['surface']:7s} seed {r['seed']}: AUROC {r['auroc']:.3f} {r['per_kind']} "
                  f"flagged clean {r['flagged_clean']:.2f} defective {r['flagged_defective']:.2f} "
                  f"fit {r['fit_s']:.1f}s picked {r['picked']} {r['quality']}", flush=True)
        aucs = np.array([r["auroc"] for r in rows])
        clean = np.mean([r["flagged_clean"] for r in rows])
        bad = np.mean([r["flagged_defective"] for r in rows])
        print(f"{name:7s} mean AUROC {aucs.mean():.3f} (min {aucs.min():.3f}, max {aucs.max():.3f}) over {len(rows)} seeds; "
              f"flagged clean {clean:.3f}, defective {bad:.3f}")


if __name__ == "__main__":
    main()
