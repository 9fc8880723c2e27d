"""Train, export, calibrate and evaluate one shipped model on the CPU.

    python -m models.train.train under_vehicle [--images 400] [--minutes 9]

1. Generate (or load from var/model_cache/) training images at the working resolution with
   the *train* split: anomaly shapes {box, ellipse, plate}, nuisances in range A, seeds < 500k.
2. Train the segmenter on random crops (half centred on anomalies) with pixel BCE + dice,
   for a fixed wall-clock budget on 2 threads.
3. Export model.onnx (normalisation, sigmoid, smoothing, score inside the graph).
4. Pick threshold and pixel_threshold on a validation set (train split, seeds 500k+).
5. Evaluate on the held-out set (models.evaluate) and write the figures on the card.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from edge.inference.card import load_card
from models.evaluate import MODELS_DIR, OnnxScorer, auroc, evaluate, native_size, run_set, update_card
from models.generators.common import seed_for
from models.train.export import export_onnx, make_card, tile_ms
from models.train.net import AnomalySegmenter, ExportWrapper
from models.train.readme import write_readme
from models.train.specs import SPECS, ModelSpec

log = logging.getLogger(__name__)
CACHE = Path(__file__).resolve().parents[2] / "var" / "model_cache"
CROP = 128
TARGET_FPR = 0.02


def build_dataset(spec: ModelSpec, n_images: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Training images at working resolution (cached as .npz in the git-ignored var/)."""
    path = CACHE / f"{spec.name}_train_{n_images}_h{spec.work_height}.npz"
    if path.exists():
        data = np.load(path, allow_pickle=True)
        return list(data["images"]), list(data["masks"])
    gen = spec.generator()
    images, masks = [], []
    t0 = time.perf_counter()
    for i in range(n_images):
        seed = seed_for("train", i)
        size = spec.work_size(native_size(spec, seed))
        img, mask = gen(seed, "train", bool(i % 10 < 7), *size)
        images.append(img)
        masks.append(mask)
        if i % 50 == 0:
            log.info("generated %d/%d images (%.0f s)", i, n_images, time.perf_counter() - t0)
    CACHE.mkdir(parents=True, exist_ok=True)
    packed_images, packed_masks = np.empty(len(images), dtype=object), np.empty(len(masks), dtype=object)
    for k, (im, mk) in enumerate(zip(images, masks)):
        packed_images[k], packed_masks[k] = im, mk
    np.savez(path, images=packed_images, masks=packed_masks)
    return images, masks


