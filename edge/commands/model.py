"""Manage anomaly models: fit one on a site's own normal images, re-calibrate a shipped one's
threshold on them, list the installed ones, verify one.

`kouan model fit --normal DIR --out DIR` fits a model on clean images of this site (no labels,
no torch, no GPU): features from the shipped backbone, normal statistics, thresholds from
out-of-fold scores, written as one ONNX graph with its card. Progress goes to stderr; a JSON
summary goes to stdout. `kouan model calibrate NAME_OR_DIR --normal DIR --out DIR` keeps a
model's graph and picks its threshold from the site's own clean images. `kouan model list` prints the cards under the models folder;
`kouan model verify NAME_OR_DIR` checks hash, graph contract and a warm-up run.

The lane's own model (docs/operations.md, "The lane learns its normal"): `kouan model fit
--from-store --config lane.toml --device ID` refits a device's model from the clean passes the
edge kept ([normal] settings), judges it against the current one on the newest held-back clean
passes and the canaries, and adopts it as the next version or refuses it (exit 3) with both
figures; `kouan model propose DIR --config ... --device ...` judges a model fitted elsewhere the
same way; `kouan model rollback --config ... --device ...` points the device back at the
version before; `kouan model history --config ... --device ...` prints what happened.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

HELP = ("fit a site model on normal images or a lane's model from its store (fit), re-pick a model's threshold "
        "(calibrate), list models (list), check one (verify), judge a model for a lane (propose), roll a lane's "
        "model back (rollback), what happened to it (history)")

EXIT_INPUT_ERROR = 2
EXIT_MODEL_ERROR = 1
EXIT_REFUSED = 3


def configure(parser: argparse.ArgumentParser) -> None:
    """Add `fit`, `calibrate`, `list`, `verify`, `propose`, `rollback` and `history` under `kouan model`."""
    sub = parser.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    fit = sub.add_parser("fit", help="fit an anomaly model on a folder of normal (clean) images",
                         description=__doc__)
    fit.add_argument("--normal", type=Path, metavar="DIR", help="folder of normal images of this site")
    fit.add_argument("--out", type=Path, metavar="DIR", help="output model folder (model.onnx + card.json)")
    fit.add_argument("--from-store", action="store_true",
                     help="refit a lane device's own model from the clean passes its edge kept (with --config, "
                          "--device; fit settings from [normal]); adopted only if it beats the current one")
    _lane_arguments(fit, required=False)
    fit.add_argument("--method", choices=["auto", "knn", "patchcore", "gaussian", "padim"],
                     default="auto",
                     help="head (default auto): auto: the best of gaussian, knn and patchcore by "
                          "out-of-fold AUROC on synthetic defects painted on the normal images; knn: surfaces and "
                          "textures, defects anywhere, views not aligned; patchcore: nearest of a larger coreset of "
                          "raw features; gaussian: one shared Gaussian (cheapest); padim: aligned views, a Gaussian "
                          "per feature-map position")
    fit.add_argument("--backbone", choices=["filterbank", "lite0"], default="filterbank",
                     help="features (default filterbank): filterbank: the fixed filter bank (stride 4); "
                          "lite0: ImageNet-pretrained EfficientNet-Lite0, strides 8 + 16 (models/backbone/README.md)")
    fit.add_argument("--tile", type=int, default=256, help="tile side in pixels for knn/gaussian (default 256; "
                     "smaller if the images are smaller)")
    fit.add_argument("--shrink", type=_pair, default=(1, 1), metavar="ROWS,COLS",
                     help="knn/gaussian: average ROWS x COLS pixels into one inside the graph first (default 1,1; "
                          "1,8 for 4096-px line scans); --tile is then in those working pixels")
    fit.add_argument("--size", type=int, default=256, help="padim: images are resized to this height (default 256)")
    fit.add_argument("--name", help="model name on the card (default site_<folder name>)")
    fit.add_argument("--version", default="1.0.0", help="model version on the card (default 1.0.0)")
    fit.add_argument("--folds", type=int, default=5, help="folds for out-of-fold threshold scores (default 5)")
    fit.add_argument("--quantile", type=float, default=0.99, help="quantile of out-of-fold normal scores (default 0.99)")
    fit.add_argument("--margin", type=float, default=2.5,
                     help="threshold = Q + margin x (Q - median) of normal scores (default 2.5)")
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
    prop = sub.add_parser("propose", help="judge a model folder for a lane device by the refit rule; adopt it if it "
                          "is at least as good as the current one")
    prop.add_argument("model", type=Path, metavar="DIR", help="model folder (model.onnx + card.json)")
    _lane_arguments(prop, required=True)
    back = sub.add_parser("rollback", help="point a lane device back at its model version before the current one")
    _lane_arguments(back, required=True)
    back.add_argument("--reason", default="", help="why, for the device's history (e.g. \"v3 holds too many trucks\")")
    hist = sub.add_parser("history", help="a lane device's model versions and its refits (JSON lines)")
    _lane_arguments(hist, required=True)
    lst = sub.add_parser("list", help="list models under the models folder")
    lst.add_argument("--models-dir", type=Path, metavar="DIR", help="models folder (default $KOUAN_MODELS_DIR or models/)")
    ver = sub.add_parser("verify", help="check a model's hash, graph contract and a warm-up run")
    ver.add_argument("model", metavar="NAME_OR_DIR", help="model name or folder")
    ver.add_argument("--models-dir", type=Path, metavar="DIR", help="models folder (default $KOUAN_MODELS_DIR or models/)")


def _pair(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected ROWS,COLS, e.g. 1,8") from None
    if rows < 1 or cols < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: factors must be at least 1")
    return rows, cols


def _lane_arguments(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--config", type=Path, required=required, metavar="FILE", help="the lane's edge config (TOML)")
    parser.add_argument("--device", required=required, metavar="ID", help="the device (one of [normal] devices)")


def _lane(args: argparse.Namespace, command: str) -> object | None:
    """The device's LaneSetup from --config/--device, or None after printing why not."""
    from edge.config import ConfigError, load_config
    from edge.normal.setup import RefitError, lane_setup

    if args.config is None or args.device is None:
        print(f"kouan model {command}: error: --config and --device are needed", file=sys.stderr)
        return None
    try:
        config = load_config(args.config)
        if not any(d.id == args.device for d in config.devices):
            raise RefitError(f"no device {args.device!r} in {args.config}")
        return lane_setup(config, args.device)
    except (ConfigError, RefitError) as exc:
        print(f"kouan model {command}: error: {exc}", file=sys.stderr)
        return None


