"""Register the reference pass onto the probe at working scale: which reference pixel each probe pixel shows.

`register(ref_w, prb_w, config)` takes both passes already reduced to the working scale and
returns a `Registration`: for every probe row the reference row it shows (fractional), the
column offset (the lateral offset, drifting), which probe rows were matched at all, and whether
the probe is the right way round. Coarse-to-fine, with the steps in `compare_register`:

1. coarse (about 128 columns, at most 512 rows): lateral offset from column profiles, a local
   alignment of row profiles (only rows that show a vehicle take part: the road before and after
   it, like the lane beside it, looks the same in every row and would match anything), a stiff
   robust fit of that path whose wandering ends are cut;
2. working scale: strips of the probe against the reference warped by the coarse mapping, their
   residual row offsets robustly tracked and their column offsets held to a straight drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edge.inference.compare_config import CompareConfig
from edge.inference.compare_register import (Refined, RowPath, fit_path, highpass, lateral_offsets, refine,
                                             robust_line, robust_track, row_descriptors, row_path, shift_columns)


@dataclass
class Registration:
    """Where each probe row (working scale, the probe turned the right way round) lies in the reference."""

    flipped: bool             # the probe ran in reverse: its rows were turned upside down
    map_rows: np.ndarray      # reference row of each probe row (NaN: not matched)
    map_cols: np.ndarray      # per probe row: reference column = probe column + map_cols
    matched: np.ndarray       # probe rows both passes show, registered
    vehicle: np.ndarray       # probe rows that show a vehicle
    slope: float              # reference rows per probe row over the matched rows
    quality: float            # mean row similarity along the coarse path
    fine: Refined
    path: RowPath

    @property
    def matched_fraction(self) -> float:
        n = int(self.vehicle.sum())
        return float((self.matched & self.vehicle).sum() / n) if n else 0.0


def reduce(image: np.ndarray, fx: int, fy: int) -> np.ndarray:
    """`image` shrunk by integer factors (area averaging)."""
    if (fx, fy) == (1, 1):
        return image.copy()
    h, w = image.shape
    return cv2.resize(image, (max(1, w // fx), max(1, h // fy)), interpolation=cv2.INTER_AREA)


def live_rows(image: np.ndarray) -> np.ndarray:
    """Rows the camera captured: a cut-off tail (rows of 0) or a constant fill is not a view of anything."""
    return (image.std(axis=1) > 0.5) | (image.max(axis=1) > 2.0)


def vehicle_rows(image: np.ndarray) -> np.ndarray:
    """Rows that show a vehicle: along-track change well above the empty lane's (which, seen by a
    line-scan camera, is the same line every row), gaps shorter than a sixteenth of the pass closed."""
    h = image.shape[0]
    if h < 8:
        return np.ones(h, bool)
    smooth = cv2.blur(image, (5, 1))
    step = np.diff(smooth, axis=0, prepend=smooth[:1])
    step -= np.median(step, axis=1, keepdims=True)   # a row brighter as a whole (banding) is no vehicle
    change = np.abs(step).mean(axis=1)
    floor, level = float(np.percentile(change, 5)), float(np.percentile(change, 90))
    busy = (change > floor + 0.2 * (level - floor)).astype(np.uint8)[:, None]
    span = max(3, h // 16) | 1
    busy = cv2.morphologyEx(busy, cv2.MORPH_CLOSE, np.ones((span, 1), np.uint8), borderType=cv2.BORDER_REPLICATE)
    return cv2.dilate(busy, np.ones((5, 1), np.uint8))[:, 0] > 0


def half_rows(g: np.ndarray) -> np.ndarray:
    """Rows at every half row: row j of the result is row j / 2 of `g`."""
    up = np.empty((2 * g.shape[0] - 1,) + g.shape[1:], np.float32)
    up[0::2] = g
    up[1::2] = 0.5 * (g[:-1] + g[1:])
    return up


@dataclass
class _Coarse:
    path: RowPath
    flipped: bool
    dx: float          # coarse columns: reference column = probe column + dx


def _coarse(ref_c: np.ndarray, prb_c: np.ndarray, cfg: CompareConfig, max_shift: int) -> _Coarse | None:
    """The best row path over the lateral offset candidates: the correlation's best peak, and the next
    `lateral_candidates - 1` only while no path reaches `retry_quality` (they cost a path search each)."""
    gr, gp = highpass(ref_c, cfg.highpass_sigma), highpass(prb_c, cfg.highpass_sigma)
    use_ref = half_rows((live_rows(ref_c) & vehicle_rows(ref_c)).astype(np.float32)[:, None])[:, 0] > 0.99
    use_prb = live_rows(prb_c) & vehicle_rows(prb_c)
    best: _Coarse | None = None
    for dx, _ in lateral_offsets(gr, gp, max_shift, max(1, cfg.lateral_candidates)):
        if best is not None and best.path.quality >= cfg.retry_quality:
            break
        found = _coarse_at(gr, gp, use_ref, use_prb, dx, cfg)
        if found is not None and (best is None or found.path.score > best.path.score):
            best = found
    return best


def _coarse_at(gr: np.ndarray, gp: np.ndarray, use_ref: np.ndarray, use_prb: np.ndarray, dx: float,
               cfg: CompareConfig) -> _Coarse | None:
    """The best row path (either way round) with the reference shifted by `dx` coarse columns;
    `use_ref` (at half rows) and `use_prb` are the rows that show the vehicle."""
    w = gp.shape[1]
    margin = int(math.ceil(abs(dx))) + 2
    if w - 2 * margin < 16:
        return None
    cols = slice(margin, w - margin)
    d_ref = row_descriptors(half_rows(shift_columns(gr, dx)), cols, use_ref)
    d_prb = row_descriptors(gp, cols, use_prb)
    sim = d_prb @ d_ref.T
    best: _Coarse | None = None
    for flipped in ((False, True) if cfg.allow_reverse else (False,)):
        path = row_path(sim[::-1] if flipped else sim, cfg.tau, cfg.step_penalty)
        if path is None or path.quality < cfg.min_path_quality or path.last - path.first + 1 < cfg.min_path_rows:
            continue
        if best is None or path.score > best.path.score:
            best = _Coarse(path, flipped, dx)
    return best


def _coarse_rows(coarse: _Coarse, cfg: CompareConfig) -> tuple[int, int, np.ndarray] | None:
    """The path's rows first..last and their fitted reference rows, wandering ends cut."""
    path = coarse.path
    fit, inlier = fit_path(path.ref_rows, cfg.knot_rows, cfg.path_tolerance, cfg.path_stiffness)
    keep = np.nonzero(inlier)[0]
    if keep.size < cfg.min_path_rows:
        return None
    first, last = path.first, path.last
    if keep[0] > 0 or keep[-1] < inlier.size - 1:   # an end that wandered off (past a cut tail): cut, fit again
        first, last = first + int(keep[0]), first + int(keep[-1])
        fit, _ = fit_path(path.ref_rows[keep[0]:keep[-1] + 1], cfg.knot_rows, cfg.path_tolerance,
                          cfg.path_stiffness)
    return first, last, fit


