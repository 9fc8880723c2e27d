"""Compare an under-vehicle pass with the same vehicle's last clean pass: what is new underneath.

Appearance models cannot tell a package strapped under a lorry from the lorry's own parts; the
lorry's previous clean pass can. `compare(reference, probe)` registers the reference onto the probe
and reports what the probe shows that the reference does not:

1. Both line-scan images are reduced (columns by `col_factor`, rows only when the pass is long) and
   converted to float.
2. Coarse registration: strips of the probe are matched (normalised cross-correlation) against the
   whole reference at a further reduced scale; a robust line through the strip matches (row in the
   reference = slope x row in the probe + offset) gives the speed ratio, the lead difference and,
   from the same matches, the lateral offset. The probe is also tried upside down (a vehicle that
   passed in reverse) and the better orientation is kept.
3. Fine registration: each probe strip is matched again at working scale in a small window around
   where the coarse stage put it; the row offsets are median-smoothed and kept monotonic, so an
   uneven speed is followed. Strips that match nothing well (road before or after the vehicle, the
   part of a vehicle the other pass cut off) are not compared.
4. The reference is warped onto the probe (`cv2.remap`), then its per-row (lamp flicker) and
   per-column (fill light) gain is matched to the probe's with ratios of medians.
5. Difference: how far the probe leaves the reference's min/max envelope over a small
   neighbourhood (so edges that moved a pixel or two do not light up), blurred, in units of a
   robust (MAD) noise estimate. The score is the highest mean of that over a small window; regions
   are the connected areas above `pixel_k` that are at least `min_area_px` large, in the probe's
   full-resolution pixels.

numpy + OpenCV only.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge.inference.result import Region


@dataclass(frozen=True)
class CompareConfig:
    """The comparison's knobs; `threshold` decides `flagged`."""

    threshold: float = 8.0          # score (window-mean excess in noise units) at which a pass is flagged
    col_factor: int = 4             # working scale: columns reduced by this
    max_work_rows: int = 2048       # rows reduced (by an integer factor) only above this
    coarse_col_factor: int = 4      # coarse registration: a further reduction of the working image
    coarse_row_factor: int = 2
    max_shift_px: int = 420         # largest lateral offset between the passes (full-resolution columns)
    min_slope: float = 0.7          # reference rows per probe row (speed ratio) considered
    max_slope: float = 1.45
    coarse_strips: int = 28         # probe strips matched against the whole reference
    strip_rows: int = 32            # fine registration strips (working rows)
    strip_step: int = 16
    search_rows: int = 10           # fine search around the coarse prediction (working rows)
    min_ncc: float = 0.45           # a strip that matches less well is not compared
    max_jump_rows: float = 3.0      # a strip this far off its neighbours' median is dropped
    allow_reverse: bool = True      # try the probe upside down too
    gain_min_level: float = 30.0    # pixels darker than this do not vote on the gain corrections
    envelope: int = 5               # min/max envelope of the reference over envelope x envelope
    blur: int = 3
    noise_floor: float = 1.5        # lower bound of the noise estimate (grey levels)
    abs_floor: float = 10.0         # an excess below this many grey levels never counts
    pixel_k: float = 5.0            # region pixels: excess above pixel_k x noise (and abs_floor)
    window_cols: int = 15           # score window (working pixels)
    window_rows: int = 3
    z_cap: float = 40.0             # per-pixel cap so one hot pixel cannot make the score
    close_cols: int = 9             # fragments of one object this close (working columns) are joined
    min_area_px: int = 1500         # smallest region reported (full-resolution pixels)
    max_regions: int = 20


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
    reversed: bool = False
    shift_px: float = 0.0
    """Lateral offset of the probe relative to the reference (full-resolution columns)."""
    slope: float = 1.0
    """Reference rows per probe row (coarse registration)."""
    noise: float = 0.0
    details: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "score": round(self.score, 4),
            "flagged": self.flagged,
            "threshold": self.threshold,
            "regions": [r.to_dict() for r in self.regions],
            "matched_fraction": round(self.matched_fraction, 4),
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


