"""Train (or take trained weights), export, calibrate and evaluate one model.

    python -m models.train.train under_vehicle [--images 400] [--minutes 9]     # train here, CPU
    python -m models.train.train under_vehicle --weights CKPT [--folder DIR --split stress]
    python -m models.train.train under_vehicle --from-model models/under_vehicle [--flips 4]  # re-export
    python -m models.train.train cargo_xray --from-model DIR --scales 0.875 --partners 3 --partner-from DIR2

1. Generate (or load from var/model_cache/) training images at the working resolution (drawn
   there, or at native size and shrunk by the core's resize: `native_data`) with the *train*
   split: anomaly shapes {box, ellipse, plate}, nuisances in range A, seeds < 500k; train the
   segmenter on random crops (models.train.loop) for a wall-clock budget. Or, with
   --weights, take a checkpoint trained elsewhere (models.train.device_run on a GPU machine).
2. Export model.onnx (normalisation, sigmoid, smoothing, score inside the graph).
3. Pick threshold and pixel_threshold on a validation set (train split, seeds 500k+).
4. Evaluate on the held-out set (models.evaluate) and write the figures on the card; or, for a
   candidate in --folder, on a split used to choose between candidates (`stress` or `novel`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edge.inference.card import load_card
from models.evaluate import MODELS_DIR, OnnxScorer, auroc, evaluate, run_set, update_card
from models.train.from_onnx import model_folder_weights
from models.train.export import conv_gmac, export_onnx, make_card, tile_ms
from models.train.loop import (
    CACHE, VARIANTS, TrainSettings, build_dataset, build_wrapper, has_anomaly, load_checkpoint, train, variant_spec,
)
from models.train.net import ExportWrapper
from models.train.readme import write_readme
from models.train.specs import SPECS, ModelSpec

log = logging.getLogger(__name__)
TARGET_FPR = 0.02


def calibrate(spec: ModelSpec, folder: Path, n: int) -> tuple[float, float, str]:
    """threshold: (1 - TARGET_FPR) quantile of validation normal image scores; pixel_threshold:
    best pixel F1 on validation anomalous images, capped at threshold so every flagged image
    has a region."""
    scorer = OnnxScorer(folder)
    scores, labels, _, pairs = run_set(spec, scorer, "validation", "train", n, n)
    normal = scores[~labels]
    threshold = float(np.quantile(normal, 1 - TARGET_FPR))
    maps = np.concatenate([a.ravel() for a, _ in pairs])
    truth = np.concatenate([m.ravel() for _, m in pairs])
    best_f1, best_t = 0.0, 0.5
    for t in np.linspace(0.05, 0.95, 37):
        pred = maps >= t
        tp = float((pred & truth).sum())
        f1 = 2 * tp / max(float(pred.sum() + truth.sum()), 1.0)
        if f1 > best_f1:
            best_f1, best_t = f1, float(t)
    pixel_threshold = min(best_t, threshold)
    note = (f"Threshold {threshold:.4g} = {100 * (1 - TARGET_FPR):.0f}th percentile of image scores of {int((~labels).sum())} "
            f"validation normal images (target FPR {100 * TARGET_FPR:.0f}%; validation image AUROC "
            f"{auroc(scores, labels):.3f}); pixel threshold {pixel_threshold:.4g} = best pixel F1 ({best_f1:.2f}) on "
            f"{len(pairs)} validation anomalous images, capped at the image threshold.")
    return threshold, pixel_threshold, note


def _earlier_runs(init: object) -> str:
    """The runs whose weights a run started from, most recent first."""
    text = ""
    while isinstance(init, dict):
        text += (f" Started from the weights of an earlier run: {init.get('steps')} steps of batch {init.get('batch')} "
                 f"{init.get('crop')}x{init.get('crop')} crops over {init.get('images')} images, "
                 f"{init.get('train_seconds', 0):.0f} s on {init.get('device')}.")
        init = init.get("init")
    return text


def training_text(spec: ModelSpec, n_images: int, n_anom: int, stats: dict[str, Any], note: str) -> str:
    """What the model was trained on and how, for the card."""
    text = (
        f"{n_images} procedural images ({n_anom} with anomalies, {n_images - n_anom} normal) from "
        f"models/generators/{spec.generator_module.rsplit('.', 1)[1]}.py, seeds 0-{n_images - 1}, generated at "
        f"the working height {spec.work_height}; anomaly shapes box/ellipse/plate; nuisances in the training range; "
        f"{stats.get('steps')} steps of batch {stats.get('batch')} random {stats.get('crop')}x{stats.get('crop')} crops "
        "(45 % centred on anomalies, 35 % on normal structures as hard negatives), pixel BCE + 0.5 dice, AdamW with a "
        f"cosine learning rate, {stats.get('train_seconds', 0):.0f} s on {stats.get('device')}. Segmenter width "
        f"{spec.width}."
    )
    init = stats.get("init")
    if isinstance(init, dict):
        text = text.replace(f"{stats.get('steps')} steps", f"{stats.get('steps')} fine-tuning steps", 1)
    text += _earlier_runs(init)
    for preblur, partner in zip(spec.partner_preblurs, stats.get("partners") or []):
        text += (f" Partner segmenter (same design, generator and training split; pre-blur {preblur:g} px): "
                 f"{partner.get('steps')} steps of batch {partner.get('batch')} {partner.get('crop')}x{partner.get('crop')} "
                 f"crops over {partner.get('images')} images, {partner.get('train_seconds', 0):.0f} s on "
                 f"{partner.get('device')}.{_earlier_runs(partner.get('init'))}")
    if spec.native_data:
        text = text.replace(f"generated at the working height {spec.work_height}",
                            f"generated at native size and resized to the working height {spec.work_height} by the "
                            "inference core's own resize")
    if spec.preblur:
        text += (f" The graph blurs its input with a fixed Gaussian of sigma {spec.preblur:g} working px before the "
                 "normalisation, so the network cannot use edge sharpness, which devices vary, as a cue.")
    if spec.local_norm:
        text += (
            " Input: in-graph local contrast normalisation of " + ("-log(transmission)" if spec.norm_log else "the intensity")
            + f" (subtract a local mean, a blur on a {spec.lcn_factor}x{spec.lcn_factor}-px cell grid, divide by the "
            "local standard deviation), identical in training and in model.onnx, so smooth lighting, flat-field and "
            "gamma changes largely cancel."
        )
    return text + (f" {note}" if note else "")


def trained_weights(spec: ModelSpec, from_model: Path | None, weights: Path | None,
                    graph_options: dict[str, Any], partner_from: list[Path] | None = None,
                    ) -> tuple[ModelSpec, ExportWrapper, dict[str, Any]]:
    """No training: the segmenter of an exported model folder (`from_model`, for `spec` as given)
    or of a checkpoint (`weights`, whose variant's overrides replace the spec's); eval mode.
    `partner_from`: model folders whose segmenters become the partners (else `from_model` holds them)."""
    if from_model is not None:
        wrapper = build_wrapper(spec)
        if not partner_from:
            return spec, wrapper.eval(), model_folder_weights(from_model, wrapper, spec.width)
        if len(partner_from) != len(wrapper.partners):
            raise SystemExit(f"--partner-from gives {len(partner_from)} folders for {len(wrapper.partners)} partners")
        stats = model_folder_weights(from_model, wrapper, spec.width, partners=False)
        stats["partners"] = [{"folder": str(folder), **model_folder_weights(folder, partner, spec.width)}
                             for folder, partner in zip(partner_from, wrapper.partners)]
        return spec, wrapper.eval(), stats
    assert weights is not None
    ckpt = load_checkpoint(weights)
    spec = dataclasses.replace(SPECS[spec.name], **{**ckpt["overrides"], **graph_options})
    if spec.log_input and not spec.local_norm:
        raise SystemExit("--weights needs a local-norm model (the log statistics are not in the checkpoint)")
    wrapper = build_wrapper(spec)
    wrapper.load_state_dict(ckpt["state_dict"])
    return spec, wrapper.eval(), dict(ckpt["stats"])


def starting_weights(spec: ModelSpec, start: Path) -> dict[str, Any]:
    """{"state_dict", "stats"} to fine-tune from: a checkpoint, or an exported model folder
    (weights recovered from its graph; the caller keeps their batch norms frozen)."""
    if not start.is_dir():
        return load_checkpoint(start)
    holder = build_wrapper(spec)
    stats = model_folder_weights(start, holder, spec.width)
    return {"stats": stats, "state_dict": holder.state_dict()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(SPECS))
    parser.add_argument("--images", type=int, default=400, help="training images to generate")
    parser.add_argument("--minutes", type=float, default=9.0, help="training wall-clock budget")
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--crop", type=int, default=128, help="training crop side (px)")
    parser.add_argument("--validation", type=int, default=30, help="validation images per class")
    parser.add_argument("--heldout", type=int, default=50, help="evaluation images per class")
    parser.add_argument("--resume", action="store_true", help="start from var/model_cache/<name>[_lcn].pt")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default=None, help="spec overrides to train")
    parser.add_argument("--init", type=Path, default=None,
                        help="start from this checkpoint's weights (same width), e.g. a GPU run's, or from an exported "
                             "model folder's (batch norms then stay frozen), and fine-tune")
    parser.add_argument("--weights", type=Path, default=None,
                        help="no training: export this checkpoint (its variant's spec overrides apply)")
    parser.add_argument("--from-model", type=Path, default=None,
                        help="no training: re-export the segmenter of this exported model folder (weights recovered "
                             "from its model.onnx, statistics from its training_report.json), e.g. with other --flips")
    parser.add_argument("--flips", type=int, choices=[1, 2, 4], default=None,
                        help="in-graph test-time mirroring (default: the spec's)")
    parser.add_argument("--flip-combine", choices=["mean", "min"], default=None,
                        help="how mirrored copies' maps combine (default: the spec's)")
    parser.add_argument("--scales", type=float, nargs="*", default=None,
                        help="in-graph: also see each tile at these fractions of its size, per-pixel minimum "
                             "(default: the spec's; none given = none)")
    parser.add_argument("--partners", type=float, nargs="*", default=None,
                        help="in-graph: more segmenters, one per pre-blur given, per-pixel minimum (default: the spec's)")
    parser.add_argument("--partner-from", type=Path, nargs="*", default=None,
                        help="with --from-model: model folders whose segmenters become the partners, in order")
    parser.add_argument("--note", default="", help="added to the card's training text (e.g. what an earlier run was)")
    parser.add_argument("--folder", type=Path, default=None, help="write the model here instead of models/NAME")
    parser.add_argument("--split", choices=["heldout", "stress", "novel"], default="heldout",
                        help="evaluation split; stress or novel (model selection) leave the card's held-out figures empty")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (cosine decay)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads for training")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    folder = args.folder or MODELS_DIR / args.name

    t0 = time.perf_counter()
    # what the exported graph runs around the segmenter, where the command line overrides the spec
    graph_options: dict[str, Any] = {k: v for k, v in (
        ("flips", args.flips), ("flip_combine", args.flip_combine),
        ("scales", None if args.scales is None else tuple(args.scales)),
        ("partner_preblurs", None if args.partners is None else tuple(args.partners))) if v is not None}
    spec = dataclasses.replace(variant_spec(args.name, args.variant), **graph_options)
    gen_s = 0.0
    if args.from_model is not None or args.weights is not None:
        spec, wrapper, stats = trained_weights(spec, args.from_model, args.weights, graph_options, args.partner_from)
        n_images = int(stats.get("images", 0))
        n_anom = sum(1 for i in range(n_images) if has_anomaly(i))
    else:
        images, masks = build_dataset(spec, args.images, workers=args.threads)
        gen_s = time.perf_counter() - t0
        ckpt_path = CACHE / (f"{args.name}_{args.variant}.pt" if args.variant else spec.weights_name)
        start = args.init or (ckpt_path if args.resume else None)
        init = starting_weights(spec, start) if start is not None else None
        CACHE.mkdir(parents=True, exist_ok=True)
        settings = TrainSettings(args.minutes, args.batch, args.crop, args.lr, checkpoint=ckpt_path,
                                 overrides=VARIANTS.get(args.variant or "", {}),
                                 init_stats=(init["stats"] or {"note": f"weights of {start}"}) if init else None,
                                 freeze_batchnorm=start is not None and start.is_dir())
        wrapper, stats = train(spec, images, masks, settings, resume=init["state_dict"] if init else None)
        n_images, n_anom = len(images), sum(bool(m.any()) for m in masks)
    export_onnx(wrapper, folder / "model.onnx", 1, spec.tile)
    training_data = training_text(spec, n_images, n_anom, stats, args.note)
    make_card(spec, folder, 0.5, 0.5, training_data, "")
    threshold, pixel_threshold, note = calibrate(spec, folder, args.validation)
    make_card(spec, folder, threshold, pixel_threshold, training_data, note)
    res = evaluate(spec.name, args.heldout, args.heldout, folder, args.split)
    report = {
        **res, **stats, "generate_seconds": round(gen_s, 1), "threshold": threshold, "pixel_threshold": pixel_threshold,
        "tile_ms": round(tile_ms(folder / "model.onnx", 1, spec.tile), 2), "gmac_per_tile": round(conv_gmac(wrapper, spec.tile), 2),
        "onnx_bytes": (folder / "model.onnx").stat().st_size, "local_norm": spec.local_norm, "width": spec.width,
        "lcn_factor": spec.lcn_factor, "preblur": spec.preblur, "flips": spec.flips,
        "flip_combine": spec.flip_combine, "scales": list(spec.scales),
        "partner_preblurs": list(spec.partner_preblurs),
    }
    print(json.dumps(report), flush=True)
    if args.split == "heldout":
        update_card(spec.name, res, folder)
        (folder / "training_report.json").write_text(json.dumps(report, indent=2) + "\n")
        write_readme(folder, load_card(folder), report)
    else:
        (folder / f"{args.split}_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