def _to_working(first: int, last: int, fit: np.ndarray, cy: int, hp: int, hr: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Coarse path -> reference row per working probe row (NaN outside), matched rows, slope."""
    pc = (np.arange(first, last + 1) + 0.5) * cy - 0.5     # coarse row i centres at (i + 0.5) cy - 0.5
    rc = (fit + 0.5) * cy - 0.5
    y = np.arange(hp, dtype=np.float64)
    slope = float(np.polyfit(pc, rc, 1)[0]) if pc.size >= 2 else 1.0
    map_rows = np.interp(y, pc, rc, left=np.nan, right=np.nan)
    y0, y1 = max(0, int(math.floor(pc[0] - cy / 2))), min(hp, int(math.ceil(pc[-1] + cy / 2)))
    ends = np.zeros(hp, bool)
    ends[y0:y1] = True
    if pc.size >= 4:   # within half a coarse row beyond each end, extend with the local slope
        lo = (rc[3] - rc[0]) / max(1e-6, pc[3] - pc[0])
        hi = (rc[-1] - rc[-4]) / max(1e-6, pc[-1] - pc[-4])
        before, after = ends & (y < pc[0]), ends & (y > pc[-1])
        map_rows[before] = rc[0] + (y[before] - pc[0]) * lo
        map_rows[after] = rc[-1] + (y[after] - pc[-1]) * hi
    inside = np.nan_to_num(map_rows, nan=-1.0)
    matched = ends & (inside >= 0) & (inside <= hr - 1)
    return map_rows, matched, slope


def _carried_on(map_rows: np.ndarray, matched: np.ndarray, hr: int, run: int = 8) -> np.ndarray:
    """`map_rows` beyond the matched span continued at the slope of its last `run` rows, within the reference."""
    idx = np.nonzero(matched)[0]
    out = map_rows.copy()
    if idx.size < 2:
        return out
    y = np.arange(map_rows.size, dtype=np.float64)
    a, b = idx[0], idx[-1]
    k = min(run, idx.size - 1)
    lo = (map_rows[a + k] - map_rows[a]) / k
    hi = (map_rows[b] - map_rows[b - k]) / k
    out[:a] = map_rows[a] + (y[:a] - a) * lo
    out[b + 1:] = map_rows[b] + (y[b + 1:] - b) * hi
    return np.clip(out, 0.0, hr - 1.0)


def warp(image: np.ndarray, map_rows: np.ndarray, map_cols: np.ndarray, width: int) -> np.ndarray:
    """`image` (the reference) sampled at (map_rows[y], x + map_cols[y]) for every probe pixel."""
    hp = map_rows.size
    xs = np.arange(width, dtype=np.float32)
    my = np.broadcast_to(np.nan_to_num(map_rows, nan=0.0).astype(np.float32)[:, None], (hp, width))
    mx = xs[None, :] + map_cols.astype(np.float32)[:, None]
    return cv2.remap(image, np.ascontiguousarray(mx), np.ascontiguousarray(my), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def register(ref_w: np.ndarray, prb_w: np.ndarray, cfg: CompareConfig, max_shift_w: float) -> Registration | None:
    """The reference registered onto the probe (both at working scale, one width); None: they do not match."""
    hp, w = prb_w.shape
    hr = ref_w.shape[0]
    cx = max(1, round(w / cfg.coarse_cols))
    cy = max(1, math.ceil(max(hp, hr) / cfg.coarse_rows))
    coarse = _coarse(reduce(ref_w, cx, cy), reduce(prb_w, cx, cy), cfg, int(math.ceil(max_shift_w / cx)) + 1)
    if coarse is None:
        return None
    rows = _coarse_rows(coarse, cfg)
    if rows is None:
        return None
    work = np.ascontiguousarray(prb_w[::-1]) if coarse.flipped else prb_w
    map_rows, matched, slope = _to_working(*rows, cy, hp, hr)
    vehicle = vehicle_rows(work)

    sigma = cfg.highpass_sigma * max(cx, cy)
    g_ref, g_prb = highpass(ref_w, sigma), highpass(work, sigma)
    map_cols = np.full(hp, coarse.dx * cx)
    margin = int(math.ceil(abs(coarse.dx * cx))) + cfg.search_cols + 2
    search_rows = int(math.ceil(cfg.search_coarse_rows * cy)) + 2
    # strips that reach past the matched rows (the bumper's edge is a good one) see the reference
    # warped by the mapping carried on at its end slopes
    fine = refine(warp(g_ref, _carried_on(map_rows, matched, hr), map_cols, w), g_prb, matched & vehicle,
                  slice(margin, w - margin), cfg.strip_rows, cfg.strip_step, search_rows, cfg.search_cols,
                  cfg.min_ncc, cfg.strip_min_share)
    d_rows = robust_track(fine.d_rows, cfg.max_jump_rows)
    d_cols = robust_line(fine.centres, fine.d_cols, cfg.drift_tolerance)   # a lateral drift is slow and smooth
    good = ~np.isnan(d_rows) & ~np.isnan(d_cols)
    y = np.arange(hp, dtype=np.float64)
    if good.any():
        res_r = np.interp(y, fine.centres[good], d_rows[good])
        res_c = np.interp(y, fine.centres[good], d_cols[good])
        # the probe row y shows what the warped reference shows at y + res_r
        ys, src = y[matched], map_rows[matched]
        slope_at = np.gradient(src) if src.size >= 2 else np.ones(src.size)
        at = y + res_r
        moved = np.interp(at, ys, src)   # beyond the matched span: extended with the end slopes
        if src.size >= 2:
            moved = np.where(at < ys[0], src[0] + (at - ys[0]) * slope_at[0], moved)
            moved = np.where(at > ys[-1], src[-1] + (at - ys[-1]) * slope_at[-1], moved)
        map_rows = np.where(matched, moved, map_rows)
        map_cols = map_cols + res_c
    inside = np.nan_to_num(map_rows, nan=-1.0)
    matched &= (inside >= 0) & (inside <= hr - 1) & live_rows(work)
    live_ref = live_rows(ref_w)
    src_rows = np.clip(inside, 0, hr - 1)
    matched &= live_ref[np.floor(src_rows).astype(int)] & live_ref[np.ceil(src_rows).astype(int)]
    return Registration(coarse.flipped, map_rows, map_cols, matched, vehicle, slope, coarse.path.quality,
                        fine, coarse.path)