def _reduce(image: np.ndarray, fx: int, fy: int) -> np.ndarray:
    h, w = image.shape
    size = (max(1, w // fx), max(1, h // fy))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA) if (fx, fy) != (1, 1) else image.copy()


def _parabolic(values: np.ndarray, i: int) -> float:
    """Sub-sample peak position around index i of a 1-D array."""
    if 0 < i < values.size - 1:
        a, b, c = float(values[i - 1]), float(values[i]), float(values[i + 1])
        den = a - 2 * b + c
        if den < 0:
            return i + 0.5 * (a - c) / den
    return float(i)


@dataclass
class _Coarse:
    ok: bool
    slope: float = 1.0
    offset: float = 0.0      # coarse reference row = slope * coarse probe row + offset
    dx: float = 0.0          # coarse columns (reference col = probe col + dx)
    quality: float = 0.0
    points: np.ndarray | None = None   # inlier (probe row, reference row) centres, coarse rows
    inlier_share: float = 0.0


def _coarse_register(ref_c: np.ndarray, probe_c: np.ndarray, margin: int, cfg: CompareConfig) -> _Coarse:
    """Strip matches of the probe against the whole reference, and a robust line through them."""
    hr, w = ref_c.shape
    hp = probe_c.shape[0]
    strip = max(6, cfg.strip_rows // cfg.coarse_row_factor // 2)
    step = max(strip, (hp - strip) // max(1, cfg.coarse_strips - 1))
    if hp < strip or hr < strip or w - 2 * margin < 16:
        return _Coarse(False)
    tmpl_cols = slice(margin, w - margin)
    pts: list[tuple[float, float, float, float]] = []
    for p0 in range(0, hp - strip + 1, step):
        tmpl = probe_c[p0:p0 + strip, tmpl_cols]
        if float(tmpl.std()) < 1.0:
            continue
        res = cv2.matchTemplate(ref_c, tmpl, cv2.TM_CCOEFF_NORMED)
        _, best, _, (bx, by) = cv2.minMaxLoc(res)
        if best < 0.3:
            continue
        pts.append((p0 + strip / 2, by + strip / 2, bx - margin, best))
    if len(pts) < 3:
        return _Coarse(False)
    arr = np.asarray(pts, np.float64)
    p, r, dx, s = arr.T
    tol = 2.0 + 0.02 * hp
    best_q, best_in = -1.0, None
    n = len(arr)
    for i in range(n):
        for j in range(i + 1, n):
            if p[j] - p[i] < 2 * strip:
                continue
            slope = (r[j] - r[i]) / (p[j] - p[i])
            if not cfg.min_slope <= slope <= cfg.max_slope:
                continue
            off = r[i] - slope * p[i]
            inl = np.abs(r - (slope * p + off)) <= tol
            q = float(s[inl].sum())
            if q > best_q:
                best_q, best_in = q, inl
    if best_in is None or best_in.sum() < 3:
        return _Coarse(False)
    slope, off = np.polyfit(p[best_in], r[best_in], 1)
    if not cfg.min_slope * 0.95 <= slope <= cfg.max_slope * 1.05:
        return _Coarse(False)
    inl = np.abs(r - (slope * p + off)) <= tol
    if inl.sum() < 3:
        return _Coarse(False)
    order = np.argsort(p[inl])
    points = np.stack([p[inl][order], r[inl][order]], axis=1)
    return _Coarse(True, float(slope), float(off), float(np.median(dx[inl])), float(s[inl].sum()), points,
                   float(inl.sum() / n))


def _fine_register(ref_w: np.ndarray, probe_w: np.ndarray, coarse: _Coarse, margin: int,
                   cy: int, cx: int, cfg: CompareConfig) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-strip reference row offsets at working scale; returns (strip centres, reference rows, dx),
    NaN reference rows where a strip did not register."""
    hr, w = ref_w.shape
    hp = probe_w.shape[0]
    hs, step, win = cfg.strip_rows, cfg.strip_step, cfg.search_rows
    hs = min(hs, hp)
    starts = list(range(0, max(1, hp - hs + 1), step))
    if starts and starts[-1] + hs < hp:
        starts.append(hp - hs)
    assert coarse.points is not None
    # coarse inlier points in working rows, for a piecewise-linear prediction
    pp = (coarse.points[:, 0] + 0.5) * cy - 0.5
    rr = (coarse.points[:, 1] + 0.5) * cy - 0.5
    rr = np.maximum.accumulate(rr)
    dx0 = coarse.dx * cx
    dwin = cx + 2
    centres = np.array([s0 + hs / 2 for s0 in starts], np.float64)
    rows = np.full(centres.size, np.nan)
    dxs = np.full(centres.size, np.nan)
    scores = np.zeros(centres.size)
    for k, p0 in enumerate(starts):
        c = centres[k]
        if pp[0] <= c <= pp[-1]:
            pred = float(np.interp(c, pp, rr))
        else:
            pred = (coarse.slope * ((c + 0.5) / cy - 0.5) + coarse.offset + 0.5) * cy - 0.5
        top = int(round(pred - hs / 2)) - win
        if top + hs + 2 * win <= 0 or top >= hr:
            continue
        t0, t1 = max(0, top), min(hr, top + hs + 2 * win)
        if t1 - t0 < hs + 2:
            continue
        c0 = int(round(margin + dx0)) - dwin
        l0, l1 = max(0, c0), min(w, c0 + (w - 2 * margin) + 2 * dwin)
        tmpl = probe_w[p0:p0 + hs, margin:w - margin]
        if l1 - l0 < tmpl.shape[1] + 2 or float(tmpl.std()) < 1.0:
            continue
        res = cv2.matchTemplate(ref_w[t0:t1, l0:l1], tmpl, cv2.TM_CCOEFF_NORMED)
        _, best, _, (bx, by) = cv2.minMaxLoc(res)
        scores[k] = best
        if best < cfg.min_ncc:
            continue
        sub_y = _parabolic(res[:, bx], by)
        sub_x = _parabolic(res[by, :], bx)
        rows[k] = t0 + sub_y + hs / 2
        dxs[k] = l0 + sub_x - margin
    good = ~np.isnan(rows)
    if good.sum() == 0:
        return centres, rows, dx0
    dx = float(np.median(dxs[good]))
    # consistency: offset (reference row - probe row) against the median of its valid neighbours
    off = rows - centres
    idx = np.nonzero(good)[0]
    keep = good.copy()
    for n_, k in enumerate(idx):
        lo, hi = max(0, n_ - 2), min(idx.size, n_ + 3)
        med = float(np.median(off[idx[lo:hi]]))
        if abs(off[k] - med) > cfg.max_jump_rows:
            keep[k] = False
    rows[~keep] = np.nan
    # monotonic: a strip whose reference row goes back is dropped
    last = -np.inf
    for k in range(rows.size):
        if np.isnan(rows[k]):
            continue
        if rows[k] < last - 0.5:
            rows[k] = np.nan
        else:
            last = rows[k]
    return centres, rows, dx


def _ratio(probe: np.ndarray, ref: np.ndarray, min_level: float) -> np.ndarray:
    ratio = (probe + 1.0) / (ref + 1.0)
    ratio[(ref < min_level) | (probe < min_level)] = np.nan
    return ratio


def _gain(ratio: np.ndarray, axis: int) -> np.ndarray:
    """Median ratio along `axis`, 1 where too few pixels carried it, clipped to a plausible range."""
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            g = np.nanmedian(ratio, axis=axis)
    n = np.sum(~np.isnan(ratio), axis=axis)
    g = np.where((n >= 8) & np.isfinite(g), g, 1.0)
    return np.clip(g, 0.5, 2.0).astype(np.float32)


def _region_polygon(mask: np.ndarray, x0: int, y0: int, fx: int, fy: int) -> list[tuple[int, int]]:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return []
    contour = max(contours, key=cv2.contourArea)
    contour = cv2.approxPolyDP(contour, 1.5, True)
    return [(int((x0 + x) * fx), int((y0 + y) * fy)) for x, y in contour[:, 0, :]]


def compare(reference: np.ndarray, probe: np.ndarray, config: CompareConfig = CompareConfig()) -> CompareResult:
    """Register `reference` (the plate's last clean pass) onto `probe` (the new pass) and score what changed."""
    return _compare(reference, probe, config)


def _compare(reference: np.ndarray, probe: np.ndarray, config: CompareConfig,
             debug: dict[str, np.ndarray] | None = None) -> CompareResult:
    """`compare`; with `debug` a dict, the working-scale images and maps are left in it."""
    start = time.perf_counter()
    cfg = config
    ref = _as_float(reference, "reference")
    prb = _as_float(probe, "probe")
    H, W = prb.shape
    fx = max(1, cfg.col_factor)
    fy = max(1, math.ceil(max(H, ref.shape[0]) / cfg.max_work_rows))

    def empty(reason: float = 0.0, **kw: object) -> CompareResult:
        return CompareResult(0.0, False, cfg.threshold, [], 0.0, (time.perf_counter() - start) * 1000.0,
                             details={"unregistered": 1.0, **{k: float(v) for k, v in kw.items()}})  # type: ignore[arg-type]

    if min(H, ref.shape[0]) < 4 * fy or min(W, ref.shape[1]) < 64:
        return empty()
    ref_w = _reduce(ref, fx, fy)
    prb_w = _reduce(prb, fx, fy)
    if ref_w.shape[1] != prb_w.shape[1]:   # different sensor widths: compare the common part
        wc = min(ref_w.shape[1], prb_w.shape[1])
        ref_w, prb_w = ref_w[:, :wc], prb_w[:, :wc]
    w = prb_w.shape[1]
    cx, cy = max(1, cfg.coarse_col_factor), max(1, cfg.coarse_row_factor)
    ref_c = _reduce(ref_w, cx, cy)
    margin_w = min(w // 3, int(math.ceil(cfg.max_shift_px / fx)) + 4)
    margin_c = max(1, int(math.ceil(margin_w / cx)))

    best: tuple[_Coarse, bool] | None = None
    for flipped in ((False, True) if cfg.allow_reverse else (False,)):
        p = prb_w[::-1] if flipped else prb_w
        co = _coarse_register(ref_c, _reduce(np.ascontiguousarray(p), cx, cy), margin_c, cfg)
        if co.ok and (best is None or co.quality > best[0].quality):
            best = (co, flipped)
        if best is not None and best[0].inlier_share >= 0.6:
            break   # a clear match the right way round: no need to try it reversed
    if best is None:
        return empty()
    coarse, flipped = best
    work = np.ascontiguousarray(prb_w[::-1]) if flipped else prb_w

    centres, rows, dx = _fine_register(ref_w, work, coarse, margin_w, cy, cx, cfg)
    good = ~np.isnan(rows)
    hp = work.shape[0]
    # rows of the probe that show a vehicle (not the empty road before and after it)
    row_level = np.median(work, axis=1)
    road = float(np.percentile(row_level, 2))
    vehicle_rows = row_level > road + 8.0
    if good.sum() == 0:
        return empty()
    # per-row mapping and which rows are covered by a registered strip
    hs = min(cfg.strip_rows, hp)
    covered = np.zeros(hp, bool)
    for c, ok in zip(centres, good):
        if ok:
            covered[max(0, int(c - hs / 2)):int(c + hs / 2)] = True
    y = np.arange(hp, dtype=np.float64)
    off = np.interp(y, centres[good], (rows - centres)[good])
    map_y_row = (y + off).astype(np.float32)
    covered &= (map_y_row >= 0) & (map_y_row <= ref_w.shape[0] - 1)
    n_vehicle = int(vehicle_rows.sum())
    matched_fraction = float((covered & vehicle_rows).sum() / n_vehicle) if n_vehicle else 0.0

    map_x = np.broadcast_to((np.arange(w, dtype=np.float32) + np.float32(dx))[None, :], (hp, w))
    map_y = np.broadcast_to(map_y_row[:, None], (hp, w))
    warped = cv2.remap(ref_w, np.ascontiguousarray(map_x), np.ascontiguousarray(map_y), cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    col_ok = (np.arange(w) + dx >= 0) & (np.arange(w) + dx <= w - 1)
    valid = covered[:, None] & col_ok[None, :]

    # photometric: per-row (lamp flicker) then per-column (fill light) gain of the warped reference,
    # medians of the probe / reference ratio over pixels bright enough to carry it
    rv = np.nonzero(covered)[0]
    cv_ = np.nonzero(col_ok)[0]
    g_row = np.ones(hp, np.float32)
    ratio = _ratio(work[np.ix_(rv, cv_[::2])], warped[np.ix_(rv, cv_[::2])], cfg.gain_min_level)
    g_row[rv] = _gain(ratio, axis=1)
    warped *= g_row[:, None]
    g_col = np.ones(w, np.float32)
    ratio = _ratio(work[np.ix_(rv[::2], cv_)], warped[np.ix_(rv[::2], cv_)], cfg.gain_min_level)
    g_col[cv_] = _gain(ratio, axis=0)
    g_col = cv2.blur(g_col[None, :], (15, 1), borderType=cv2.BORDER_REFLECT)[0]
    warped *= g_col[None, :]

    diff = work - warped
    d = diff[valid]
    med = float(np.median(d))
    noise = max(cfg.noise_floor, 1.4826 * float(np.median(np.abs(d - med))))
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (cfg.envelope, cfg.envelope))
    lo = cv2.erode(warped, k)
    hi = cv2.dilate(warped, k)
    excess = np.maximum(np.maximum(work - hi, lo - work), 0.0)
    if cfg.blur > 1:
        excess = cv2.blur(excess, (cfg.blur, cfg.blur))
    excess[~valid] = 0.0
    excess[excess < cfg.abs_floor] = 0.0
    z = np.minimum(excess / noise, cfg.z_cap).astype(np.float32)
    window = cv2.blur(z, (cfg.window_cols, cfg.window_rows), borderType=cv2.BORDER_CONSTANT)
    score = float(window.max()) if window.size else 0.0
    if debug is not None:
        debug.update(probe=work, warped=warped, z=z, window=window, valid=valid, lo=lo, hi=hi)

    mask = (z > cfg.pixel_k).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (cfg.close_cols, 3)))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
    if score >= cfg.threshold:   # the window that made the score is always part of a region
        wy, wx = np.unravel_index(int(np.argmax(window)), window.shape)
        hy, hx = cfg.window_rows // 2, cfg.window_cols // 2
        mask[max(0, wy - hy):wy + hy + 1, max(0, wx - hx):wx + hx + 1] = 1
    n_lab, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    regions: list[Region] = []
    for lab in range(1, n_lab):
        x0, y0, ww, hh, area = (int(v) for v in stats[lab])
        area_full = area * fx * fy
        sub = labels[y0:y0 + hh, x0:x0 + ww] == lab
        r_score = float(window[y0:y0 + hh, x0:x0 + ww][sub].max())
        if r_score < cfg.threshold or (area_full < cfg.min_area_px and r_score < score):
            continue
        poly = _region_polygon(sub, x0, y0, fx, fy)
        ry0, ry1 = y0 * fy, (y0 + hh) * fy
        if flipped:
            ry0, ry1 = H - ry1, H - ry0
            poly = [(px, H - py) for px, py in poly]
        regions.append(Region(x=x0 * fx, y=max(0, ry0), width=ww * fx, height=min(H, ry1) - max(0, ry0),
                              score=r_score, area=area_full, polygon=poly))
    if regions:  # a sliver (a cross member's edge a row off) weighs by its size: an object is not that small
        weighed = [r.score * min(1.0, r.area / cfg.min_area_px) for r in regions]
        score = max(weighed)
        regions = [r for r, w in zip(regions, weighed) if w >= cfg.threshold]
    regions.sort(key=lambda r: r.score, reverse=True)
    regions = regions[:cfg.max_regions]
    ms = (time.perf_counter() - start) * 1000.0
    return CompareResult(score, score >= cfg.threshold, cfg.threshold, regions, matched_fraction, ms, flipped,
                         dx * fx, coarse.slope, noise,
                         {"strips": float(centres.size), "strips_registered": float(good.sum())})
