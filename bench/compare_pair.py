"""Time per same-vehicle pair through `compare()`, against a bare register-and-difference in the same process.

    python bench/compare_pair.py [--pairs 6] [--rows 4096 --cols 2048] [--repeat 3] [--threads 2]

Pairs: the project's own harsh stub pairs (`models.compare_pairs.dev_pair`: the stub camera's
passes with probe stretch 0.75-1.25 wobbling along the pass, lateral shift and drift, other fill
light, banding, blur, noise, a lane background, some tails cut), resized to `--rows` x `--cols`
(4096 x 2048 is issue 13's bar of 1 s per pair). Decoding is outside both arms: each gets the
same two uint8 arrays.

Arms, alternating per pair, each the best of `--repeat` runs after a warm-up:
- `compare`: `edge.inference.compare.compare()` as the lane runs it (`CompareConfig()` defaults);
- `bare`: what one would write first, the naive baseline the issue measured at AUROC 0.72-0.75:
  `cv2.phaseCorrelate` on the two images (one global shift), `cv2.warpAffine` of the probe by it,
  `cv2.absdiff`, a 5x5 blur and a fixed threshold, connected components.
The ratio `compare` / `bare` says what the registration that follows an uneven speed, the light
matching and the noise-scaled test cost over a single global shift and a difference.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.inference.compare import CompareConfig, compare  # noqa: E402
from models.compare_pairs import dev_pair  # noqa: E402

PLATE0 = 60000  # stub plates 桂K60000.. : none of the compare_eval splits' plates


def bare(reference: np.ndarray, probe: np.ndarray) -> int:
    """Global phase correlation, shift, absolute difference, threshold: the number of changed blobs."""
    ref = reference.astype(np.float32)
    prb = probe.astype(np.float32)
    (dx, dy), _ = cv2.phaseCorrelate(ref, prb)
    moved = cv2.warpAffine(prb, np.float32([[1, 0, -dx], [0, 1, -dy]]), (ref.shape[1], ref.shape[0]))
    diff = cv2.GaussianBlur(cv2.absdiff(ref, moved), (5, 5), 0)
    count, _ = cv2.connectedComponents((diff > 40).astype(np.uint8))
    return count - 1


def best_of(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=6, help="pairs to time (half with an object on the probe)")
    parser.add_argument("--rows", type=int, default=4096, help="rows of each pass (along the vehicle)")
    parser.add_argument("--cols", type=int, default=2048, help="columns of each pass (across the lane)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per arm and pair (best kept)")
    parser.add_argument("--threads", type=int, default=2, help="OpenCV threads")
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    config = CompareConfig()
    rows = []
    for i in range(args.pairs):
        obj = "box" if i % 2 else None
        p = dev_pair(f"桂K{PLATE0 + i}", obj, seed=PLATE0 + i, scale=0.5, width=args.cols)
        probe = p.changed if p.changed is not None else p.clean
        ref = cv2.resize(p.reference, (args.cols, args.rows), interpolation=cv2.INTER_LINEAR)
        prb = cv2.resize(probe, (args.cols, args.rows), interpolation=cv2.INTER_LINEAR)
        compare(ref, prb, config)
        bare(ref, prb)  # warm-up of both arms
        t_compare = best_of(lambda: compare(ref, prb, config), args.repeat)
        t_bare = best_of(lambda: bare(ref, prb), args.repeat)
        result = compare(ref, prb, config)
        rows.append({"pair": i, "object": obj, "flagged": result.flagged, "score": round(result.score, 2),
                     "compare_ms": round(t_compare * 1000, 1), "bare_ms": round(t_bare * 1000, 1),
                     "ratio": round(t_compare / t_bare, 2)})
        print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    med_c = statistics.median(r["compare_ms"] for r in rows)
    med_b = statistics.median(r["bare_ms"] for r in rows)
    load = os.getloadavg()[0]
    print(f"{args.rows}x{args.cols}, {len(rows)} pairs, {args.threads} threads, load {load:.1f}: "
          f"compare() median {med_c:.0f} ms (max {max(r['compare_ms'] for r in rows):.0f}), "
          f"bare phase-correlate + difference median {med_b:.0f} ms; ratio {med_c / med_b:.2f}; "
          f"bar 1000 ms per pair: {'PASS' if max(r['compare_ms'] for r in rows) < 1000 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
