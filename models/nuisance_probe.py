"""Which device nuisance hurts a model: one nuisance at a time outside the training range.

    python -m models.nuisance_probe NAME [--folder DIR] [--n 16] [--only blur_sigma,stretch]

For each nuisance, `n` normal and `n` anomalous images are made with training shapes and every
nuisance inside the training range except that one, which takes a value from the range the
held-out set uses; seeds from 30,000,000 (no other set uses them, the held-out set is never
touched). Prints one JSON line per nuisance: image AUROC, mean and max score of the normal
images, median score of the anomalous ones. A nuisance that lifts the normal scores is one
the model has learnt to read as "foreign object".
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

import numpy as np

from models.evaluate import MODELS_DIR, OnnxScorer, auroc, score_generated
from models.generators import common
from models.train.specs import SPECS

PROBE_SEED_BASE = 30_000_000


def probe(name: str, folder: Path, n: int, nuisances: list[str]) -> list[dict[str, object]]:
    spec = SPECS[name]
    module = importlib.import_module(spec.generator_module)
    scorer = OnnxScorer(folder)
    original = module.sample_nuisance
    rows = []
    try:
        for which in nuisances:
            def one_outside(rng: np.random.Generator, split: common.Split, which: str = which) -> common.Nuisance:
                nz = common.sample_nuisance(rng, "train")
                if which != "none":
                    ranges = common._HELDOUT_RANGES[which]
                    lo, hi = ranges[int(rng.integers(len(ranges)))]
                    setattr(nz, which, float(rng.uniform(lo, hi)))
                return nz

            module.sample_nuisance = one_outside  # the generator looks the name up at call time
            pairs = [score_generated(spec, scorer, PROBE_SEED_BASE + i, "train", i >= n) for i in range(2 * n)]
            s = np.array([result.score for result, _ in pairs])
            lab = np.array([bool(mask.any()) for _, mask in pairs])
            rows.append({"model": name, "nuisance": which, "image_auroc": round(auroc(s, lab), 3),
                         "normal_mean": round(float(s[~lab].mean()), 3), "normal_max": round(float(s[~lab].max()), 3),
                         "anomalous_median": round(float(np.median(s[lab])), 3)})
            print(json.dumps(rows[-1]), flush=True)
    finally:
        module.sample_nuisance = original
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(SPECS))
    parser.add_argument("--folder", type=Path, default=None, help="model folder (default models/NAME)")
    parser.add_argument("--n", type=int, default=16, help="normal and anomalous images per nuisance")
    parser.add_argument("--only", default="", help="comma-separated nuisances (default: none, then each in turn)")
    args = parser.parse_args(argv)
    nuisances = args.only.split(",") if args.only else ["none", *common._HELDOUT_RANGES]
    probe(args.name, args.folder or MODELS_DIR / args.name, args.n, nuisances)
    return 0


if __name__ == "__main__":
    sys.exit(main())
