"""Run an ONNX anomaly model on image files and print one JSON line per image.

Each line holds image, score, flagged, regions (box [x, y, w, h] and polygon in original
pixels, each with its own score), model, version, ms (inference) and
decode_ms (reading and decoding the file). An unreadable or corrupt image
gives {"image": ..., "error": ...} and the others still run; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

HELP = "run an anomaly model on image files, one JSON line per image"

log = logging.getLogger(__name__)

EXIT_IMAGE_ERRORS = 1
EXIT_MODEL_ERROR = 2


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the infer subcommand's arguments."""
    parser.add_argument("--model", required=True, metavar="NAME_OR_DIR",
                        help="model name under the models folder, or a folder with model.onnx + card.json")
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE",
                        help="image files (PNG, JPEG, TIFF; 16-bit read as 16-bit)")
    parser.add_argument("--heatmap", type=Path, metavar="DIR",
                        help="write each image with its anomaly map and regions drawn over it as PNG here")
    parser.add_argument("--models-dir", type=Path, metavar="DIR",
                        help="models folder (default $KOUAN_MODELS_DIR or the repository's models/)")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="onnxruntime intra-op threads (default from config: 2)")
    parser.add_argument("--provider", action="append", choices=["cpu", "cuda", "openvino"],
                        help="execution provider, repeatable in order of preference (default cpu)")


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    """Load the model once, score every image, keep going past bad ones."""
    from edge.inference.config import InferenceConfig
    from edge.inference.core import Detector
    from edge.inference.heatmap import write_heatmap
    from edge.inference.preprocess import ImageDecodeError, read_image
    from edge.inference.registry import ModelError

    settings: dict[str, Any] = {}
    if args.threads is not None:
        settings["intra_op_threads"] = args.threads
    if args.provider:
        settings["providers"] = args.provider
    config = InferenceConfig(models_dir=args.models_dir, **settings)
    try:
        detector = Detector.load(args.model, config)
    except ModelError as exc:
        sys.stderr.write(f"kouan infer: {exc}\n")
        _emit({"model": str(args.model), "error": str(exc)})
        return EXIT_MODEL_ERROR
    if args.heatmap is not None:
        args.heatmap.mkdir(parents=True, exist_ok=True)
    failures = 0
    for path in args.images:
        try:
            start = time.perf_counter()
            image = read_image(path)
            decode_ms = (time.perf_counter() - start) * 1000.0
            result = detector.infer(image)
        except ImageDecodeError as exc:
            failures += 1
            log.warning("%s: %s", path, exc)
            _emit({"image": str(path), "error": str(exc)})
            continue
        except Exception as exc:  # one bad image must not stop the others
            failures += 1
            log.warning("%s: inference failed: %s", path, exc, exc_info=log.isEnabledFor(logging.DEBUG))
            _emit({"image": str(path), "error": f"inference failed: {type(exc).__name__}: {exc}"})
            continue
        record: dict[str, Any] = {"image": str(path), **result.to_dict(), "decode_ms": round(decode_ms, 2)}
        if args.heatmap is not None:
            out = args.heatmap / f"{path.stem}.heatmap.png"
            try:
                write_heatmap(out, image, result, detector.card.pixel_threshold)
                record["heatmap"] = str(out)
            except OSError as exc:
                failures += 1
                record["heatmap_error"] = str(exc)
        _emit(record)
    if failures:
        log.error("%d of %d images could not be scored", failures, len(args.images))
        return EXIT_IMAGE_ERRORS
    return 0
