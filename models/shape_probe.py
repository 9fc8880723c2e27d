"""Which anomaly shape a chosen model misses: one shape at a time, device nuisances in range.

    python -m models.shape_probe NAME [--folder DIR] [--n 16]

`n` normal images, then for each shape (training shapes, then held-out shapes) `n` anomalous
images whose objects all have that shape; every nuisance inside the training range, seeds
from 50,000,000 (no other set uses them). Prints one JSON line per shape: image AUROC against
the normals, median anomalous score, the share flagged at the card threshold, and the median
object size (pixels at the working resolution). It uses the held-out shapes, so it diagnoses a
model already chosen; it is not a set to choose models on (that is `--split stress` or `novel`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

import numpy as np

from models.evaluate import MODELS_DIR, OnnxScorer, auroc, score_generated
from models.generators.common import SHAPES_HELDOUT, SHAPES_TRAIN
from models.train.specs import SPECS

PROBE_SEED_BASE = 50_000_000


def probe(name: str, folder: Path, n: int) -> list[dict[str, object]]:
    spec = SPECS[name]
    module = importlib.import_module(spec.generator_module)
    scorer = OnnxScorer(folder)
    threshold = scorer.card.threshold

    def scored(seed: int, anomalous: bool) -> tuple[float, int]:
        result, mask = score_generated(spec, scorer, seed, "train", anomalous)
        return result.score, int(mask.sum())

    normal = np.array([scored(PROBE_SEED_BASE + i, False)[0] for i in range(n)])
    rows: list[dict[str, object]] = [{"model": name, "shape": "(normal)", "n": n,
                                      "median_score": round(float(np.median(normal)), 3),
                                      "flagged": round(float((normal >= threshold).mean()), 3)}]
    print(json.dumps(rows[-1]), flush=True)
    original = module.shapes_for
    try:
        for k, shape in enumerate((*SHAPES_TRAIN, *SHAPES_HELDOUT)):
            module.shapes_for = lambda split, shape=shape: (shape,)  # looked up at call time
            pairs = [scored(PROBE_SEED_BASE + 1_000 * (k + 1) + i, True) for i in range(n)]
            scores = np.array([s for s, area in pairs if area > 0])
            areas = [area for _, area in pairs if area > 0]
            if len(scores) == 0:
                continue
            labels = np.r_[np.zeros(len(normal), bool), np.ones(len(scores), bool)]
            rows.append({"model": name, "shape": shape, "held_out_shape": shape in SHAPES_HELDOUT,
                         "n": len(scores), "image_auroc": round(auroc(np.r_[normal, scores], labels), 3),
                         "median_score": round(float(np.median(scores)), 3),
                         "flagged": round(float((scores >= threshold).mean()), 3),
                         "median_area_px": int(np.median(areas))})
            print(json.dumps(rows[-1]), flush=True)
    finally:
        module.shapes_for = original
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(SPECS))
    parser.add_argument("--folder", type=Path, default=None, help="model folder (default models/NAME)")
    parser.add_argument("--n", type=int, default=16, help="normal images, and anomalous images per shape")
    args = parser.parse_args(argv)
    probe(args.name, args.folder or MODELS_DIR / args.name, args.n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
