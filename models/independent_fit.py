"""`kouan model fit` on the independent generators, as a lane would fit its own normal: report only.

    python -m models.independent_fit [KIND ...] [--fit 50] [--normal 50 --anomalous 50]
                                     [--backbone filterbank|lite0] [--method auto|knn|gaussian|patchcore]
                                     [--margin M] [--finds K [--find-quantile Q]] [--calibrate]
                                     [--json runs.jsonl]

For each image kind with an independent generator (under_vehicle, empty_container, cargo_xray): 50 clean
images from `models.independent` (seeds 400,000+, the device's native size, as in
`models.independent_models`) play a lane's own released passes; `edge.fitting.fit_model` (the
library call behind `kouan model fit`, default options unless given) fits on them; the fitted
model then scores `--normal` clean and `--anomalous` anomalous independent images of other seeds
(300,000+, the set the shipped models are scored on) through `Detector.infer`, as the lane would.
Prints one JSON line per kind: image AUROC, the share of clean (and anomalous) images flagged at
the fit's own threshold, fit seconds, the head `auto` picked (`--json` keeps every score too).
The fit settings are chosen on the project's own generators (`models.site_fit`), never here.
`--calibrate` plays the other thing a lane can do with its clean passes: keep the shipped model
and re-pick its threshold on them (`kouan model calibrate`, its defaults). `--finds K` plays a
lane's confirmed finds: K anomalous independent images of seeds 500,000+ (none in the evaluation
set) lower the fitted (or calibrated) threshold as a lane's refit does (`edge.normal.find_threshold`).

Nothing here tunes anything: the fit's defaults are what `kouan model fit` ships with, and these
figures are never used to choose them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.fitting import FitOptions
from models import independent_models
from models.site_fit import calibrate_and_score, fit_and_score, report
from models.train.specs import SPECS

FIT_SEED0 = 400_000
FINDS_SEED0 = 500_000


def run(kind: str, n_fit: int, n_normal: int, n_anomalous: int, opts: FitOptions,
        calibrate: bool = False, n_finds: int = 0, find_quantile: float = 0.2) -> dict[str, object]:
    """Fit on `n_fit` clean independent images of `kind` (or, with `calibrate`, re-pick the shipped
    model's threshold on them), score the evaluation set; the summary."""
    spec = SPECS[kind]
    site = (independent_models.render(spec, FIT_SEED0 - independent_models.SEED0 + i, False)[0] for i in range(n_fit))
    evaluation = ((independent_models.render(spec, i, anomalous)[0], anomalous)
                  for anomalous, n in ((False, n_normal), (True, n_anomalous)) for i in range(n))
    finds = (independent_models.render(spec, FINDS_SEED0 - independent_models.SEED0 + i, True)[0]
             for i in range(n_finds)) if n_finds else None
    if calibrate:
        res = calibrate_and_score(kind, site, evaluation, opts.threads, finds, find_quantile)
    else:
        res = fit_and_score(site, evaluation, opts, finds, find_quantile)
    return {"kind": kind, **res, "data": independent_models.describe(spec, n_normal, n_anomalous)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kinds", nargs="*", default=sorted(independent_models.RENDERERS))
    parser.add_argument("--fit", type=int, default=50, help="clean independent images to fit on")
    parser.add_argument("--normal", type=int, default=50, help="clean evaluation images")
    parser.add_argument("--anomalous", type=int, default=50, help="anomalous evaluation images")
    parser.add_argument("--backbone", choices=["filterbank", "lite0"], default="filterbank")
    parser.add_argument("--method", choices=["auto", "knn", "gaussian", "patchcore", "padim"], default="auto")
    parser.add_argument("--margin", type=float, default=FitOptions.margin,
                        help="threshold margin (`kouan model fit`'s default; a lane's [normal] refit uses 1.0)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calibrate", action="store_true",
                        help="instead of fitting: `kouan model calibrate` the shipped model on the clean images")
    parser.add_argument("--finds", type=int, default=0, help="confirmed finds that may lower the threshold, as a "
                        "lane's refit does (anomalous independent images, seeds 500,000+)")
    parser.add_argument("--find-quantile", type=float, default=0.2, help="as [normal] find_quantile")
    parser.add_argument("--json", type=Path, help="append the full result (every score) to this JSON-lines file")
    args = parser.parse_args(argv)
    for kind in args.kinds:
        if not independent_models.has_independent(kind):
            print(json.dumps({"kind": kind, "error": "no independent generator for this image kind"}))
            continue
        opts = FitOptions(backbone=args.backbone, method=args.method, threads=args.threads,  # type: ignore[arg-type]
                          margin=args.margin)
        report(run(kind, args.fit, args.normal, args.anomalous, opts, args.calibrate, args.finds, args.find_quantile),
               args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
