"""The training loop of the shipped segmenters: data set, crop sampler, optimiser. Torch only.

Imports from `edge` only the core's resize (`edge.inference.resize`: cv2 and numpy, no
pydantic), so it runs on a bare GPU machine as well as on the CPU here; `models.train.train`
calls it and then exports, calibrates and evaluates, and `models.train.device_run` runs several
of it side by side on one GPU.

    python -m models.train.loop NAME --out DIR [--variant w64] [--minutes 7] [--device cuda]

The checkpoint (`DIR/NAME_VARIANT.pt`) holds the state dict, the spec overrides of the variant
and the run's statistics; it is rewritten every minute, so a run cut short still leaves one.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import multiprocessing
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from edge.inference.resize import resize_to_height
from models.generators.common import seed_for, work_mask
from models.train.net import AnomalySegmenter, ExportWrapper, freeze_batchnorm
from models.train.specs import SPECS, ModelSpec

log = logging.getLogger(__name__)
CACHE = Path(__file__).resolve().parents[2] / "var" / "model_cache"

#: spec overrides that a training job may try; the chosen one is then written into SPECS.
VARIANTS: dict[str, dict[str, Any]] = {
    "w32": {"width": 32},
    "w48": {"width": 48},
    "w64": {"width": 64},
    "w64f16": {"width": 64, "lcn_factor": 16},
    "w48f16": {"width": 48, "lcn_factor": 16},
    "w32b1": {"width": 32, "preblur": 1.0, "native_data": True},
    "w32b15": {"width": 32, "preblur": 1.5, "native_data": True},
    "w32b3": {"width": 32, "preblur": 3.0, "native_data": True},
    "w64b3": {"width": 64, "preblur": 3.0, "native_data": True},
    "w64b45": {"width": 64, "preblur": 4.5, "native_data": True},
}


def variant_spec(name: str, variant: str | None) -> ModelSpec:
    """The model's spec with a variant's overrides applied (None: the spec as shipped)."""
    spec = SPECS[name]
    return dataclasses.replace(spec, **VARIANTS[variant]) if variant else spec


def has_anomaly(index: int) -> bool:
    """Whether the index-th training image is made with anomalies (70 % of them)."""
    return index % 10 < 7


def _generate_one(job: tuple[str, int, bool]) -> tuple[np.ndarray, np.ndarray]:
    name, i, native = job
    spec = SPECS[name]
    seed = seed_for("train", i)
    anomalous = has_anomaly(i)
    if not native:
        return spec.generator()(seed, "train", anomalous, *spec.work_size(spec.native_size_for(seed)))
    img, mask = spec.generator()(seed, "train", anomalous, *spec.native_size_for(seed))
    small = resize_to_height(img, spec.work_height)
    return small, work_mask(mask, small.shape[:2]).astype(np.uint8)


def build_dataset(spec: ModelSpec, n_images: int, workers: int = 1) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Training images at working resolution (train split, seeds 0..n-1, 70 % with anomalies),
    generated in `workers` processes and cached as .npz in the git-ignored var/model_cache/.

    With `spec.native_data` each image is made at the device's native size and brought to the
    working height by the inference core's own resize, so training sees what the service feeds
    (its anti-aliasing blur included); otherwise it is drawn at the working height directly
    (4-90x cheaper; 90x for 8-Mpixel under-vehicle images)."""
    kind = "native" if spec.native_data else "train"
    path = CACHE / f"{spec.name}_{kind}_{n_images}_h{spec.work_height}.npz"
    if path.exists():
        data = np.load(path, allow_pickle=True)
        return list(data["images"]), list(data["masks"])
    t0 = time.perf_counter()
    jobs = [(spec.name, i, spec.native_data) for i in range(n_images)]
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            pairs = pool.map(_generate_one, jobs, chunksize=8)
    else:
        pairs = [_generate_one(j) for j in jobs]
    log.info("%s: generated %d images in %.0f s", spec.name, n_images, time.perf_counter() - t0)
    images, masks = [p[0] for p in pairs], [p[1] for p in pairs]
    CACHE.mkdir(parents=True, exist_ok=True)
    packed_images, packed_masks = np.empty(len(images), dtype=object), np.empty(len(masks), dtype=object)
    for k, (im, mk) in enumerate(zip(images, masks)):
        packed_images[k], packed_masks[k] = im, mk
    np.savez(path, images=packed_images, masks=packed_masks)
    return images, masks


