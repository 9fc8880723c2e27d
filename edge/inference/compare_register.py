"""Register one line-scan pass of a vehicle onto another: lateral offset, then a monotone row mapping.

A line-scan image's rows are time. Two passes of one vehicle differ across the track by a lateral
offset (tens of px, drifting a little) and along it by a smooth, uneven stretch (the speed, up to
+-25 %), and either may start or stop at another point of the vehicle. Here, on log-high-passed
images (separable fill light, exposure and row banding cancel; the lane's streaks, the same in
every row, are removed with each column's mean):

1. `lateral_offsets`: the column profiles of along-track structure (a line-scan sees lane furniture
   as constant columns, so only the vehicle has any) are correlated; the best peak first, the next
   ones for when its row path is weak.
2. `row_path`: rows are matched by normalised correlation of their profiles; a local alignment
   (dynamic programming, steps of 0.5, 1 or 1.5 reference rows per probe row, a small penalty
   for changing step) finds the best monotone path, which may start and end anywhere: the lead,
   road and a cut-off tail stay unmatched. `fit_path` fits it stiffly and robustly, and an end
   that wandered off that fit (a path run on past a cut tail) is cut.
3. `refine`: probe strips are matched again (2-D, small window, both less their columns' medians)
   against the reference warped by that path, giving per-strip residual row and column offsets;
   `robust_track` and `robust_line` drop the ones that leave their neighbours or the drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

LOG_OFFSET = 4.0                  # grey levels added before the log: dark noise must not dominate


def highpass(image: np.ndarray, sigma: float) -> np.ndarray:
    """log(image) minus its Gaussian blur: multiplicative light, exposure and smooth shading cancel."""
    log = np.log(image.astype(np.float32) + LOG_OFFSET)
    return log - cv2.GaussianBlur(log, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def shift_columns(image: np.ndarray, dx: float) -> np.ndarray:
    """`image` sampled at column x + dx (sub-pixel, edges replicated)."""
    m = np.float32([[1, 0, dx], [0, 1, 0]])
    h, w = image.shape
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def _profile(g: np.ndarray) -> np.ndarray:
    """Per column: mean absolute along-track change, minus a smooth trend, unit norm."""
    prof = np.abs(np.diff(g, axis=0)).mean(axis=0).astype(np.float32)
    prof = prof - cv2.GaussianBlur(prof[None, :], (0, 0), 8)[0]
    return prof / (float(np.linalg.norm(prof)) + 1e-9)


def lateral_offsets(ref_g: np.ndarray, probe_g: np.ndarray, max_shift: int, count: int) -> list[tuple[float, float]]:
    """The `count` highest peaks of the column-profile correlation, best first, as (columns to add to a
    probe column to find the same part in the reference, the peak's correlation).
    Two frame rails make the profile nearly periodic: the highest peak can be a rail's spacing off."""
    pr, pp = _profile(ref_g), _profile(probe_g)
    w = pr.size
    max_shift = max(1, min(max_shift, w // 3))
    core = pp[max_shift:w - max_shift]
    corr = np.array([float(np.dot(core, pr[max_shift + d:w - max_shift + d])) for d in range(-max_shift, max_shift + 1)])
    peaks = [i for i in range(corr.size) if (i == 0 or corr[i] >= corr[i - 1]) and
             (i == corr.size - 1 or corr[i] > corr[i + 1])]
    out: list[tuple[float, float]] = []
    for i in sorted(peaks, key=lambda j: -corr[j])[:count]:
        sub = float(i)
        if 0 < i < corr.size - 1:
            a, b, c = corr[i - 1], corr[i], corr[i + 1]
            den = a - 2 * b + c
            if den < 0:
                sub = i + 0.5 * (a - c) / den
        out.append((sub - max_shift, float(corr[i])))
    return out


def row_descriptors(g: np.ndarray, cols: slice, live: np.ndarray) -> np.ndarray:
    """Each row's profile across `cols`, less each column's mean over the `live` rows (the lane),
    zero-mean unit-norm per row; rows not `live` (a cut-off tail) are all zero and match nothing."""
    d = g[:, cols].astype(np.float32)
    if live.any():
        d = d - d[live].mean(axis=0, keepdims=True)
    d = cv2.GaussianBlur(d, (0, 0), sigmaX=0.7, sigmaY=0.7)
    d -= d.mean(axis=1, keepdims=True)
    d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-6
    d[~live] = 0.0
    return d


@dataclass
class RowPath:
    """A monotone match of probe rows to reference rows (coarse units); rows outside [first, last] unmatched."""

    first: int
    last: int
    ref_rows: np.ndarray     # reference row (fractional) of probe rows first..last
    quality: float           # mean similarity along the path
    score: float             # the local alignment's total


STEPS = np.array([1, 2, 3])   # half reference rows per probe row


def row_path(sim: np.ndarray, tau: float, step_penalty: float) -> RowPath | None:
    """Best local monotone alignment through `sim` (probe rows x reference half-rows).

    Each probe row on the path gains sim - tau; consecutive rows advance 1, 2 or 3 half-rows,
    a change of step costs `step_penalty` per half-row of change. The path starts and ends
    wherever its total is highest (Smith-Waterman), so unmatched leads and tails cost nothing.
    """
    n, m = sim.shape
    if n < 4 or m < 8:
        return None
    gain = (sim - tau).astype(np.float32)
    k = STEPS.size
    pen = step_penalty * np.abs(STEPS[:, None] - STEPS[None, :]).astype(np.float32)   # [new, old]
    pad = int(STEPS.max())
    score = np.full((m + pad, k), -np.inf, np.float32)    # score[pad + j] for reference half-row j
    back = np.zeros((n, m, k), np.int8)                    # previous step index, -1: the path starts here
    best_total, best_at = -np.inf, (0, 0, 0)
    for i in range(n):
        # cand[a, j, b]: arrive at j by step a, having come by step b
        cand = np.stack([score[pad - s:pad - s + m] for s in STEPS]) - pen[:, None, :]
        arg = np.argmax(cand, axis=2)
        val = np.take_along_axis(cand, arg[:, :, None], axis=2)[:, :, 0]
        start = val <= 0
        back[i] = np.where(start, -1, arg).T
        new = gain[i][None, :] + np.where(start, 0.0, val)
        score[pad:] = new.T
        a, j = np.unravel_index(int(np.argmax(new)), new.shape)
        if new[a, j] > best_total:
            best_total, best_at = float(new[a, j]), (i, int(j), int(a))
    if best_total <= 0:
        return None
    i, j, a = best_at
    rows = [j]
    last = i
    while True:
        prev = int(back[i, j, a])
        if prev < 0 or i == 0:
            break
        j -= int(STEPS[a])
        a = prev
        i -= 1
        rows.append(j)
    ref_half = np.asarray(rows[::-1], np.float64)
    first = last - ref_half.size + 1
    quality = float(np.mean(sim[np.arange(first, last + 1), ref_half.astype(int)]))
    return RowPath(first, last, ref_half / 2.0, quality, best_total)


def _hat_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Piecewise-linear (hat function) basis at `knots`, evaluated at `x`."""
    basis = np.zeros((x.size, knots.size))
    for k in range(knots.size):
        basis[:, k] = np.interp(x, knots, np.eye(knots.size)[k])
    return basis


def fit_path(ref_rows: np.ndarray, knot_every: float, tolerance: float, stiffness: float,
             iterations: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """A robust, stiff piecewise-linear fit of the path: knots every `knot_every` rows, Huber-reweighted,
    bends penalised (`stiffness` x the squared change of slope between knots, in rows per knot), so
    an end that wandered off (a path run on past a cut-off tail at the steepest or flattest step)
    cannot pull the fit with it. Returns the fit, kept non-decreasing, and which rows lie within
    `tolerance` of it."""
    n = ref_rows.size
    x = np.arange(n, dtype=np.float64)
    knots = np.linspace(0.0, n - 1.0, max(2, int(round((n - 1) / knot_every)) + 1))
    basis = _hat_basis(x, knots)
    k = knots.size
    bend = np.diff(np.eye(k), n=2, axis=0) * math.sqrt(stiffness * n / max(1, k)) if k >= 3 else np.zeros((0, k))
    weight = np.ones(n)
    fit = ref_rows.astype(np.float64)
    for _ in range(iterations):
        sw = np.sqrt(weight)[:, None]
        a = np.vstack([basis * sw, bend])
        b = np.concatenate([ref_rows * sw[:, 0], np.zeros(bend.shape[0])])
        coef, *_ = np.linalg.lstsq(a, b, rcond=None)
        fit = basis @ coef
        res = np.abs(ref_rows - fit)
        weight = np.where(res <= tolerance, 1.0, tolerance / np.maximum(res, 1e-9)) ** 2
    return np.maximum.accumulate(fit), np.abs(ref_rows - fit) <= tolerance


@dataclass
class Refined:
    """Per-strip residuals after warping by the coarse path: probe strip centre -> (d_row, d_col, ncc)."""

    centres: np.ndarray
    d_rows: np.ndarray     # NaN where the strip did not match
    d_cols: np.ndarray
    ncc: np.ndarray


def without_columns(g: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`g` less each column's median over `rows`: what is the same all along the pass (the lane) is gone."""
    if rows.sum() < 3:
        return g
    return (g - np.median(g[rows], axis=0)[None, :]).astype(np.float32)


def refine(warped_g: np.ndarray, probe_g: np.ndarray, rows_ok: np.ndarray, cols: slice, strip: int, step: int,
           search_rows: int, search_cols: int, min_ncc: float, min_share: float) -> Refined:
    """Match probe strips (at least `min_share` of their rows where `rows_ok`) against the warped
    reference in a small window, both less their columns' medians (else the lane's streaks, which
    did not move, pull towards no shift at all)."""
    h, w = probe_g.shape
    warped_g, probe_g = without_columns(warped_g, rows_ok), without_columns(probe_g, rows_ok)
    starts = list(range(0, max(1, h - strip + 1), step))
    if starts and starts[-1] + strip < h:
        starts.append(h - strip)
    c0, c1 = cols.start or 0, cols.stop if cols.stop is not None else w
    c0, c1 = max(c0, search_cols), min(c1, w - search_cols)
    n = len(starts)
    centres = np.array([s + strip / 2 for s in starts], np.float64)
    d_rows, d_cols, ncc = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n)
    if c1 - c0 < 8:
        return Refined(centres, d_rows, d_cols, ncc)
    for k, s in enumerate(starts):
        if rows_ok[s:s + strip].mean() < min_share:
            continue
        t0, t1 = s - search_rows, s + strip + search_rows
        if t0 < 0 or t1 > h:
            continue
        tmpl = probe_g[s:s + strip, c0:c1]
        if float(tmpl.std()) < 1e-3:
            continue
        res = cv2.matchTemplate(warped_g[t0:t1, c0 - search_cols:c1 + search_cols], tmpl, cv2.TM_CCOEFF_NORMED)
        _, best, _, (bx, by) = cv2.minMaxLoc(res)
        ncc[k] = best
        on_edge = by in (0, res.shape[0] - 1) or bx in (0, res.shape[1] - 1)
        if best < min_ncc or on_edge:   # a maximum on the window's edge is no peak: the offset lies beyond
            continue
        d_rows[k] = _peak(res[:, bx], by) - search_rows
        d_cols[k] = _peak(res[by, :], bx) - search_cols
    return Refined(centres, d_rows, d_cols, ncc)


def _peak(values: np.ndarray, i: int) -> float:
    if 0 < i < values.size - 1:
        a, b, c = float(values[i - 1]), float(values[i]), float(values[i + 1])
        den = a - 2 * b + c
        if den < 0:
            return i + 0.5 * (a - c) / den
    return float(i)


def robust_line(x: np.ndarray, values: np.ndarray, tolerance: float, iterations: int = 4) -> np.ndarray:
    """NaN out values farther than `tolerance` from a Huber-reweighted straight line through them."""
    out = values.copy()
    ok = ~np.isnan(values)
    if ok.sum() < 3:
        return out
    xs, vs = x[ok], values[ok]
    weight = np.ones(xs.size)
    line = np.full(xs.size, float(np.median(vs)))
    for _ in range(iterations):
        coef = np.polyfit(xs, vs, 1, w=np.sqrt(weight))
        line = np.polyval(coef, xs)
        res = np.abs(vs - line)
        weight = np.where(res <= tolerance, 1.0, tolerance / np.maximum(res, 1e-9)) ** 2
    bad = np.nonzero(ok)[0][np.abs(vs - line) > tolerance]
    out[bad] = np.nan
    return out


def robust_track(values: np.ndarray, max_jump: float, window: int = 2) -> np.ndarray:
    """NaN out values far from the median of their valid neighbours (window either side)."""
    out = values.copy()
    idx = np.nonzero(~np.isnan(values))[0]
    for n_, k in enumerate(idx):
        lo, hi = max(0, n_ - window), min(idx.size, n_ + window + 1)
        if abs(values[k] - float(np.median(values[idx[lo:hi]]))) > max_jump:
            out[k] = np.nan
    return out
