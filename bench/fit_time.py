"""`kouan model fit` time for 50 images of 1024x1024, and the fitted graph's time per image.

Images: scikit-image's brick photograph (512x512 grey) mirrored to 1024x1024, each rolled by a
random offset and given a little noise, so every image differs (the time depends on the
pixel count, not on the content). For each arm (backbone, head): the fit through the library
call behind `kouan model fit` (2 threads, default settings: 16 tiles of 256 sampled per
image), then `Detector.infer` on a 1024x1024 image, 5 timed runs after a warm-up.

Run: `python bench/fit_time.py [--arms filterbank:auto lite0:patchcore] [--images 50]`
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.fitting import FitOptions, fit_model  # noqa: E402
from edge.inference.config import InferenceConfig  # noqa: E402
from edge.inference.core import Detector  # noqa: E402


def images(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`n` distinct 1024x1024 grey surfaces."""
    from skimage import data as skimage_data

    brick = skimage_data.brick()
    big = np.block([[brick, brick[:, ::-1]], [brick[::-1], brick[::-1, ::-1]]]).astype(np.float32)
    out = []
    for _ in range(n):
        rolled = np.roll(big, (int(rng.integers(0, 1024)), int(rng.integers(0, 1024))), axis=(0, 1))
        out.append(np.clip(rolled + rng.normal(0, 3, rolled.shape), 0, 255).astype(np.uint8))
    return out


def _elapsed(line: str) -> float:
    """Seconds from a progress line's `elapsed 12.3s` or `elapsed 1m05s`."""
    text = line.split("elapsed ", 1)[1].split()[0].rstrip("s")
    minutes, _, seconds = text.rpartition("m")
    return float(minutes or 0) * 60 + float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", nargs="+", default=["filterbank:auto", "filterbank:knn", "lite0:patchcore"],
                        help="BACKBONE:METHOD pairs")
    parser.add_argument("--images", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    pictures = images(args.images, rng)
    probe = images(1, rng)[0]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "normal").mkdir()
        for i, img in enumerate(pictures):
            cv2.imwrite(str(root / "normal" / f"{i:03d}.png"), img)
        for arm in args.arms:
            backbone, method = arm.split(":")
            lines: list[str] = []
            started = time.perf_counter()
            result = fit_model(root / "normal", root / arm.replace(":", "_"),
                               FitOptions(backbone=backbone, method=method),  # type: ignore[arg-type]
                               write=lines.append)
            fit_s = time.perf_counter() - started
            phases = {phase: _elapsed(line) for line in lines if " ETA " in line
                      for phase in [line[1:line.index("]")]]}
            detector = Detector.load(result.folder, InferenceConfig(intra_op_threads=2))
            detector.infer(probe)
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                detector.infer(probe)
                times.append((time.perf_counter() - t0) * 1000)
            size_mb = Path(result.folder, "model.onnx").stat().st_size / 1e6
            print(f"{arm:20s} fit {fit_s:6.1f} s ("
                  + ", ".join(f"{phase} {sec:.0f} s" for phase, sec in phases.items()) + ") "
                  f"head {result.method}; 1024x1024 infer median {statistics.median(times):.0f} ms "
                  f"(min {min(times):.0f}, max {max(times):.0f}); model {size_mb:.1f} MB; "
                  f"load average {os.getloadavg()[0]:.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
