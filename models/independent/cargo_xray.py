"""Side-view transmission X-rays of loaded shipping containers on trucks, clean or with concealed objects.

    render(seed, anomaly, width=3072, height=1024, bits=16) -> Sample

A drive-through / gantry linac scanner (4-9 MeV): columns run along the truck (one per pulse),
rows are height (row 0 at the top); values are transmitted intensity, air near full scale and
the densest cargo near the noise floor. The truck (`cargo_vehicle`), its cargo (`cargo_goods`,
`cargo_bulk`) and the concealed objects (`cargo_threats`) are attenuation maps in metres; the
scan adds an uneven truck speed (columns stretched or compressed by up to 20 %), blur, scatter
glow, beam falloff towards the top and bottom, pulse dose jitter, afterglow along the scan,
quantum and electronic noise with photon starvation, and detector row gains.
`render(seed, False)` and `render(seed, True)` share the truck, cargo, scan and noise; the
anomalous one only adds the objects, and `mask` marks them. `meta["influence_px"]` (rows,
columns) is how far blur, scatter and afterglow can carry an object's effect past its mask.

EVALUATION ONLY: these images exist to measure models. Never train, tune, calibrate
thresholds on, or choose between models with them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Literal

import cv2
import numpy as np

from .cargo_goods import CARGO_KINDS, load_cargo
from .cargo_threats import THREAT_KINDS, draw_threats
from .cargo_vehicle import VEHICLE_KINDS, Vehicle, draw_vehicle, sample_vehicle
from .common import curve_from_knots, fast_normal, rng_streams, smooth_curve, to_uint16, to_uint8
from .container_xray import Sample
from .xray_geom import XGeom

__all__ = ["CARGO_KINDS", "THREAT_KINDS", "VEHICLE_KINDS", "Sample", "ScanConditions", "Vehicle", "render",
           "sample_scan", "sample_vehicle"]

_TAG = 0xCA26
_DOWN = 8  # scatter is computed at 1/8 resolution
MAX_STRETCH = 0.2


@dataclass(frozen=True)
class ScanConditions:
    """The scanner and the pass: beam energy, dose, detector, blur, scatter, afterglow, truck speed."""

    energy_mev: float
    mu_factor: float
    direction: Literal["left_to_right", "right_to_left"]
    photons: float
    electronic: float
    dark: float
    pulse_sigma: float
    dose_drift: float
    row_gain_sigma: float
    module_rows: int
    blur_x: float
    blur_y: float
    scatter: float
    scatter_sigma: float
    falloff: float
    falloff_centre: float
    afterglow: float
    afterglow_tau_px: float
    stretch_amp: float
    stretch_knots: tuple[float, ...]
    air_level: float
    noise_seed: int


def sample_scan(rng: np.random.Generator) -> ScanConditions:
    def r(lo: float, hi: float, nd: int = 4) -> float:
        return round(float(rng.uniform(lo, hi)), nd)

    energy = float(rng.choice([4.0, 6.0, 6.0, 9.0])) + r(-0.3, 0.3, 2)
    return ScanConditions(
        energy_mev=energy, mu_factor=round((6.0 / energy) ** 0.3, 4),
        direction="left_to_right" if rng.random() < 0.5 else "right_to_left",
        photons=round(float(np.exp(rng.uniform(np.log(2e4), np.log(4e5)))), 1),
        electronic=r(2e-5, 1.2e-4, 7), dark=r(3e-5, 3e-4, 7), pulse_sigma=r(0.002, 0.015),
        dose_drift=r(0.0, 0.03), row_gain_sigma=r(0.001, 0.01), module_rows=int(rng.choice([16, 32, 64])),
        blur_x=r(0.4, 1.2, 3), blur_y=r(0.5, 1.3, 3),
        scatter=round(float(np.exp(rng.uniform(np.log(0.001), np.log(0.008)))), 5),
        scatter_sigma=r(2.0, 4.5, 3), falloff=r(0.04, 0.3), falloff_centre=r(-0.2, 0.2),
        afterglow=r(0.005, 0.05), afterglow_tau_px=r(1.5, 8.0, 3), stretch_amp=r(0.02, MAX_STRETCH - 0.02),
        stretch_knots=tuple(round(float(k), 4) for k in rng.uniform(-1, 1, int(rng.integers(3, 10)))),
        air_level=r(0.82, 0.94), noise_seed=int(rng.integers(2**31 - 1)))


def column_map(cond: ScanConditions, width: int) -> tuple[np.ndarray, np.ndarray]:
    """For each image column, the column of the evenly scanned scene it shows; and the local stretch."""
    s = np.clip(1.0 + cond.stretch_amp * curve_from_knots(cond.stretch_knots, width), 1 - MAX_STRETCH + 0.02,
                1 + MAX_STRETCH - 0.02)
    du = 1.0 / s
    pos = np.cumsum(du) - du[0]
    pos *= (width - 1) / pos[-1]
    return pos, 1.0 / np.gradient(pos)


def _warp(img: np.ndarray, pos: np.ndarray) -> np.ndarray:
    h, w = img.shape
    map_x = np.broadcast_to(pos.astype(np.float32)[None, :], (h, w)).copy()
    map_y = np.broadcast_to(np.arange(h, dtype=np.float32)[:, None], (h, w)).copy()
    return cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _kernels(cond: ScanConditions) -> tuple[int, int, int, int, int]:
    """Half-widths (pixels) of the blur (x, y), scatter (low-res) and afterglow kernels, and their reach."""
    bx, by = int(np.ceil(4 * cond.blur_x)), int(np.ceil(4 * cond.blur_y))
    sk = int(np.ceil(3 * cond.scatter_sigma))
    lag = int(np.ceil(5 * cond.afterglow_tau_px))
    return bx, by, sk, lag, _DOWN * (sk + 2)


def influence_px(cond: ScanConditions) -> tuple[int, int]:
    """How far (rows, columns) an object's pixels can change others through blur, scatter, afterglow."""
    bx, by, _, lag, reach = _kernels(cond)
    return by + reach + 3, bx + reach + lag + 4


