"""`kouan model fit` on the independent generators, as a lane would fit its own normal: report only.

    python -m models.independent_fit [KIND ...] [--fit 50] [--normal 50 --anomalous 50]
                                     [--backbone filterbank|lite0] [--method auto|knn|gaussian|patchcore]

For each image kind with an independent generator (under_vehicle, empty_container): 50 clean
images from `models.independent` (seeds 400,000+, the device's native size, as in
`models.independent_models`) play a lane's own released passes; `edge.fitting.fit_model` (the
library call behind `kouan model fit`, default options unless given) fits on them; the fitted
model then scores `--normal` clean and `--anomalous` anomalous independent images of other seeds
(300,000+, the set the shipped models are scored on) through `Detector.infer`, as the lane would.
Prints one JSON line per kind: image AUROC, the share of clean (and anomalous) images flagged at
the fit's own threshold, fit seconds, the head `auto` picked.

Nothing here tunes anything: the fit's defaults are what `kouan model fit` ships with, and these
figures are never used to choose them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from edge.fitting import FitOptions, fit_model
from edge.inference.config import InferenceConfig
from edge.inference.core import Detector
from models import independent_models
from models.evaluate import auroc
from models.train.specs import SPECS

FIT_SEED0 = 400_000


def run(kind: str, n_fit: int, n_normal: int, n_anomalous: int, opts: FitOptions) -> dict[str, object]:
    """Fit on `n_fit` clean independent images of `kind`, score the evaluation set; the summary."""
    spec = SPECS[kind]
    with tempfile.TemporaryDirectory() as tmp:
        normal = Path(tmp) / "normal"
        normal.mkdir()
        for i in range(n_fit):
            image, _ = independent_models.render(spec, FIT_SEED0 - independent_models.SEED0 + i, False)
            cv2.imwrite(str(normal / f"{i:03d}.png"), image)
        started = time.perf_counter()
        lines: list[str] = []
        fitted = fit_model(normal, Path(tmp) / "model", opts, write=lines.append)
        fit_s = time.perf_counter() - started
        detector = Detector.load(fitted.folder, InferenceConfig(intra_op_threads=opts.threads))
        scores, labels, flagged = [], [], []
        for anomalous, n in ((False, n_normal), (True, n_anomalous)):
            for i in range(n):
                image, _ = independent_models.render(spec, i, anomalous)
                result = detector.infer(image)
                scores.append(result.score)
                labels.append(anomalous)
                flagged.append(result.flagged)
    s, lab, fl = np.array(scores), np.array(labels), np.array(flagged)
    return {
        "kind": kind, "backbone": opts.backbone, "method": fitted.method,
        "fit_images": n_fit, "n_normal": int((~lab).sum()), "n_anomalous": int(lab.sum()),
        "image_auroc": round(auroc(s, lab), 4),
        "clean_flagged": round(float(fl[~lab].mean()), 4),
        "anomalous_flagged": round(float(fl[lab].mean()), 4),
        "threshold": fitted.card.threshold, "fit_seconds": round(fit_s, 1),
        "data": independent_models.describe(spec, int((~lab).sum()), int(lab.sum())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kinds", nargs="*", default=sorted(independent_models.RENDERERS))
    parser.add_argument("--fit", type=int, default=50, help="clean independent images to fit on")
    parser.add_argument("--normal", type=int, default=50, help="clean evaluation images")
    parser.add_argument("--anomalous", type=int, default=50, help="anomalous evaluation images")
    parser.add_argument("--backbone", choices=["filterbank", "lite0"], default="filterbank")
    parser.add_argument("--method", choices=["auto", "knn", "gaussian", "patchcore", "padim"], default="auto")
    args = parser.parse_args(argv)
    for kind in args.kinds:
        if not independent_models.has_independent(kind):
            print(json.dumps({"kind": kind, "error": "no independent generator for this image kind"}))
            continue
        opts = FitOptions(backbone=args.backbone, method=args.method)  # type: ignore[arg-type]
        print(json.dumps(run(kind, args.fit, args.normal, args.anomalous, opts)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
