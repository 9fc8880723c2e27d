"""Manage anomaly models: fit one on a site's own normal images, re-calibrate a shipped one's
threshold on them, list the installed ones, verify one.

`kouan model fit --normal DIR --out DIR` fits a model on clean images of this site (no labels,
no torch, no GPU): features from the shipped backbone, normal statistics, thresholds from
out-of-fold scores, written as one ONNX graph with its card. Progress goes to stderr; a JSON
summary goes to stdout. `kouan model calibrate NAME_OR_DIR --normal DIR --out DIR` keeps a
model's graph and picks its threshold from the site's own clean images. `kouan model list` prints the cards under the models folder;
`kouan model verify NAME_OR_DIR` checks hash, graph contract and a warm-up run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = ("fit a site model on normal images (fit), re-pick a model's threshold on them (calibrate), "
        "list models (list), check one (verify)")

EXIT_INPUT_ERROR = 2
EXIT_MODEL_ERROR = 1


def configure(parser: argparse.ArgumentParser) -> None:
    """Add `fit`, `calibrate`, `list` and `verify` under `kouan model`."""
    sub = parser.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    fit = sub.add_parser("fit", help="fit an anomaly model on a folder of normal (clean) images",
                         description=__doc__)
    fit.add_argument("--normal", type=Path, required=True, metavar="DIR", help="folder of normal images of this site")
    fit.add_argument("--out", type=Path, required=True, metavar="DIR", help="output model folder (model.onnx + card.json)")
    fit.add_argument("--method", choices=["knn", "gaussian", "padim"], default="knn",
                     help="knn (default): surfaces and textures, defects anywhere, views not aligned; "
                          "gaussian: one shared Gaussian (cheapest; as good on regular surfaces, weaker on irregular "
                          "textures); padim: aligned views, a Gaussian per feature-map position")
    fit.add_argument("--tile", type=int, default=256, help="tile side in pixels for knn/gaussian (default 256; "
                     "smaller if the images are smaller)")
    fit.add_argument("--size", type=int, default=256, help="padim: images are resized to this height (default 256)")
    fit.add_argument("--name", help="model name on the card (default site_<folder name>)")
    fit.add_argument("--version", default="1.0.0", help="model version on the card (default 1.0.0)")
    fit.add_argument("--folds", type=int, default=5, help="folds for out-of-fold threshold scores (default 5)")
    fit.add_argument("--quantile", type=float, default=0.99, help="quantile of out-of-fold normal scores (default 0.99)")
    fit.add_argument("--margin", type=float, default=1.0,
                     help="threshold = Q + margin x (Q - median) of normal scores (default 1.0)")
    fit.add_argument("--bank", type=int, default=256,
                     help="knn: normal patches kept in the memory bank (default 256; more = slower, rarely better)")
    fit.add_argument("--max-tiles", type=int, default=16, help="tiles sampled per large image (default 16)")
    fit.add_argument("--min-images", type=int, default=10, help="fewest readable normal images accepted (default 10)")
    fit.add_argument("--threads", type=int, default=2, help="onnxruntime threads (default 2)")
    fit.add_argument("--seed", type=int, default=0, help="random seed for tile sampling, folds, memory bank")
    cal = sub.add_parser("calibrate", help="re-pick a model's threshold on a folder of this site's normal images")
    cal.add_argument("model", metavar="NAME_OR_DIR", help="model name or folder")
    cal.add_argument("--normal", type=Path, required=True, metavar="DIR", help="folder of normal images of this site")
    cal.add_argument("--out", type=Path, required=True, metavar="DIR",
                     help="output model folder (the same model.onnx, a card with the site threshold)")
    cal.add_argument("--quantile", type=float, default=0.98, help="quantile of the normal scores (default 0.98)")
    cal.add_argument("--margin", type=float, default=0.25,
                     help="threshold = Q + margin x (Q - median) of the normal scores (default 0.25)")
    cal.add_argument("--name", help="model name on the new card (default NAME_site)")
    cal.add_argument("--min-images", type=int, default=20, help="fewest readable normal images accepted (default 20)")
    cal.add_argument("--models-dir", type=Path, metavar="DIR", help="models folder (default $KOUAN_MODELS_DIR or models/)")
    lst = sub.add_parser("list", help="list models under the models folder")
    lst.add_argument("--models-dir", type=Path, metavar="DIR", help="models folder (default $KOUAN_MODELS_DIR or models/)")
    ver = sub.add_parser("verify", help="check a model's hash, graph contract and a warm-up run")
    ver.add_argument("model", metavar="NAME_OR_DIR", help="model name or folder")
    ver.add_argument("--models-dir", type=Path, metavar="DIR", help="models folder (default $KOUAN_MODELS_DIR or models/)")


def _fit(args: argparse.Namespace) -> int:
    from edge.fitting import FitInputError, FitOptions, fit_model

    opts = FitOptions(method=args.method, tile=args.tile, size=args.size, name=args.name, version=args.version,
                      folds=args.folds, quantile=args.quantile, margin=args.margin,
                      max_tiles_per_image=args.max_tiles, bank_size=args.bank, min_images=args.min_images,
                      threads=args.threads,
                      seed=args.seed)
    try:
        result = fit_model(args.normal, args.out, opts)
    except FitInputError as exc:
        print(f"kouan model fit: error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    summary = {
        "model": str(result.folder), "name": result.card.name, "threshold": result.card.threshold,
        "pixel_threshold": result.card.pixel_threshold, "normal_images": result.card.metrics.n_normal,
        "skipped": [{"image": str(p), "error": why} for p, why in result.skipped],
        "seconds": round(result.seconds, 2), "sha256": result.card.sha256,
    }
    print(json.dumps(summary))
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from edge.fitting.calibrate import calibrate_model
    from edge.fitting.images import FitInputError
    from edge.inference.registry import ModelError

    try:
        result = calibrate_model(args.model, args.normal, args.out, args.quantile, args.margin, args.min_images,
                                 args.name, args.models_dir)
    except FitInputError as exc:
        print(f"kouan model calibrate: error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except ModelError as exc:
        print(f"kouan model calibrate: {exc}", file=sys.stderr)
        return EXIT_MODEL_ERROR
    print(json.dumps({
        "model": str(result.folder), "name": result.card.name, "threshold": result.card.threshold,
        "old_threshold": result.old_threshold, "normal_images": len(result.scores),
        "flagged_before": result.flagged_before,
        "flagged_after": sum(s >= result.card.threshold for s in result.scores),
        "skipped": [{"image": str(p), "error": why} for p, why in result.skipped],
        "seconds": round(result.seconds, 2),
    }))
    return 0


def _list(args: argparse.Namespace) -> int:
    from edge.inference.registry import ModelRegistry

    registry = ModelRegistry(args.models_dir)
    for card in registry.list():
        print(json.dumps({"name": card.name, "version": card.version, "task": card.task,
                          "threshold": card.threshold, "image_auroc": card.metrics.image_auroc}))
    return 0


def _verify(args: argparse.Namespace) -> int:
    from edge.inference.config import InferenceConfig
    from edge.inference.core import Detector
    from edge.inference.registry import ModelError

    try:
        detector = Detector.load(args.model, InferenceConfig(), models_dir=args.models_dir)
    except ModelError as exc:
        print(f"kouan model verify: {exc}", file=sys.stderr)
        return EXIT_MODEL_ERROR
    card = detector.card
    print(json.dumps({"model": card.name, "version": card.version, "folder": str(detector.folder),
                      "sha256": card.sha256, "ok": True}))
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch to fit, calibrate, list or verify; return the exit code."""
    action = {"fit": _fit, "calibrate": _calibrate, "list": _list, "verify": _verify}[args.model_command]
    return action(args)
