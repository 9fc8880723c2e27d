"""Same-vehicle pass pairs for a comparison check: a reference pass and a later probe pass.

    pair(seed, changed, width=2048, length=4096) -> Pair

Both images show one `VehicleSpec` over the same lane camera. Between them only the pass
differs: lateral offset (10..60 px either way), uneven speed (the probe's line-scan stretch
anywhere in 0.75..1.25, changing smoothly along the vehicle; the reference's within a few %),
fill light, banding, noise, motion blur, and in about a third of pairs one pass's tail is cut
(the last 5..20 % of the vehicle not captured; those rows are 0). `changed=True` adds one
foreign object to the probe only, and `probe_mask` marks it.

EVALUATION ONLY: these pairs exist to measure comparison models. Never train, tune,
calibrate thresholds on, or choose between models with them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .common import curve_from_knots, rng_streams
from .undercarriage import boxes, render_vehicle
from .uvss_imaging import STRETCH_LIMITS, PassConditions, sample_pass, scales
from .uvss_objects import ForeignObject, sample_object
from .uvss_vehicle import VehicleSpec, sample_vehicle

__all__ = ["Pair", "pair"]

_TAG = 0x9A15


@dataclass
class Pair:
    """A reference and a probe pass of one vehicle; `probe_mask` is what only the probe has."""

    reference: np.ndarray
    probe: np.ndarray
    probe_mask: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


def _stretch_summary(cond: PassConditions) -> dict[str, float]:
    f = np.clip(curve_from_knots(cond.stretch_knots, cond.length), *STRETCH_LIMITS)
    return {"min": round(float(f.min()), 4), "mean": round(float(f.mean()), 4), "max": round(float(f.max()), 4)}


def pair(seed: int, changed: bool, width: int = 2048, length: int = 4096) -> Pair:
    """A reference/probe pair from `seed`; with `changed` the probe carries one added object."""
    if width < 256 or length < 256:
        raise ValueError(f"image too small for a pair: width={width}, length={length} (both must be >= 256)")
    r_vehicle, r_ref, r_probe, r_nuisance, r_object = rng_streams(seed, _TAG, 5)
    spec: VehicleSpec = sample_vehicle(r_vehicle)
    sx, sy, n_rows = scales(width, length, spec.length_m, STRETCH_LIMITS[1])
    lane_seed = int(r_nuisance.integers(2**31 - 1))
    ref_offset = float(r_nuisance.uniform(-20.0, 20.0))
    delta = float(r_nuisance.choice([-1.0, 1.0]) * r_nuisance.uniform(10.0, 60.0))
    cut_roll = float(r_nuisance.random())
    cut_fraction = float(r_nuisance.uniform(0.05, 0.2))
    cut_which = "reference" if cut_roll < 0.17 else "probe" if cut_roll < 0.35 else None
    reference = sample_pass(r_ref, width, n_rows, sx, sy, lane_seed, base_range=(0.97, 1.03), wobble=0.03,
                            offset_px=ref_offset, tail_cut=cut_fraction if cut_which == "reference" else 0.0)
    probe = sample_pass(r_probe, width, n_rows, sx, sy, lane_seed, base_range=(0.8, 1.2), wobble=0.08,
                        offset_px=ref_offset + delta, tail_cut=cut_fraction if cut_which == "probe" else 0.0)
    objects: list[ForeignObject] = []
    ref_img, _ = render_vehicle(spec, [], reference)
    if changed:
        for _ in range(8):  # the object must land in rows the probe actually shows
            objects = [sample_object(r_object, spec, y_range=(0.06, 0.75))]
            probe_img, probe_mask = render_vehicle(spec, objects, probe)
            if probe_mask.any():
                break
        else:
            raise RuntimeError(f"seed {seed}: no visible placement for the probe's object")
    else:
        probe_img, probe_mask = render_vehicle(spec, [], probe)
    meta = {
        "seed": int(seed), "changed": bool(changed), "kind": spec.kind,
        "vehicle": spec, "reference_pass": reference, "probe_pass": probe, "objects": objects,
        "lateral_offset_px": round(delta, 3), "stretch": {"reference": _stretch_summary(reference),
                                                          "probe": _stretch_summary(probe)},
        "tail_cut": {"which": cut_which, "fraction": round(cut_fraction, 4) if cut_which else 0.0},
        "object_boxes": boxes(probe_mask.astype(np.uint8), 1) if changed else [],
        "mask_fraction": float(probe_mask.mean()),
        "summary": {"vehicle": asdict(spec), "reference_pass": asdict(reference), "probe_pass": asdict(probe),
                    "objects": [asdict(o) for o in objects]},
        "evaluation_only": True,
    }
    return Pair(reference=ref_img, probe=probe_img, probe_mask=probe_mask, meta=meta)
