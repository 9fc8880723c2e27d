"""How well `edge.inference.compare` tells an object under a vehicle from a clean pass, on held-out stub pairs.

    python -m models.compare_eval [--n 40] [--start 70000] [--no-full-size]

Each pair is a plate's clean reference pass and a second pass of the same plate (its own pass id,
so new lateral offset, lead, speed, speed change, flicker phase and noise), rendered by the
under-vehicle stub as the camera sends it (JPEG, scale 0.25) and decoded. The plates 鲁C<start>...
were never used while the comparison was tuned (that used 新F1000x and the test plates). Half the
pairs are clean, half carry an object (the kinds in turn, the vehicle type as the plate draws it).
Prints one JSON line per pair with --verbose, then a summary: image AUROC, the share of clean pairs
flagged at the default threshold, the share of object pairs flagged with a region that overlaps
the object's box, the median ms per pair, and one full-size pair (scale 1.0) for the timing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from datetime import datetime, timezone

import numpy as np

from drivers.under_vehicle import decode_pass
from edge.inference.compare import CompareConfig, CompareResult, compare
from firmware_stubs.under_vehicle import CameraConfig, PassEvent, PassTruth, render_pass
from firmware_stubs.undercarriage import OBJECT_KINDS, VehicleType

PASS_TIME = datetime(2024, 6, 1, 9, 0, tzinfo=timezone.utc)


def stub_pass(plate: str, obj: str | None, pass_id: str, scale: float = 0.25,
              kind: VehicleType | None = None) -> tuple[np.ndarray, PassTruth]:
    message, truth = render_pass(PassEvent(0.0, "pass", plate, obj, kind), CameraConfig(scale=scale), pass_id,
                                 PASS_TIME)
    return decode_pass(message, "uv1").image(), truth


def overlaps(result: CompareResult, box: tuple[int, int, int, int] | None) -> bool:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="clean pairs and object pairs each (default 40)")
    parser.add_argument("--start", type=int, default=70000, help="first plate number (default 70000)")
    parser.add_argument("--no-full-size", action="store_true", help="skip the full-size timing pair")
    parser.add_argument("--verbose", action="store_true", help="one JSON line per pair")
    args = parser.parse_args(argv)
    config = CompareConfig()
    clean: list[CompareResult] = []
    found: list[CompareResult] = []
    hits, kinds_missed = 0, []
    for i in range(2 * args.n):
        plate = f"鲁C{args.start + i // 2:05d}"
        obj = None if i % 2 == 0 else OBJECT_KINDS[(i // 2) % len(OBJECT_KINDS)]
        reference, ref_truth = stub_pass(plate, None, f"eval-ref-{i}")
        probe, truth = stub_pass(plate, obj, f"eval-probe-{i}")
        result = compare(reference, probe, config)
        hit = bool(obj) and result.flagged and overlaps(result, truth.object_box)
        (found if obj else clean).append(result)
        if obj:
            hits += hit
            if not hit:
                kinds_missed.append(f"{truth.kind.value}/{obj}")
        if args.verbose:
            print(json.dumps({"plate": plate, "kind": truth.kind.value, "object": obj, "box": truth.object_box,
                              "rows": probe.shape[0], **result.to_dict(), "hit": hit}, ensure_ascii=False))
    summary = {
        "pairs_clean": len(clean), "pairs_object": len(found), "threshold": config.threshold,
        "auroc": round(auroc([r.score for r in clean], [r.score for r in found]), 4),
        "clean_flagged": round(sum(r.flagged for r in clean) / len(clean), 4),
        "object_flagged_on_object": round(hits / len(found), 4),
        "object_flagged_any": round(sum(r.flagged for r in found) / len(found), 4),
        "missed": kinds_missed,
        "clean_score_max": round(max(r.score for r in clean), 3),
        "object_score_min": round(min(r.score for r in found), 3),
        "matched_fraction_min": round(min(r.matched_fraction for r in clean + found), 3),
        "ms_median_scale_0.25": round(statistics.median(r.ms for r in clean + found), 1),
        "ms_max_scale_0.25": round(max(r.ms for r in clean + found), 1),
    }
    if not args.no_full_size:
        plate = f"鲁C{args.start + args.n + 1:05d}"
        reference, _ = stub_pass(plate, None, "eval-full-ref", 1.0, VehicleType.BOX_TRUCK)
        probe, truth = stub_pass(plate, "package", "eval-full-probe", 1.0, VehicleType.BOX_TRUCK)
        compare(reference, probe, config)   # warm-up
        result = compare(reference, probe, config)
        summary.update({"full_size_rows": probe.shape[0], "full_size_ms": round(result.ms, 1),
                        "full_size_flagged_on_object": result.flagged and overlaps(result, truth.object_box)})
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
