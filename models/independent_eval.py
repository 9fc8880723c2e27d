"""Score `edge.inference.compare` on same-vehicle pairs from the independent generator: report only.

    python -m models.independent_eval [--n 60] [--seed0 130000] [--width 2048 --length 4096]
                                      [--verbose] [--out FILE]

The pairs come from `models.independent.pairs` (written blind, from a description of the scene;
see models/independent/README.md). They are EVALUATION ONLY: nothing here, and nothing that reads
these figures, may tune, calibrate or choose anything of the comparison; `CompareConfig()`'s
defaults are used as shipped. The same `--n` seeds are drawn clean and changed: for one seed the
reference and the probe's pass are the very same, the changed probe only gains an object, so each
seed is a paired test of what the object adds.

Prints (and with --out writes) one JSON summary: image AUROC, the share of clean pairs flagged at
the comparison's threshold, the share of changed pairs flagged with a region on the object's mask,
the median and max ms per pair (`compare()` alone, as `CompareResult.ms`), and the same figures by
tail cut (none / reference / probe). With --verbose one JSON line per pair first.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge.inference.compare import CompareConfig, CompareResult, compare
from models.compare_eval import auroc
from models.independent.pairs import pair


def on_mask(result: CompareResult, mask: np.ndarray) -> bool:
    """Whether any reported region's box covers a pixel of the object's mask."""
    for region in result.regions:
        y0, x0 = max(0, region.y), max(0, region.x)
        if mask[y0:region.y + region.height, x0:region.x + region.width].any():
            return True
    return False


def _rates(rows: list[dict[str, Any]]) -> dict[str, Any]:
    clean = [r for r in rows if not r["changed"]]
    changed = [r for r in rows if r["changed"]]
    out: dict[str, Any] = {"clean": len(clean), "changed": len(changed)}
    if clean and changed:
        out["auroc"] = round(auroc([r["score"] for r in clean], [r["score"] for r in changed]), 4)
    if clean:
        out["clean_flagged"] = round(sum(r["flagged"] for r in clean) / len(clean), 4)
    if changed:
        out["changed_flagged_on_object"] = round(sum(r["hit"] for r in changed) / len(changed), 4)
    return out


def evaluate(n: int, seed0: int, width: int, length: int, verbose: bool = False) -> dict[str, Any]:
    """Compare `n` clean and `n` changed independent pairs; the summary as a dict."""
    config = CompareConfig()
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for seed in range(seed0, seed0 + n):
        for changed in (False, True):
            p = pair(seed, changed, width=width, length=length)
            result = compare(p.reference, p.probe, config)
            row = {"seed": seed, "changed": changed, "kind": p.meta["kind"],
                   "objects": [o.kind for o in p.meta["objects"]],
                   "tail_cut": p.meta["tail_cut"]["which"] or "none",
                   "lateral_offset_px": p.meta["lateral_offset_px"], "stretch": p.meta["stretch"]["probe"],
                   "score": result.score, "flagged": result.flagged,
                   "hit": bool(changed and result.flagged and on_mask(result, p.probe_mask)),
                   "matched_fraction": result.matched_fraction, "ms": result.ms,
                   "regions": len(result.regions)}
            rows.append(row)
            if verbose:
                print(json.dumps({**row, "score": round(row["score"], 3), "ms": round(row["ms"], 1),
                                  "matched_fraction": round(row["matched_fraction"], 3)}), flush=True)
    ms = [r["ms"] for r in rows]
    clean_scores = sorted(r["score"] for r in rows if not r["changed"])
    summary: dict[str, Any] = {
        "data": f"models.independent.pairs seeds {seed0}..{seed0 + n - 1}, clean and changed, {length}x{width}",
        "threshold": config.threshold,
        **_rates(rows),
        "clean_score_p95": round(float(np.percentile(clean_scores, 95)), 3),
        "clean_score_max": round(clean_scores[-1], 3),
        "ms_median": round(statistics.median(ms), 1), "ms_max": round(max(ms), 1),
        "by_tail_cut": {cut: _rates([r for r in rows if r["tail_cut"] == cut])
                        for cut in ("none", "reference", "probe")},
        "missed": [f"{r['seed']}:{'+'.join(r['objects'])}" for r in rows if r["changed"] and not r["hit"]],
        "clean_flagged_seeds": [r["seed"] for r in rows if not r["changed"] and r["flagged"]],
        "wall_s": round(time.perf_counter() - started, 1),
    }
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60, help="seeds; each drawn clean and changed (default 60)")
    parser.add_argument("--seed0", type=int, default=130000, help="first seed (default 130000)")
    parser.add_argument("--width", type=int, default=2048, help="columns (default 2048)")
    parser.add_argument("--length", type=int, default=4096, help="rows (default 4096)")
    parser.add_argument("--verbose", action="store_true", help="one JSON line per pair first")
    parser.add_argument("--out", type=Path, help="also write the summary to this JSON file")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    summary = evaluate(args.n, args.seed0, args.width, args.length, args.verbose)
    text = json.dumps(summary, ensure_ascii=False)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
