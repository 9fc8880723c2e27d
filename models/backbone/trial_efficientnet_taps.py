"""Which EfficientNet-Lite0 blocks and which input normalisation to export: a quick PatchCore-style trial.

The same protocol as `evaluate_fit.py` (scikit-image brick, grass, gravel; 50 clean 128x128
training crops from the top half, 40 clean + 40 defective crops from the bottom half, 8 per
defect kind of `edge.fitting.defects`), scored the way issue 13's trial did: features of two
taps, 3x3 average pool, the stride-16 tap upsampled to stride 8 and concatenated, each test
patch's Euclidean distance to its nearest training patch (all 12,800 of them), image score =
the maximum. Torch directly (no ONNX), so taps and normalisations can be swapped freely.
Not a fit: `kouan model fit` adds its own bank, heads and threshold.

Run (needs the [train] and [dev] extras): `python models/backbone/trial_efficientnet_taps.py [--seeds 3]
[--upscale 1 2] [--norms imagenet]`; figures in README.md.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
import torch.nn.functional as F
from skimage import data as skimage_data

from edge.fitting.defects import DEFECTS, add_defect

HERE = Path(__file__).resolve().parent


def _load(name: str) -> ModuleType:
    """A sibling script of this folder (not a package) as a module."""
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXPORT = _load("export_efficientnet_lite0")
EVAL = _load("evaluate_fit")
NORMALISATIONS = {
    "mean127/std128": (np.array([127.0] * 3) / 255, np.array([128.0] * 3) / 255),
    "imagenet": (np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])),
}


def features(net: torch.nn.Module, grey: list[np.ndarray], taps: tuple[int, ...], norm: str,
             upscale: float = 1.0) -> np.ndarray:
    """Patch vectors [T, h*w, C] of grey uint8 crops (the channel repeated, as grey sites get)."""
    mean, std = NORMALISATIONS[norm]
    x = np.repeat(np.stack(grey)[:, None].astype(np.float32) / 255, 3, axis=1)
    if upscale != 1.0:
        x = F.interpolate(torch.from_numpy(x), scale_factor=upscale, mode="bilinear", align_corners=False).numpy()
    x = (x - mean[None, :, None, None]) / std[None, :, None, None]
    out = []
    with torch.no_grad():
        h = net._swish(net._bn0(net._conv_stem(torch.from_numpy(x.astype(np.float32)))))
        for i, block in enumerate(net._blocks[:max(taps)]):
            h = block(h)
            if i + 1 in taps:
                out.append(F.avg_pool2d(h, 3, 1, 1, count_include_pad=False))
    size = out[0].shape[-2:]  # the finest tap's grid
    feats = torch.cat([F.interpolate(f, size=size, mode="bilinear", align_corners=False) for f in out], 1)
    return feats.flatten(2).transpose(1, 2).numpy()


def nn_scores(bank: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Per image: the largest nearest-neighbour distance of its patches to the bank."""
    b = torch.from_numpy(bank.reshape(-1, bank.shape[-1]))
    scores = []
    for patches in test:
        d = torch.cdist(torch.from_numpy(patches), b).min(1).values
        scores.append(float(d.max()))
    return np.array(scores)


def trial(net: torch.nn.Module, surface_name: str, seed: int, taps: tuple[int, ...], norm: str,
          upscale: float = 1.0) -> float:
    rng = np.random.default_rng(seed)
    surface = getattr(skimage_data, surface_name)()
    foreign = (skimage_data.gravel() if surface_name != "gravel" else skimage_data.grass()).astype(np.float32) / 255
    half = surface.shape[0] // 2
    train = EVAL.crops(surface, (0, half), 50, rng)
    clean = EVAL.crops(surface, (half, surface.shape[0]), 40, rng)
    kinds = [list(DEFECTS)[i % len(DEFECTS)] for i in range(40)]
    bad = []
    for base, kind in zip(EVAL.crops(surface, (half, surface.shape[0]), 40, rng), kinds, strict=True):
        img, _ = add_defect(base.astype(np.float32)[..., None] / 255, kind, rng, foreign[..., None])
        bad.append((np.clip(img[..., 0], 0, 1) * 255 + 0.5).astype(np.uint8))
    bank = features(net, train, taps, norm, upscale)
    return EVAL.auroc(nn_scores(bank, features(net, clean, taps, norm, upscale)),
                      nn_scores(bank, features(net, bad, taps, norm, upscale)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--taps", nargs="+", default=["5,10", "3,5", "10"],
                        help="after-block taps, 1-based, comma-separated")
    parser.add_argument("--upscale", type=float, nargs="+", default=[1.0], help="resize crops by these factors first")
    parser.add_argument("--norms", nargs="+", default=list(NORMALISATIONS), choices=list(NORMALISATIONS))
    args = parser.parse_args()
    torch.set_num_threads(2)
    net = EXPORT.load_pretrained()
    for norm in args.norms:
        for up in args.upscale:
            for pair in args.taps:
                taps = tuple(int(t) for t in pair.split(","))
                row = []
                for surface in ("brick", "grass", "gravel"):
                    aucs = [trial(net, surface, seed, taps, norm, up) for seed in range(args.seeds)]
                    row.append(f"{surface} {np.mean(aucs):.3f} (min {np.min(aucs):.3f})")
                print(f"{norm:15s} x{up:g} taps {pair:6s}: " + ", ".join(row), flush=True)


if __name__ == "__main__":
    main()