def sample_batch(rng: np.random.Generator, spec: ModelSpec, images: list[np.ndarray], masks: list[np.ndarray],
                 anomalous_idx: list[int], batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for _ in range(batch):
        pick = rng.random()
        if anomalous_idx and pick < 0.45:  # centred near an anomaly
            i = anomalous_idx[int(rng.integers(len(anomalous_idx)))]
            pys, pxs = np.nonzero(masks[i])
            k = int(rng.integers(len(pys)))
            cy, cx = pys[k] + int(rng.integers(-CROP // 3, CROP // 3)), pxs[k] + int(rng.integers(-CROP // 3, CROP // 3))
        elif pick < 0.8:  # hard negatives: centred on a normal structure (parts that look like objects)
            i = int(rng.integers(len(images)))
            img_i = images[i]
            ys_, xs_ = rng.integers(img_i.shape[0], size=64), rng.integers(img_i.shape[1], size=64)
            dev = np.abs(img_i[ys_, xs_].astype(np.float32) - float(np.median(img_i[::8, ::8])))
            dev[masks[i][ys_, xs_] > 0] = -1.0
            k = int(np.argmax(dev))
            cy, cx = int(ys_[k]), int(xs_[k])
        else:  # anywhere
            i = int(rng.integers(len(images)))
            cy, cx = int(rng.integers(images[i].shape[0])), int(rng.integers(images[i].shape[1]))
        h, w = images[i].shape
        y0 = int(np.clip(cy - CROP // 2, 0, h - CROP))
        x0 = int(np.clip(cx - CROP // 2, 0, w - CROP))
        img = images[i][y0:y0 + CROP, x0:x0 + CROP]
        m = masks[i][y0:y0 + CROP, x0:x0 + CROP]
        if rng.random() < 0.5:
            img, m = img[:, ::-1], m[:, ::-1]
        if rng.random() < 0.5:
            img, m = img[::-1], m[::-1]
        xs.append(img.astype(np.float32) / spec.scale)
        ys.append(m.astype(np.float32))
    x = (torch.from_numpy(np.stack(xs)[:, None]) - spec.mean) / spec.std
    y = torch.from_numpy(np.stack(ys)[:, None])
    return x, F.avg_pool2d(y, 4)


def log_stats(spec: ModelSpec, images: list[np.ndarray]) -> tuple[float, float]:
    """Mean and std of -log(transmission) over the training images (for X-ray inputs)."""
    sample = np.concatenate([im[::4, ::4].ravel() for im in images[:50]]).astype(np.float32) / spec.scale
    att = -np.log(np.clip(sample, 1e-4, None))
    return float(att.mean()), float(att.std() + 1e-6)


def train(spec: ModelSpec, images: list[np.ndarray], masks: list[np.ndarray], minutes: float, batch: int,
          seed: int = 0, resume: Path | None = None, lr_max: float = 2e-3) -> tuple[ExportWrapper, dict[str, float]]:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    lm, ls = log_stats(spec, images) if spec.log_input else (0.0, 1.0)
    wrapper = ExportWrapper(AnomalySegmenter(1, 32), spec.log_input or spec.norm_log, lm, ls,
                            score_margin=spec.overlap // 8, local_norm=spec.local_norm, in_mean=spec.mean,
                            in_std=spec.std, floor=0.5 / spec.scale, lcn_eps=spec.lcn_eps)
    if resume is not None:  # continue from an earlier run's weights
        wrapper.load_state_dict(torch.load(resume))
    opt = torch.optim.AdamW(wrapper.parameters(), lr=lr_max, weight_decay=1e-4)
    anomalous_idx = [i for i, m in enumerate(masks) if m.any()]
    budget = minutes * 60
    t0 = time.perf_counter()
    step, ema = 0, None
    wrapper.train()
    while (elapsed := time.perf_counter() - t0) < budget:
        lr = lr_max * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * elapsed / budget)))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = sample_batch(rng, spec, images, masks, anomalous_idx, batch)
        logits = wrapper.net(wrapper.prepare(x))
        bce = F.binary_cross_entropy_with_logits(logits, y)
        p = torch.sigmoid(logits)
        dice = 1 - (2 * (p * y).sum() + 1) / (p.sum() + y.sum() + 1)
        loss = bce + 0.5 * dice
        opt.zero_grad()
        loss.backward()
        opt.step()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 100 == 0:
            log.info("step %d  %.0f s  loss %.4f  lr %.5f", step, elapsed, ema, lr)
        step += 1
    wrapper.eval()
    return wrapper, {"steps": step, "train_seconds": round(time.perf_counter() - t0, 1), "final_loss": round(ema or 0, 4)}


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
    note = (f"Threshold {threshold:.4f} = {100 * (1 - TARGET_FPR):.0f}th percentile of image scores of {int((~labels).sum())} "
            f"validation normal images (target FPR {100 * TARGET_FPR:.0f}%; validation image AUROC "
            f"{auroc(scores, labels):.3f}); pixel threshold {pixel_threshold:.4f} = best pixel F1 ({best_f1:.2f}) on "
            f"{len(pairs)} validation anomalous images, capped at the image threshold.")
    return threshold, pixel_threshold, note


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(SPECS))
    parser.add_argument("--images", type=int, default=400, help="training images to generate")
    parser.add_argument("--minutes", type=float, default=9.0, help="training wall-clock budget")
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--validation", type=int, default=30, help="validation images per class")
    parser.add_argument("--heldout", type=int, default=50, help="held-out images per class")
    parser.add_argument("--resume", action="store_true", help="start from var/model_cache/<name>[_lcn].pt")
    parser.add_argument("--resume-note", default="", help="what the earlier run was, for the card")
    parser.add_argument("--reexport", action="store_true",
                        help="no training: export var/model_cache/<name>[_lcn].pt again, recalibrate and re-evaluate")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (cosine decay)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads for training")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    spec = SPECS[args.name]
    folder = MODELS_DIR / spec.name

    t0 = time.perf_counter()
    images, masks = build_dataset(spec, args.images)
    gen_s = time.perf_counter() - t0
    resume = CACHE / spec.weights_name if args.resume else None
    if args.reexport:
        wrapper, stats = train(spec, images, masks, 0.0, args.batch, resume=CACHE / spec.weights_name)
        old = json.loads((folder / "training_report.json").read_text(encoding="utf-8"))
        stats = {k: old[k] for k in ("steps", "train_seconds", "final_loss", "resumed") if k in old}
        gen_s = float(old.get("generate_seconds", 0.0))
    else:
        wrapper, stats = train(spec, images, masks, args.minutes, args.batch, resume=resume, lr_max=args.lr)
        if resume is not None:
            stats["resumed"] = 1
        CACHE.mkdir(parents=True, exist_ok=True)
        torch.save(wrapper.state_dict(), CACHE / spec.weights_name)
    export_onnx(wrapper, folder / "model.onnx", 1, spec.tile)
    n_anom = sum(bool(m.any()) for m in masks)
    training_data = (
        f"{len(images)} procedural images ({n_anom} with anomalies, {len(images) - n_anom} normal) from "
        f"models/generators/{spec.generator_module.rsplit('.', 1)[1]}.py, seeds 0-{len(images) - 1}, generated at "
        f"the working height {spec.work_height}; anomaly shapes box/ellipse/plate; nuisances in the training range; "
        f"{stats['steps']} steps of batch {args.batch} random {CROP}x{CROP} crops (45 % centred on anomalies, 35 % on "
        f"normal structures as hard negatives), pixel BCE + 0.5 dice, AdamW, {stats['train_seconds']:.0f} s on {args.threads} CPU "
        f"thread(s)."
    )
    if spec.local_norm:
        training_data += (
            " Input: in-graph local contrast normalisation of " + ("-log(transmission)" if spec.norm_log else "the intensity")
            + " (subtract a ~17 px-sigma local mean, divide by the local standard deviation), identical in "
            "training and in model.onnx, so smooth lighting, flat-field and gamma changes largely cancel."
        )
    if resume is not None:
        training_data += f" Started from the weights of an earlier run: {args.resume_note}"
    if args.reexport:
        training_data = load_card(folder).training_data
    make_card(spec, folder, 0.5, 0.5, training_data, "")
    threshold, pixel_threshold, note = calibrate(spec, folder, args.validation)
    make_card(spec, folder, threshold, pixel_threshold, training_data, note)
    res = evaluate(spec.name, args.heldout, args.heldout)
    update_card(spec.name, res)
    report = {
        **res, **stats, "generate_seconds": round(gen_s, 1), "threshold": threshold, "pixel_threshold": pixel_threshold,
        "tile_ms": round(tile_ms(folder / "model.onnx", 1, spec.tile), 2),
        "onnx_bytes": (folder / "model.onnx").stat().st_size, "local_norm": spec.local_norm,
    }
    print(json.dumps(report), flush=True)
    (CACHE / f"{spec.name}_report.json").write_text(json.dumps(report, indent=2))
    (folder / "training_report.json").write_text(json.dumps(report, indent=2) + "\n")
    write_readme(folder, load_card(folder), report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
