"""Compare an under-vehicle pass with the same vehicle's last clean pass: what is new underneath.

Appearance models cannot tell a package strapped under a lorry from the lorry's own parts; the
lorry's previous clean pass can. `compare(reference, probe)` registers the reference onto the probe
and reports what the probe shows that the reference does not (or hides):

1. Both passes are reduced to a working scale (about `work_cols` columns and `work_rows` rows, the
   rows by the nearest integer factor) and, further, to a coarse one (`coarse_cols` x
   `coarse_rows`), as log-high-passed images.
2. Coarse registration (`compare_register`): the lateral offset from column profiles of
   along-track structure (the next peaks too while the best one's row path is weak), then a monotone row mapping from a local alignment (dynamic
   programming) of row profiles, which follows an uneven speed and leaves the lead, the road and
   a tail that the other pass cut off unmatched. The probe is also tried upside down (a vehicle
   that passed in reverse); the better alignment is kept.
3. Fine registration at working scale: strips of the probe against the reference warped by that
   mapping, residual row and column offsets per strip (robustly smoothed; the lateral offset may
   drift), composed into the final mapping; `cv2.remap` warps the reference onto the probe.
4. Light (`compare_diff.match_light`): per-row and per-column gains, then a per-column offset.
5. Evidence: a symmetric min/max-envelope excess in noise units; the score is the highest mean of
   it over a `window` x `window` box; regions are the connected areas above `pixel_k`, weighed by
   their size against `min_area_px`, in the probe's full-resolution pixels. Only rows both passes
   cover are compared (`matched_fraction`).

numpy + OpenCV only.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge.inference.compare_align import register, reduce, warp
from edge.inference.compare_config import CompareConfig
from edge.inference.compare_diff import evidence, match_light, region_polygon
from edge.inference.result import Region

__all__ = ["CompareConfig", "CompareResult", "compare"]


@dataclass
class CompareResult:
    """What the probe shows that the reference does not."""

    score: float
    flagged: bool
    threshold: float
    regions: list[Region]
    matched_fraction: float
    """Share of the probe's vehicle rows that registered onto the reference (and were compared)."""
    ms: float
    registered: bool = True
    """Whether the probe registered onto the reference over at least `min_matched_fraction` of its rows; when
    not, nothing was compared (another vehicle, or a pass cut short) and `flagged` says nothing."""
    reversed: bool = False
    shift_px: float = 0.0
    """Lateral offset of the probe relative to the reference (full-resolution columns, median over the pass)."""
    slope: float = 1.0
    """Reference rows per probe row, over the matched rows."""
    noise: float = 0.0
    details: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "score": round(self.score, 4),
            "flagged": self.flagged,
            "threshold": self.threshold,
            "regions": [r.to_dict() for r in self.regions],
            "matched_fraction": round(self.matched_fraction, 4),
            "registered": self.registered,
            "ms": round(self.ms, 2),
            "reversed": self.reversed,
            "shift_px": round(self.shift_px, 1),
            "slope": round(self.slope, 4),
        }


