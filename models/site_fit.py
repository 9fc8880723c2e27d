"""`kouan model fit` as a lane would use it, on generated images: fit on clean ones, score others.

    python -m models.site_fit KIND [--fit 50] [--normal 40 --anomalous 40] [--backbone B] [--method M]
                                   [--margin M] [--finds K [--find-quantile Q]] [--seed0 S] [--json runs.jsonl]

KIND is under_vehicle or empty_container. The images come from the project's own training
generators (`models.generators`, via `models.train.specs`) at the device's native size: the fit
takes clean images of the validation seeds, the evaluation clean and anomalous images of the
held-out split. These are **selection** data: the place to choose fit settings such as the
threshold rule, so that the independent generators (`models.independent_fit`, which calls
`fit_and_score` here) stay an evaluation only. `--json` appends one line per fit with every
score (the written head's out-of-fold clean and probed scores, the evaluation scores), for
choosing a rule without refitting.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np

from edge.fitting import FitOptions, fit_model
from edge.fitting.calibrate import calibrate_model
from edge.fitting.threshold import spread_threshold
from edge.inference.config import InferenceConfig
from edge.inference.core import Detector
from edge.normal.find_threshold import FindThreshold, lower_to_finds
from models.evaluate import auroc
from models.generators.common import seed_for
from models.train.specs import SPECS

Image = np.ndarray
CALIBRATE_QUANTILE = 0.98  # `kouan model calibrate`'s default


def _write(images: Iterable[Image], folder: Path) -> int:
    """The images as PNG files, as a lane's store would hand them over; how many."""
    folder.mkdir()
    n = 0
    for n, image in enumerate(images, 1):
        cv2.imwrite(str(folder / f"{n:03d}.png"), image)
    return n


def _score(folder: Path, evaluation: Iterable[tuple[Image, bool]], threads: int) -> dict[str, object]:
    """Each (image, anomalous) through `Detector.infer` with the model in `folder`: the figures, every score."""
    detector = Detector.load(folder, InferenceConfig(intra_op_threads=threads))
    scores, labels, flagged = [], [], []
    for image, anomalous in evaluation:
        result = detector.infer(image)
        scores.append(float(result.score))
        labels.append(anomalous)
        flagged.append(bool(result.flagged))
    s, lab, fl = np.array(scores), np.array(labels), np.array(flagged)
    return {
        "n_normal": int((~lab).sum()), "n_anomalous": int(lab.sum()), "image_auroc": round(auroc(s, lab), 4),
        "clean_flagged": round(float(fl[~lab].mean()), 4), "anomalous_flagged": round(float(fl[lab].mean()), 4),
        "threshold": detector.card.threshold,
        "scores": {"normal": s[~lab].round(6).tolist(), "anomalous": s[lab].round(6).tolist()},
    }


def fit_and_score(fit_images: Iterable[Image], evaluation: Iterable[tuple[Image, bool]],
                  opts: FitOptions, finds: Iterable[Image] | None = None, find_quantile: float = 0.2,
                  min_find_auroc: float = 0.9) -> dict[str, object]:
    """Fit on `fit_images`, score each (image, anomalous) of `evaluation` as the lane would; the
    figures, and every score with the written head's out-of-fold clean and probed ones. With
    `finds` (confirmed anomalous images of the site, none of them in `evaluation`), the fitted
    threshold is first lowered to catch them as a lane's refit does (`edge.normal.find_threshold`);
    the figures at the fit's own threshold go under `at_rule`."""
    lowered = None
    with tempfile.TemporaryDirectory() as tmp:
        n_fit = _write(fit_images, Path(tmp) / "normal")
        started = time.perf_counter()
        fitted = fit_model(Path(tmp) / "normal", Path(tmp) / "model", opts, write=lambda line: None)
        fit_s = time.perf_counter() - started
        if finds is not None:
            lowered = lower_to_finds(fitted.folder, finds, list(fitted.oof_scores.values()),
                                     fitted.thresholds.quantile_value, find_quantile, min_find_auroc, opts.threads)
        res = _score(fitted.folder, evaluation, opts.threads)
    _add_finds(res, lowered)
    folds = fitted.folds
    res["scores"].update(  # type: ignore[union-attr]
        oof_clean=[] if folds is None else folds.clean.round(6).tolist(),
        oof_probed=[] if folds is None else folds.probed.round(6).tolist())
    return {"backbone": opts.backbone, "method": fitted.method, "fit_images": n_fit, **res,
            "fit_seconds": round(fit_s, 1), "probe_auroc": {m: round(q, 4) for m, q in fitted.quality.items()}}


