"""How well `edge.inference.compare` tells an object under a vehicle from a clean pass, on the project's own pairs.

    python -m models.compare_eval [--split heldout|dev] [--n 40] [--plain] [--no-full-size] [--verbose]

Each index is a plate's reference pass and a second pass of the same plate, rendered by the
under-vehicle stub and decoded, then (unless --plain) made harsher by `models.compare_pairs`: an
uneven speed (probe stretch 0.75-1.25), a lateral shift of tens of px with drift, other fill light,
banding, blur and noise, a lane background, and in a third of the pairs one pass's tail cut off.
The same probe pass is compared clean and with an object (the kinds in turn), so each index is a
paired test. The geometry varies with the index: stub scale 0.25, 0.5 or 1.0 (12, 6 or 3 mm per
row), 2048 or 4096 columns.

Splits: `dev` (plates 晋D20000..., seeds 0...) is what the comparison was tuned on and its threshold
chosen from. `heldout` (plates 鲁C70000..., seeds 70000...) was not, but it has been looked at: its one
flagged clean pair (鲁C70043, a bumper's edge a few rows off at the start of a cut reference) led to
a change of the fine registration, so it is half dev now. `heldout2` (plates 冀A71000..., seeds
71000...) was run once, at the end, with the code as committed; then looked at (2026-12-04: its one
miss, a van registered at a wrong lateral offset, led to the lateral offset candidates), so it is
half dev now too. `heldout3` (plates 闽D72000..., seeds 72000...) was added then and run once, after
that change was committed. --plain gives the
stub's passes as the camera sends them (scale 0.25, 4096 wide; the earlier held-out set).
Prints one JSON line per pair with --verbose, then a summary: image AUROC, the share of clean
pairs flagged at the default threshold, the share of object pairs flagged with a region on the
object, the same by tail cut, ms per pair, and two full-size timing pairs (4096 x 2048 both ways).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from typing import Any

import cv2
import numpy as np

from edge.inference.compare import CompareConfig, CompareResult, compare
from firmware_stubs.undercarriage import VehicleType
from models.compare_pairs import DEV_OBJECTS, dev_pair

SPLITS = {"dev": ("晋D", 20000, 0), "heldout": ("鲁C", 70000, 70000), "heldout2": ("冀A", 71000, 71000),
          "heldout3": ("闽D", 72000, 72000)}
KINDS = list(VehicleType)


def overlaps(result: CompareResult, box: tuple[int, int, int, int] | None) -> bool:
    """Whether a reported region overlaps the object's box (rows r0, r1, columns c0, c1)."""
    if box is None:
        return False
    r0, r1, c0, c1 = box
    return any(g.y < r1 and g.y + g.height > r0 and g.x < c1 and g.x + g.width > c0 for g in result.regions)


def auroc(negatives: list[float], positives: list[float]) -> float:
    """Probability that a positive scores above a negative (ties count half)."""
    neg, pos = np.asarray(negatives), np.asarray(positives)
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (pos.size * neg.size))