class CropSampler:
    """Random training crops drawn on the training device, a whole batch per gather.

    Mix per batch: 45 % centred near an anomaly pixel, 35 % hard negatives (centred on the
    normal pixel, out of 64 random ones, furthest from the image's median: parts that look like
    objects), 20 % anywhere; random horizontal and vertical flips. Images of different widths
    are padded into one tensor; crops stay inside each image's own width.
    """

    def __init__(self, spec: ModelSpec, images: list[np.ndarray], masks: list[np.ndarray], crop: int,
                 device: torch.device, seed: int = 0, points: int = 1024) -> None:
        self.spec, self.crop, self.device = spec, crop, device
        h = images[0].shape[0]
        wmax = max(im.shape[1] for im in images)
        dtype = torch.int32 if images[0].dtype == np.uint16 else torch.uint8  # torch indexes no uint16
        self.images = torch.zeros((len(images), h, wmax), dtype=dtype, device=device)
        self.masks = torch.zeros((len(images), h, wmax), dtype=torch.uint8, device=device)
        for k, (im, mk) in enumerate(zip(images, masks)):  # one image at a time: no padded copy on the host
            self.images[k, :, : im.shape[1]] = torch.from_numpy(im.astype(np.int32) if dtype == torch.int32 else im)
            self.masks[k, :, : mk.shape[1]] = torch.from_numpy((mk > 0).astype(np.uint8))
        self.widths = torch.tensor([im.shape[1] for im in images], device=device)
        self.medians = torch.tensor([float(np.median(im[::8, ::8])) for im in images], device=device)
        self.height = h
        rng = np.random.default_rng(seed)
        anomalous = [k for k, m in enumerate(masks) if m.any()]
        coords = np.zeros((max(len(anomalous), 1), points, 2), np.int64)
        for j, k in enumerate(anomalous):
            ys, xs = np.nonzero(masks[k])
            pick = rng.integers(len(ys), size=points)
            coords[j, :, 0], coords[j, :, 1] = ys[pick], xs[pick]
        self.anomalous = torch.tensor(anomalous or [0], device=device)
        self.coords = torch.from_numpy(coords).to(device)
        self.has_anomalies = bool(anomalous)
        self.gen = torch.Generator(device=device).manual_seed(seed)
        self.offsets = torch.arange(crop, device=device)

    def _randint(self, high: torch.Tensor | int, size: tuple[int, ...]) -> torch.Tensor:
        u = torch.rand(size, generator=self.gen, device=self.device)
        return (u * high).long()

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(x [n,1,crop,crop] normalised as the core feeds it, y [n,1,crop/4,crop/4] mask fraction)."""
        c, dev = self.crop, self.device
        kind = torch.rand(n, generator=self.gen, device=dev)
        if not self.has_anomalies:
            kind = 0.45 + 0.55 * kind
        # near an anomaly
        a = self._randint(len(self.anomalous), (n,))
        p = self._randint(self.coords.shape[1], (n,))
        jitter = self._randint(2 * (c // 3) + 1, (n, 2)) - c // 3
        a_idx = self.anomalous[a]
        a_y, a_x = self.coords[a, p, 0] + jitter[:, 0], self.coords[a, p, 1] + jitter[:, 1]
        # hard negative: the most unusual of 64 random normal pixels
        s_idx = self._randint(len(self.images), (n,))
        ys = self._randint(self.height, (n, 64))
        xs = self._randint(self.widths[s_idx][:, None], (n, 64))
        vals = self.images[s_idx[:, None], ys, xs].float()
        dev_ = (vals - self.medians[s_idx][:, None]).abs()
        dev_ = torch.where(self.masks[s_idx[:, None], ys, xs] > 0, torch.full_like(dev_, -1.0), dev_)
        best = dev_.argmax(1)
        s_y, s_x = ys.gather(1, best[:, None])[:, 0], xs.gather(1, best[:, None])[:, 0]
        # anywhere
        r_idx = self._randint(len(self.images), (n,))
        r_y, r_x = self._randint(self.height, (n,)), self._randint(self.widths[r_idx], (n,))
        near, hard = kind < 0.45, kind < 0.8
        idx = torch.where(near, a_idx, torch.where(hard, s_idx, r_idx))
        cy = torch.where(near, a_y, torch.where(hard, s_y, r_y))
        cx = torch.where(near, a_x, torch.where(hard, s_x, r_x))
        y0 = (cy - c // 2).clamp(0, self.height - c)
        x0 = torch.minimum((cx - c // 2).clamp(min=0), self.widths[idx] - c)
        rows = (y0[:, None] + self.offsets)[:, :, None]
        cols = (x0[:, None] + self.offsets)[:, None, :]
        img = self.images[idx[:, None, None], rows, cols].float()
        msk = self.masks[idx[:, None, None], rows, cols].float()
        flip_x = (torch.rand(n, generator=self.gen, device=dev) < 0.5)[:, None, None]
        flip_y = (torch.rand(n, generator=self.gen, device=dev) < 0.5)[:, None, None]
        img = torch.where(flip_x, img.flip(2), img)
        msk = torch.where(flip_x, msk.flip(2), msk)
        img = torch.where(flip_y, img.flip(1), img)
        msk = torch.where(flip_y, msk.flip(1), msk)
        x = (img[:, None] / self.spec.scale - self.spec.mean) / self.spec.std
        return x, F.avg_pool2d(msk[:, None], 4)


def log_stats(spec: ModelSpec, images: list[np.ndarray]) -> tuple[float, float]:
    """Mean and std of -log(transmission) over the training images (for X-ray inputs)."""
    sample = np.concatenate([im[::4, ::4].ravel() for im in images[:50]]).astype(np.float32) / spec.scale
    att = -np.log(np.clip(sample, 1e-4, None))
    return float(att.mean()), float(att.std() + 1e-6)


def build_wrapper(spec: ModelSpec, log_mean: float = 0.0, log_std: float = 1.0) -> ExportWrapper:
    """An untrained segmenter in its export wrapper, as `spec` describes it (with its partners:
    the same spec at each of `partner_preblurs`, without scaled copies)."""
    partners = [build_wrapper(dataclasses.replace(spec, preblur=p, scales=(), partner_preblurs=()), log_mean, log_std)
                for p in spec.partner_preblurs]
    return ExportWrapper(AnomalySegmenter(1, spec.width), spec.log_input or spec.norm_log, log_mean, log_std,
                         score_margin=spec.overlap // 8, local_norm=spec.local_norm, in_mean=spec.mean,
                         in_std=spec.std, floor=0.5 / spec.scale, lcn_eps=spec.lcn_eps, lcn_factor=spec.lcn_factor,
                         lcn_size=spec.lcn_size, preblur=spec.preblur, flips=spec.flips,
                         flip_combine=spec.flip_combine, scales=spec.scales, partners=partners)


@dataclass
class TrainSettings:
    minutes: float
    batch: int = 24
    crop: int = 128
    lr_max: float = 2e-3
    seed: int = 0
    device: str = "cpu"
    checkpoint: Path | None = None  # rewritten every `checkpoint_every` seconds and at the end
    checkpoint_every: float = 60.0
    overrides: dict[str, Any] | None = None  # the variant's spec overrides, stored in the checkpoint
    init_stats: dict[str, Any] | None = None  # statistics of the run whose weights this one starts from
    freeze_batchnorm: bool = False  # batch norms stay in eval mode (weights recovered from an exported graph)


def save_checkpoint(path: Path, wrapper: ExportWrapper, overrides: dict[str, Any], stats: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"state_dict": {k: v.detach().cpu() for k, v in wrapper.state_dict().items()},
                "overrides": overrides, "stats": stats}, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint of this module, or a bare state dict of an earlier run (no overrides, no stats)."""
    data = torch.load(path, map_location="cpu")
    if isinstance(data, dict) and "state_dict" in data:
        return data
    return {"state_dict": data, "overrides": {}, "stats": {}}


