"""Train several model variants side by side on one GPU machine, within one time budget.

    python -m models.train.device_run --out DIR --minutes 7 \\
        under_vehicle:w32:4000 under_vehicle:w64:4000 cargo_xray:w64:2000 ...

Each job is NAME:VARIANT:IMAGES[:INIT], INIT a checkpoint to start from. First every model's training set is generated on all CPU
cores (once per model and image count), then one `models.train.loop` process per job trains
on the GPU for `--minutes`; their logs go to DIR/train.log and their checkpoints to
DIR/NAME_VARIANT.pt. Nothing here needs the service's packages, only torch, numpy and OpenCV.
Choosing between the variants happens afterwards, on this side, on the `stress` split.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from models.train.loop import build_dataset, variant_spec

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("jobs", nargs="+", help="NAME:VARIANT:IMAGES[:INIT]")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=7.0)
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--crop", type=int, default=192)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        handlers=[logging.FileHandler(args.out / "train.log"), logging.StreamHandler()])
    jobs = [(parts[0], parts[1], int(parts[2]), parts[3] if len(parts) > 3 else "")
            for parts in (j.split(":") for j in args.jobs)]
    t0 = time.perf_counter()
    for name, variant, n in sorted({(name, variant, n) for name, variant, n, _ in jobs}):
        build_dataset(variant_spec(name, variant), n, args.workers)
    log.info("data sets ready after %.0f s", time.perf_counter() - t0)
    with open(args.out / "train.log", "a", encoding="utf-8") as sink:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "models.train.loop", name, "--variant", variant, "--out", str(args.out),
                 "--images", str(n), "--minutes", str(args.minutes), "--batch", str(args.batch),
                 "--crop", str(args.crop), "--lr", str(args.lr), "--device", args.device, "--threads", "1",
                 *(["--init", init] if init else [])],
                stdout=sink, stderr=subprocess.STDOUT)
            for name, variant, n, init in jobs
        ]
        codes = [p.wait() for p in procs]
    log.info("jobs finished with exit codes %s after %.0f s", codes, time.perf_counter() - t0)
    return 0 if all(c == 0 for c in codes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
