"""What a probe pass shows that its registered reference does not: light matching, evidence, regions.

Once the reference is warped onto the probe (`compare_register`), the two still differ by light:
the exposure and the lamps' flicker per row, the fill light per column, and, beside the vehicle,
the lane's own streaks (which did not move with the vehicle). `match_light` fits log gains per
row and per column (medians: an object covers little of either), then an additive per-column
offset (what is constant along the whole pass is the lane, never an object).

`evidence` is a symmetric envelope test: how far the probe leaves the reference's local min/max,
or the reference the probe's (something added, or something hidden by a flat plate), over a few
pixels so that an edge a pixel or two off does not count, in units of the noise expected at that
brightness (estimated from the pair itself).
"""

from __future__ import annotations

import cv2
import numpy as np


def _nanmedian(a: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Median of the non-NaN values along `axis` (the lower middle one) and how many there were;
    one sort (NaNs sort last) is much faster than numpy's nanmedian."""
    ordered = np.sort(a, axis=axis)
    n = np.sum(~np.isnan(a), axis=axis)
    idx = np.expand_dims(np.maximum(n - 1, 0) // 2, axis)
    med = np.take_along_axis(ordered, idx, axis=axis).squeeze(axis)
    return np.where(n > 0, med, np.nan), n


def match_light(probe: np.ndarray, warped: np.ndarray, valid: np.ndarray, min_level: float,
                iterations: int = 2, column_offset: bool = True) -> np.ndarray:
    """`warped` relit like `probe`: per-row and per-column log gains, then a per-column offset."""
    lp = np.log(probe + 1.0)
    lr = np.log(warped + 1.0)
    usable = valid & (probe > min_level) & (warped > min_level) & (probe < 250) & (warped < 250)
    d = np.where(usable, lp - lr, np.nan).astype(np.float32)
    a = np.zeros(d.shape[0], np.float32)
    b = np.zeros(d.shape[1], np.float32)
    for _ in range(iterations):
        ra, na = _nanmedian(d - b[None, :], axis=1)
        a = np.where((na >= 8) & np.isfinite(ra), ra, 0.0).astype(np.float32)
        rb, nb = _nanmedian(d - a[:, None], axis=0)
        b = np.where((nb >= 8) & np.isfinite(rb), rb, 0.0).astype(np.float32)
    a = np.clip(a, -0.7, 0.7)
    b = np.clip(cv2.blur(b[None, :], (5, 1), borderType=cv2.BORDER_REFLECT)[0], -0.7, 0.7)
    relit = (warped + 1.0) * np.exp(a[:, None] + b[None, :]) - 1.0
    if not column_offset:
        return np.clip(relit, 0.0, 255.0).astype(np.float32)
    # the lane beside the vehicle did not move with it: where a column is flat along the whole pass
    # (nothing but the lane, seen the same at every row), an additive offset per column takes it out
    rows = np.nonzero(valid.any(axis=1))[0]
    if rows.size < 8:
        return np.clip(relit, 0.0, 255.0).astype(np.float32)
    p_rows = probe[rows]
    spread = p_rows.std(axis=0)
    noise = float(np.percentile(np.abs(np.diff(p_rows, axis=0)).mean(axis=0), 10)) / 1.13
    flat = np.clip((3.0 * noise + 0.04 * p_rows.mean(axis=0) - spread) / max(noise, 0.5) + 1.0, 0.0, 1.0)
    offset, n = _nanmedian(np.where(valid, probe - relit, np.nan), axis=0)
    offset = np.where((n >= 8) & np.isfinite(offset), offset, 0.0).astype(np.float32) * flat.astype(np.float32)
    return np.clip(relit + offset[None, :], 0.0, 255.0).astype(np.float32)


def noise_model(probe: np.ndarray, relit: np.ndarray, valid: np.ndarray, floor: float,
                bins: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Robust (MAD) sigma of probe - reference by brightness: bin edges' centres and sigmas."""
    diff = (probe - relit)[valid]
    level = relit[valid]
    if diff.size > 200_000:
        pick = np.linspace(0, diff.size - 1, 200_000).astype(np.int64)
        diff, level = diff[pick], level[pick]
    if diff.size < 100:
        return np.array([0.0, 255.0]), np.array([floor, floor])
    edges = np.unique(np.percentile(level, np.linspace(0, 100, bins + 1)))
    centres, sigmas = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = diff[(level >= lo) & (level <= hi)]
        if sel.size < 50:
            continue
        med = float(np.median(sel))
        centres.append((lo + hi) / 2)
        sigmas.append(max(floor, 1.4826 * float(np.median(np.abs(sel - med)))))
    if not centres:
        return np.array([0.0, 255.0]), np.array([floor, floor])
    return np.asarray(centres), np.maximum.accumulate(np.asarray(sigmas))


def evidence(probe: np.ndarray, relit: np.ndarray, valid: np.ndarray, clipped: np.ndarray, envelope: int,
             blur: float, blur_rows: float, noise_floor: float, abs_floor: float,
             z_cap: float) -> tuple[np.ndarray, float]:
    """Per-pixel change in noise units (0 outside `valid`), and the median noise sigma. Where the
    reference was `clipped` (saturated), its value is only a lower bound: the probe may be brighter."""
    if blur > 0:   # along the track more: the passes' motion blur differs
        p = cv2.GaussianBlur(probe, (0, 0), sigmaX=blur, sigmaY=max(blur, blur_rows))
        r = cv2.GaussianBlur(relit, (0, 0), sigmaX=blur, sigmaY=max(blur, blur_rows))
    else:
        p, r = probe, relit
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (envelope, envelope))
    r_hi, r_lo = cv2.dilate(r, k), cv2.erode(r, k)
    r_hi[cv2.dilate(clipped.astype(np.uint8), k) > 0] = 255.0
    p_hi, p_lo = cv2.dilate(p, k), cv2.erode(p, k)
    added = np.maximum(p - r_hi, r_lo - p)
    hidden = np.maximum(r - p_hi, p_lo - r)
    excess = np.maximum(np.maximum(added, hidden), 0.0)
    centres, sigmas = noise_model(p, r, valid, noise_floor)
    sigma = np.interp(np.maximum(p, r), centres, sigmas).astype(np.float32)
    excess[excess < abs_floor] = 0.0
    z = np.minimum(excess / sigma, z_cap).astype(np.float32)
    z[~valid] = 0.0
    return z, float(np.median(sigmas))


def region_polygon(mask: np.ndarray, x0: int, y0: int, fx: int, fy: int) -> list[tuple[int, int]]:
    """The largest outline in `mask` (a crop at x0, y0 of working pixels), in full-resolution pixels."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return []
    contour = cv2.approxPolyDP(max(contours, key=cv2.contourArea), 1.5, True)
    return [(int((x0 + x) * fx), int((y0 + y) * fy)) for x, y in contour[:, 0, :]]