def _as_float(image: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
    if image.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D grey image, got shape {image.shape}")
    if image.dtype == np.uint8:
        return image.astype(np.float32)
    if image.dtype == np.uint16:
        return image.astype(np.float32) * (255.0 / 65535.0)
    if np.issubdtype(image.dtype, np.floating):
        return image.astype(np.float32)
    raise ValueError(f"{name}: unsupported dtype {image.dtype} (uint8 or uint16)")


def compare(reference: np.ndarray, probe: np.ndarray, config: CompareConfig = CompareConfig()) -> CompareResult:
    """Register `reference` (the plate's last clean pass) onto `probe` (the new pass) and score what changed."""
    return _compare(reference, probe, config)


def _compare(reference: np.ndarray, probe: np.ndarray, config: CompareConfig,
             debug: dict[str, object] | None = None) -> CompareResult:
    """`compare`; with `debug` a dict, the working-scale images and maps are left in it."""
    start = time.perf_counter()
    cfg = config
    ref = _as_float(reference, "reference")
    prb = _as_float(probe, "probe")
    H, W = prb.shape

    def empty() -> CompareResult:
        return CompareResult(0.0, False, cfg.threshold, [], 0.0, (time.perf_counter() - start) * 1000.0,
                             registered=False, details={"unregistered": 1.0})

    fx = max(1, round(min(W, ref.shape[1]) / cfg.work_cols))
    fy = max(1, round(max(H, ref.shape[0]) / cfg.work_rows))
    if min(H, ref.shape[0]) < 16 * fy or min(W, ref.shape[1]) < 64:
        return empty()
    ref_w, prb_w = reduce(ref, fx, fy), reduce(prb, fx, fy)
    if ref_w.shape[1] != prb_w.shape[1]:   # different sensor widths: compare the common part
        wc = min(ref_w.shape[1], prb_w.shape[1])
        ref_w, prb_w = ref_w[:, :wc], prb_w[:, :wc]
    reg = register(ref_w, prb_w, cfg, cfg.max_shift_px / fx)
    if reg is None:
        return empty()
    work = np.ascontiguousarray(prb_w[::-1]) if reg.flipped else prb_w
    w = work.shape[1]
    warped = warp(ref_w, reg.map_rows, reg.map_cols, w)
    xs = np.arange(w, dtype=np.float64)
    cols_in = (xs[None, :] + reg.map_cols[:, None] >= 0) & (xs[None, :] + reg.map_cols[:, None] <= w - 1)
    reach = cfg.envelope + 2 * int(math.ceil(2 * max(cfg.blur, cfg.blur_rows)))   # the envelope and blur must not see past an edge
    valid = cv2.erode((reg.matched[:, None] & cols_in).astype(np.uint8), np.ones((reach, reach), np.uint8),
                      borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0

    relit = match_light(work, warped, valid, cfg.gain_min_level, column_offset=cfg.column_offset)
    clipped = warp((ref_w >= cfg.clip_level).astype(np.float32), reg.map_rows, reg.map_cols, w) > 0.01
    z, noise = evidence(work, relit, valid, clipped, cfg.envelope, cfg.blur, cfg.blur_rows, cfg.noise_floor, cfg.abs_floor, cfg.z_cap)
    if cfg.open_px > 1:   # what is thinner than open_px in either direction (an edge a row off) is not an object
        z = cv2.morphologyEx(z, cv2.MORPH_OPEN, np.ones((cfg.open_px, cfg.open_px), np.uint8))
    window = cv2.blur(z, (cfg.window, cfg.window), borderType=cv2.BORDER_CONSTANT)
    score = float(window.max()) if window.size else 0.0
    if debug is not None:
        debug.update(probe=work, warped=relit, z=z, window=window, valid=valid, map_rows=reg.map_rows,
                     dcol=reg.map_cols, fine=reg.fine, path=reg.path, registration=reg, fx=fx, fy=fy)
    regions, score = _regions(window, score, cfg, fx, fy, H, work.shape[0] * fy, reg.flipped)
    ms = (time.perf_counter() - start) * 1000.0
    shift = -float(np.median(reg.map_cols[reg.matched])) * fx if reg.matched.any() else 0.0
    return CompareResult(score, score >= cfg.threshold, cfg.threshold, regions, reg.matched_fraction, ms,
                         reg.matched_fraction >= cfg.min_matched_fraction, reg.flipped, shift, reg.slope, noise,
                         {"strips": float(reg.fine.centres.size),
                          "strips_registered": float(np.sum(~np.isnan(reg.fine.d_rows))),
                          "path_quality": reg.quality})


def _regions(window: np.ndarray, score: float, cfg: CompareConfig, fx: int, fy: int, H: int, flip_h: int,
             flipped: bool) -> tuple[list[Region], float]:
    """Connected areas of the smoothed evidence above `pixel_k`, in the probe's pixels. Each weighs its
    peak by its size against `min_area_px` (a sliver, an edge a row off, is not an object); the score is
    the highest weighed peak (the window's peak where no area rose above `pixel_k`), and the regions
    reported are those whose weighed peak reaches the threshold."""
    mask = (window > cfg.pixel_k).astype(np.uint8)
    n_lab, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    regions: list[tuple[float, Region]] = []
    for lab in range(1, n_lab):
        x0, y0, ww, hh, area = (int(v) for v in stats[lab])
        sub = labels[y0:y0 + hh, x0:x0 + ww] == lab
        peak = float(window[y0:y0 + hh, x0:x0 + ww][sub].max())
        area_full = area * fx * fy
        weighed = peak * min(1.0, area_full / cfg.min_area_px)
        regions.append((weighed, _region(sub, x0, y0, ww, hh, peak, area_full, fx, fy, H, flip_h, flipped)))
    if regions:
        score = max(w for w, _ in regions)
    found = sorted((r for w, r in regions if w >= cfg.threshold), key=lambda r: r.score, reverse=True)
    return found[:cfg.max_regions], score


def _region(sub: np.ndarray, x0: int, y0: int, ww: int, hh: int, peak: float, area: int, fx: int, fy: int,
            H: int, flip_h: int, flipped: bool) -> Region:
    """One component (`sub`, a crop at x0, y0 of working pixels) as a Region in the probe's pixels."""
    poly = region_polygon(sub, x0, y0, fx, fy)
    ry0, ry1 = y0 * fy, (y0 + hh) * fy
    if flipped:   # working row y of the turned probe is its row flip_h / fy - 1 - y
        ry0, ry1 = flip_h - ry1, flip_h - ry0
        poly = [(px, flip_h - py) for px, py in poly]
    ry0, ry1 = max(0, ry0), min(H, ry1)
    return Region(x=x0 * fx, y=ry0, width=ww * fx, height=max(0, ry1 - ry0), score=peak, area=area, polygon=poly)