def detect(att: np.ndarray, cond: ScanConditions) -> np.ndarray:
    """Transmitted intensity as the detector reports it, 0..1 of full scale (float32)."""
    h, w = att.shape
    rng = np.random.default_rng(cond.noise_seed)
    bx, by, sk, lag, _ = _kernels(cond)
    t = cv2.exp(-att)
    t = cv2.GaussianBlur(t, (2 * bx + 1, 2 * by + 1), cond.blur_x, sigmaY=cond.blur_y)  # focal spot, crosstalk
    lo = cv2.resize(t, (max(1, w // _DOWN), max(1, h // _DOWN)), interpolation=cv2.INTER_AREA)
    lo = cv2.GaussianBlur(lo, (2 * sk + 1, 2 * sk + 1), cond.scatter_sigma)
    glow = cv2.resize(lo, (w, h), interpolation=cv2.INTER_LINEAR)
    t = (t + np.float32(cond.scatter) * glow) * np.float32(1.0 / (1.0 + cond.scatter))  # scatter glow
    v = (np.arange(h) + 0.5) / h * 2.0 - 1.0 - cond.falloff_centre
    beam = 1.0 - cond.falloff * np.abs(v) ** 2.2                                       # fan-beam falloff
    dose = (1.0 + cond.pulse_sigma * rng.standard_normal(w)) * (1.0 + cond.dose_drift * smooth_curve(rng, w, 6))
    t *= beam.astype(np.float32)[:, None]
    t *= dose.astype(np.float32)[None, :]
    wts = np.exp(-np.arange(1, lag + 1) / cond.afterglow_tau_px)
    kern = np.zeros(2 * lag + 1, np.float32)
    if cond.direction == "left_to_right":
        kern[lag - np.arange(1, lag + 1)] = wts / wts.sum()   # earlier pulses sit to the left
    else:
        kern[lag + np.arange(1, lag + 1)] = wts / wts.sum()
    lagged = cv2.sepFilter2D(t, -1, kern, np.ones(1, np.float32), borderType=cv2.BORDER_REPLICATE)
    t = np.float32(1.0 - cond.afterglow) * t + np.float32(cond.afterglow) * lagged    # afterglow
    sigma = np.sqrt(np.maximum(t, 0.0) * np.float32(1.0 / cond.photons) + np.float32(cond.electronic**2))
    t += sigma * fast_normal(rng, (h, w))                                              # quantum + electronic noise
    modules = np.repeat(1.0 + 0.4 * cond.row_gain_sigma * rng.standard_normal(h // cond.module_rows + 1),
                        cond.module_rows)[:h]
    rows = modules * (1.0 + cond.row_gain_sigma * rng.standard_normal(h))
    t *= rows.astype(np.float32)[:, None]                                             # detector element gains
    t *= np.float32(cond.air_level)
    t += np.float32(cond.dark)
    return np.maximum(t, 0.0)


def _px_box(g: XGeom, pos: np.ndarray, x0: float, x1: float, z0: float, z1: float) -> list[int]:
    """Rows then columns (end exclusive) of a metre box in the stretched image."""
    cols = np.interp([g.colf(x0), g.colf(x1)], pos, np.arange(len(pos)))
    return [max(0, int(np.floor(g.rowf(z1)))), min(g.height, int(np.ceil(g.rowf(z0)))),
            max(0, int(np.floor(cols[0]))), min(g.width, int(np.ceil(cols[1])))]


def render(seed: int, anomaly: bool, width: int = 3072, height: int = 1024, bits: int = 16) -> Sample:
    """A loaded container truck from `seed`; with `anomaly`, 1-3 objects concealed in its cargo."""
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, not {bits!r}")
    if width < 256 or height < 96:
        raise ValueError(f"image too small: width={width} (>= 256), height={height} (>= 96)")
    r_vehicle, r_cargo, r_scan, r_threat = rng_streams(seed, _TAG, 4)
    v = sample_vehicle(r_vehicle)
    cond = sample_scan(r_scan)
    g = XGeom(height=height, width=width, sx=width / v.scene_w_m, sy=height / v.scene_h_m)
    att = draw_vehicle(v, g)
    cargo, loads, units = load_cargo(v, g, r_cargo)
    att += cargo
    threats: list[Any] = []
    if anomaly:
        d, foot, threats = draw_threats(v, g, units, loads, r_threat)
        if not threats:
            raise RuntimeError(f"seed {seed}: no place found for a concealed object")
        att += d
    att *= np.float32(cond.mu_factor)
    np.maximum(att, 0.0, out=att)
    pos, stretch = column_map(cond, width)
    att = _warp(att, pos)
    # a pixel is in the mask when an object covers a quarter of it or more after the speed warp, so
    # sub-pixel sheets (a false wall seen edge-on) keep their line of mask pixels
    mask = _warp(foot, pos) >= 0.25 if anomaly else np.zeros((height, width), bool)
    unit = detect(att, cond)
    image = to_uint8(unit) if bits == 8 else to_uint16(unit)
    kinds = Counter(s["kind"] for ld in loads for s in ld.segments)
    meta = {
        "seed": int(seed), "anomaly": bool(anomaly), "bits": bits, "kind": v.kind,
        "cargo_kinds": sorted(kinds), "vehicle": asdict(v), "cargo": [asdict(ld) for ld in loads],
        "units": dict(Counter(q.kind for q in units)), "scan": asdict(cond),
        "stretch": {"min": round(float(stretch.min()), 4), "max": round(float(stretch.max()), 4)},
        "anomalies": [asdict(t) for t in threats],
        "object_boxes": [_px_box(g, pos, t.x0_m, t.x1_m, t.z0_m, t.z1_m) for t in threats],
        "boxes_px": [_px_box(g, pos, b.x0_m, b.x1_m, b.z0_m, b.z1_m) for b in v.boxes],
        "mask_fraction": float(mask.mean()), "px_per_m": [round(g.sx, 3), round(g.sy, 3)],
        "influence_px": list(influence_px(cond)), "evaluation_only": True,
    }
    return Sample(image=image, mask=mask, meta=meta)