def _add_finds(res: dict[str, object], lowered: FindThreshold | None) -> None:
    """What the finds did, and the figures at the threshold before them (`at_rule`)."""
    if lowered is None:
        return
    scores = res["scores"]
    res["finds"] = lowered.as_dict()
    res["at_rule"] = {f"{name}_flagged": round(float(np.mean(np.array(scores[name]) >= lowered.rule)), 4)  # type: ignore[index]
                      for name in ("normal", "anomalous")}


def calibrate_and_score(model: str | Path, site_images: Iterable[Image], evaluation: Iterable[tuple[Image, bool]],
                        threads: int = 2, finds: Iterable[Image] | None = None, find_quantile: float = 0.2,
                        min_find_auroc: float = 0.9) -> dict[str, object]:
    """`kouan model calibrate` (its defaults) of a shipped model on `site_images`, then the lane's
    figures on `evaluation` at the calibrated threshold; with `finds`, that threshold first lowered
    to catch them as a lane's refit with refit = "calibrate" does."""
    lowered = None
    with tempfile.TemporaryDirectory() as tmp:
        n_site = _write(site_images, Path(tmp) / "normal")
        calibration = calibrate_model(model, Path(tmp) / "normal", Path(tmp) / "model", CALIBRATE_QUANTILE,
                                      threads=threads)
        if finds is not None:
            q = spread_threshold(np.asarray(calibration.scores, np.float64), CALIBRATE_QUANTILE, 0.0)[2]
            lowered = lower_to_finds(Path(tmp) / "model", finds, calibration.scores, q, find_quantile,
                                     min_find_auroc, threads)
        res = _score(Path(tmp) / "model", evaluation, threads)
    _add_finds(res, lowered)
    return {"model": str(model), "calibrated_on": n_site, "card_threshold": calibration.old_threshold, **res}


def report(res: dict[str, object], json_path: Path | None) -> None:
    """One JSON line on stdout without the scores; the whole result appended to `json_path` if given."""
    if json_path is not None:
        with json_path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(res) + "\n")
    print(json.dumps({k: v for k, v in res.items() if k != "scores"}), flush=True)


def own_generator(kind: str, n_fit: int, n_normal: int, n_anomalous: int, seed0: int, n_finds: int = 0
                  ) -> tuple[Iterable[Image], Iterable[tuple[Image, bool]], Iterable[Image] | None]:
    """Fit images (validation seeds), evaluation images (held-out seeds) and, with `n_finds`, a
    lane's confirmed finds (anomalous images of validation seeds the fit does not use) from the
    training generator."""
    spec = SPECS[kind]
    make: Callable[..., tuple[Image, Image]] = spec.generator()

    def one(split: str, index: int, anomalous: bool) -> Image:
        seed = seed_for(split, seed0 + index)
        image, _ = make(seed, split, anomalous, *spec.native_size_for(seed))
        return image

    fit = (one("validation", i, False) for i in range(n_fit))
    evaluation = ((one("heldout", i, i >= n_normal), i >= n_normal) for i in range(n_normal + n_anomalous))
    finds = (one("validation", n_fit + i, True) for i in range(n_finds)) if n_finds else None
    return fit, evaluation, finds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["under_vehicle", "empty_container"])
    parser.add_argument("--fit", type=int, default=50, help="clean images to fit on")
    parser.add_argument("--normal", type=int, default=40, help="clean evaluation images")
    parser.add_argument("--anomalous", type=int, default=40, help="anomalous evaluation images")
    parser.add_argument("--seed0", type=int, default=90_000, help="first index into each split's seeds")
    parser.add_argument("--backbone", choices=["filterbank", "lite0"], default="filterbank")
    parser.add_argument("--method", choices=["auto", "knn", "gaussian", "patchcore", "padim"], default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--margin", type=float, default=FitOptions.margin,
                        help="threshold margin (`kouan model fit`'s default; a lane's [normal] refit uses 1.0)")
    parser.add_argument("--finds", type=int, default=0, help="confirmed finds that may lower the threshold, as a "
                        "lane's refit does (anomalous images of validation seeds the fit does not use)")
    parser.add_argument("--find-quantile", type=float, default=0.2, help="as [normal] find_quantile")
    parser.add_argument("--json", type=Path, help="append the full result (every score) to this JSON-lines file")
    args = parser.parse_args(argv)
    opts = FitOptions(backbone=args.backbone, method=args.method, threads=args.threads,  # type: ignore[arg-type]
                      margin=args.margin)
    fit, evaluation, finds = own_generator(args.kind, args.fit, args.normal, args.anomalous, args.seed0, args.finds)
    report({"kind": args.kind, "source": "own generator", "seed0": args.seed0,
            **fit_and_score(fit, evaluation, opts, finds, args.find_quantile)}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