def geometry(index: int) -> tuple[float, int, VehicleType | None]:
    """Stub scale, width and vehicle type (None: as the plate draws it) of pair `index`."""
    return [0.25, 0.5, 1.0][index % 3], [2048, 4096][(index // 3) % 2], \
        KINDS[(index // 6) % len(KINDS)] if index % 5 else None


def summarise(rows: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """AUROC, clean flagged and object found on the object, over `rows` (one per compared pass)."""
    clean = [r["score"] for r in rows if r["object"] is None]
    found = [r for r in rows if r["object"] is not None]
    out: dict[str, Any] = {"clean": len(clean), "object": len(found)}
    if clean and found:
        out["auroc"] = round(auroc(clean, [r["score"] for r in found]), 4)
    if clean:
        out["clean_flagged"] = round(sum(s >= threshold for s in clean) / len(clean), 4)
    if found:
        out["object_flagged_on_object"] = round(sum(r["hit"] for r in found) / len(found), 4)
    return out


def evaluate(split: str, n: int, plain: bool, verbose: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Compare `n` indices of `split`: per-pass rows and the summary."""
    config = CompareConfig()
    prefix, plate0, seed0 = SPLITS[split]
    rows: list[dict[str, Any]] = []
    for i in range(n):
        plate, obj = f"{prefix}{plate0 + i:05d}", DEV_OBJECTS[i % len(DEV_OBJECTS)]
        scale, width, kind = (0.25, 4096, None) if plain else geometry(i)
        p = dev_pair(plate, obj, seed0 + i, scale, width, kind, harsh=not plain)
        for probe, label in ((p.clean, None), (p.changed, obj)):
            if label is not None and (probe is None or p.box is None):
                continue   # the object lay in the part of the probe that was cut off
            result = compare(p.reference, probe, config)
            hit = label is not None and result.flagged and overlaps(result, p.box)
            row = {"plate": plate, "object": label, "cut": p.meta.get("cut", "none"), "scale": scale,
                   "width": width, "kind": p.meta["kind"], "score": result.score, "flagged": result.flagged,
                   "hit": hit, "matched_fraction": result.matched_fraction, "ms": result.ms}
            rows.append(row)
            if verbose:
                print(json.dumps({**row, "score": round(result.score, 3), "ms": round(result.ms, 1),
                                  "box": p.box if label else None, "regions": len(result.regions),
                                  "meta": p.meta}, ensure_ascii=False), flush=True)
    ms = [r["ms"] for r in rows]
    clean_scores = sorted(r["score"] for r in rows if r["object"] is None)
    object_scores = sorted(r["score"] for r in rows if r["object"] is not None)
    summary = {"split": split, "plain": plain, "threshold": config.threshold, **summarise(rows, config.threshold),
               "by_cut": {c: summarise([r for r in rows if r["cut"] == c], config.threshold)
                          for c in ("none", "reference", "probe")},
               "clean_score_max": round(clean_scores[-1], 3),
               "clean_score_p95": round(float(np.percentile(clean_scores, 95)), 3),
               "object_score_p10": round(float(np.percentile(object_scores, 10)), 3),
               "object_score_min": round(object_scores[0], 3),
               "missed": [f"{r['plate']}/{r['object']}" for r in rows if r["object"] and not r["hit"]],
               "ms_median": round(statistics.median(ms), 1), "ms_max": round(max(ms), 1)}
    return rows, summary


def full_size_ms(config: CompareConfig) -> dict[str, float]:
    """ms of `compare` on one harsh pair stretched to 4096 x 2048 (rows x columns) and 2048 x 4096."""
    p = dev_pair("鲁C79999", "package", 79999, 1.0, 2048, VehicleType.BOX_TRUCK)
    assert p.changed is not None
    out: dict[str, float] = {}
    for rows, cols in ((4096, 2048), (2048, 4096)):
        ref = cv2.resize(p.reference, (cols, rows), interpolation=cv2.INTER_LINEAR)
        probe = cv2.resize(p.changed, (cols, rows), interpolation=cv2.INTER_LINEAR)
        compare(ref, probe, config)   # warm-up
        out[f"ms_{rows}x{cols}"] = round(min(compare(ref, probe, config).ms for _ in range(3)), 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=sorted(SPLITS), default="heldout2",
                        help="dev (tuned on), heldout (looked at once), heldout2 (default)")
    parser.add_argument("--n", type=int, default=40, help="indices, each compared clean and with an object")
    parser.add_argument("--plain", action="store_true", help="the stub's passes as sent (scale 0.25), no nuisances")
    parser.add_argument("--no-full-size", action="store_true", help="skip the full-size timing pairs")
    parser.add_argument("--verbose", action="store_true", help="one JSON line per compared pass")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    _, summary = evaluate(args.split, args.n, args.plain, args.verbose)
    if not args.no_full_size:
        summary.update(full_size_ms(CompareConfig()))
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