def _judged(command: str, run: object, *call: object) -> int:
    """Run a refit or a proposal; the outcome as JSON on stdout, a refusal's figures on stderr (exit 3)."""
    from edge.fitting.images import FitInputError
    from edge.inference.registry import ModelError
    from edge.normal.canaries import CanaryError
    from edge.normal.setup import RefitError

    try:
        outcome = run(*call)  # type: ignore[operator]
    except (RefitError, FitInputError, CanaryError, OSError) as exc:
        print(f"kouan model {command}: error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except ModelError as exc:
        print(f"kouan model {command}: {exc}", file=sys.stderr)
        return EXIT_MODEL_ERROR
    print(json.dumps(outcome.as_dict()))
    if not outcome.adopted:
        print(f"kouan model {command}: {outcome.message}", file=sys.stderr)
        return EXIT_REFUSED
    return 0


def _fit(args: argparse.Namespace) -> int:
    from edge.fitting import FitInputError, FitOptions, fit_model

    if args.from_store:
        from edge.normal.refit import refit_device

        setup = _lane(args, "fit --from-store")
        return EXIT_INPUT_ERROR if setup is None else _judged("fit --from-store", refit_device, setup)
    if args.normal is None or args.out is None:
        print("kouan model fit: error: --normal DIR and --out DIR are needed (or --from-store --config FILE "
              "--device ID)", file=sys.stderr)
        return EXIT_INPUT_ERROR

    opts = FitOptions(method=args.method, backbone=args.backbone, tile=args.tile, size=args.size, name=args.name,
                      version=args.version,
                      folds=args.folds, quantile=args.quantile, margin=args.margin,
                      max_tiles_per_image=args.max_tiles, bank_size=args.bank, min_images=args.min_images,
                      shrink=args.shrink,
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
        "seconds": round(result.seconds, 2), "sha256": result.card.sha256, "method": result.method,
        "probe_auroc": {m: round(q, 4) for m, q in result.quality.items()},
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


def _propose(args: argparse.Namespace) -> int:
    from edge.normal.refit import propose

    setup = _lane(args, "propose")
    return EXIT_INPUT_ERROR if setup is None else _judged("propose", propose, setup, args.model)


def _rollback(args: argparse.Namespace) -> int:
    from edge.normal.lane_models import LaneModelError
    from edge.normal.refit import rollback

    setup = _lane(args, "rollback")
    if setup is None:
        return EXIT_INPUT_ERROR
    try:
        was, now = rollback(setup, f"kouan model rollback ({_os_user()})", args.reason)  # type: ignore[arg-type]
    except LaneModelError as exc:
        print(f"kouan model rollback: error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    print(json.dumps({"device": args.device, "from": was, "current": now}))
    return 0


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment and none in the password database
        return "unknown user"


def _history(args: argparse.Namespace) -> int:
    from edge.normal.lane_models import LaneModels

    setup = _lane(args, "history")
    if setup is None:
        return EXIT_INPUT_ERROR
    models = LaneModels(setup.root)  # type: ignore[attr-defined]
    print(json.dumps({"device": args.device, "current": models.current_version(), "versions": models.versions()}))
    for entry in models.history():
        print(json.dumps(entry, ensure_ascii=False))
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch to the action; return the exit code."""
    action = {"fit": _fit, "calibrate": _calibrate, "list": _list, "verify": _verify, "propose": _propose,
              "rollback": _rollback, "history": _history}[args.model_command]
    return action(args)