def train(spec: ModelSpec, images: list[np.ndarray], masks: list[np.ndarray], settings: TrainSettings,
          resume: dict[str, torch.Tensor] | None = None) -> tuple[ExportWrapper, dict[str, Any]]:
    """Pixel BCE + 0.5 dice on sampled crops, AdamW with a cosine learning rate over the budget."""
    if spec.partner_preblurs:
        raise ValueError("a model with partners is assembled from trained models (train.py --partner-from), "
                         "not trained as one")
    torch.manual_seed(settings.seed)
    device = torch.device(settings.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    lm, ls = log_stats(spec, images) if spec.log_input else (0.0, 1.0)
    wrapper = build_wrapper(spec, lm, ls)
    if resume is not None:
        wrapper.load_state_dict(resume)
    wrapper.to(device)
    sampler = CropSampler(spec, images, masks, settings.crop, device, settings.seed)
    opt = torch.optim.AdamW(wrapper.parameters(), lr=settings.lr_max, weight_decay=1e-4)
    budget = settings.minutes * 60
    t0 = last_save = time.perf_counter()
    step, ema = 0, None
    stats: dict[str, Any] = {}
    device_name = torch.cuda.get_device_name(device) if cuda else f"CPU, {torch.get_num_threads()} thread(s)"
    wrapper.train()
    if settings.freeze_batchnorm:
        freeze_batchnorm(wrapper)
    while (elapsed := time.perf_counter() - t0) < budget:
        lr = settings.lr_max * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * elapsed / budget)))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = sampler.batch(settings.batch)
        with torch.no_grad():
            prepared = wrapper.prepare(x)  # fp32: the normalisation divides by a local std
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            logits = wrapper.net(prepared)
        logits = logits.float()
        bce = F.binary_cross_entropy_with_logits(logits, y)
        p = torch.sigmoid(logits)
        dice = 1 - (2 * (p * y).sum() + 1) / (p.sum() + y.sum() + 1)
        loss = bce + 0.5 * dice
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 50 == 0:
            value = float(loss.item())
            ema = value if ema is None else 0.9 * ema + 0.1 * value
        if step % 500 == 0:
            log.info("%s step %d  %.0f s  loss %.4f  lr %.5f", spec.name, step, elapsed, ema or 0.0, lr)
        step += 1
        stats = {"steps": step, "train_seconds": round(time.perf_counter() - t0, 1), "final_loss": round(ema or 0, 4),
                 "batch": settings.batch, "crop": settings.crop, "images": len(images),
                 "device": device_name, **({"init": settings.init_stats} if settings.init_stats else {})}
        if settings.checkpoint is not None and time.perf_counter() - last_save > settings.checkpoint_every:
            save_checkpoint(settings.checkpoint, wrapper, settings.overrides or {}, stats)
            last_save = time.perf_counter()
    wrapper.eval().cpu()
    if settings.checkpoint is not None:
        save_checkpoint(settings.checkpoint, wrapper, settings.overrides or {}, stats)
    return wrapper, stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(SPECS))
    parser.add_argument("--variant", choices=sorted(VARIANTS), default=None, help="spec overrides to train")
    parser.add_argument("--out", type=Path, required=True, help="folder for NAME_VARIANT.pt")
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--minutes", type=float, default=9.0)
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workers", type=int, default=1, help="processes generating the data set")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--init", type=Path, default=None, help="start from this checkpoint's weights (same width)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    spec = variant_spec(args.name, args.variant)
    images, masks = build_dataset(spec, args.images, args.workers)
    args.out.mkdir(parents=True, exist_ok=True)
    ckpt = args.out / f"{args.name}_{args.variant or 'spec'}.pt"
    init = load_checkpoint(args.init) if args.init else None
    settings = TrainSettings(args.minutes, args.batch, args.crop, args.lr, device=args.device, checkpoint=ckpt,
                             overrides=VARIANTS.get(args.variant or "", {}),
                             init_stats=(init["stats"] or {"note": f"weights of {args.init}"}) if init else None)
    _, stats = train(spec, images, masks, settings, resume=init["state_dict"] if init else None)
    log.info("%s %s: %s -> %s", args.name, args.variant, stats, ckpt)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
