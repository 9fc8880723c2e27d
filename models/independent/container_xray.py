"""Side-view transmission X-rays of shipping containers declared empty, clean or with contents.

    render(seed, anomaly, width=1024, height=384, bits=8) -> Sample

Columns run along the container (the scan direction: one column per source pulse), rows are
height (row 0 at the top). Pixel values are transmitted intensity, so denser is darker; air is
near full scale. `bits=16` gives uint16 from the same scene, noise and detector.
`render(seed, False)` and `render(seed, True)` share container, carrier, detector and noise
draws; the anomalous one adds contents, and `mask` marks them.

EVALUATION ONLY: these images exist to measure models. Never train, tune, calibrate
thresholds on, or choose between models with them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import cv2
import numpy as np

from .common import rng_streams, smooth_curve, smooth_field, to_uint16, to_uint8
from .xray_contents import CONTENT_KINDS, draw_contents
from .xray_structure import ContainerSpec, draw_structure, geometry, sample_container

__all__ = ["CONTENT_KINDS", "ContainerSpec", "ScanConditions", "Sample", "render", "sample_container"]

_TAG = 0x0C7A


@dataclass
class Sample:
    """One scan: pixels, where contents are (all False when empty), and the details."""

    image: np.ndarray
    mask: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScanConditions:
    """The scanner's state during one scan: dose, detector gains, afterglow, noise."""

    direction: Literal["left_to_right", "right_to_left"]
    photons: float
    electronic: float
    pulse_sigma: float
    row_gain_sigma: float
    drift: float
    afterglow: float
    afterglow_tau_px: float
    air_level: float
    noise_seed: int


def sample_scan(rng: np.random.Generator) -> ScanConditions:
    return ScanConditions(
        direction="left_to_right" if rng.random() < 0.5 else "right_to_left",
        photons=round(float(np.exp(rng.uniform(np.log(2000), np.log(30000)))), 1),
        electronic=round(float(rng.uniform(0.0005, 0.003)), 5),
        pulse_sigma=round(float(rng.uniform(0.003, 0.015)), 4),
        row_gain_sigma=round(float(rng.uniform(0.003, 0.015)), 4),
        drift=round(float(rng.uniform(0.01, 0.04)), 4),
        afterglow=round(float(rng.uniform(0.02, 0.08)), 4),
        afterglow_tau_px=round(float(rng.uniform(2.0, 8.0)), 3),
        air_level=round(float(rng.uniform(0.85, 0.95)), 4),
        noise_seed=int(rng.integers(2**31 - 1)),
    )


def _afterglow(signal: np.ndarray, cond: ScanConditions) -> np.ndarray:
    """Scintillator afterglow: each column keeps a decaying share of the columns scanned before it."""
    s = signal if cond.direction == "left_to_right" else signal[:, ::-1]
    rho = np.float32(np.exp(-1.0 / cond.afterglow_tau_px))
    lag = np.empty_like(s)
    state = s[:, 0].copy()
    for c in range(s.shape[1]):
        lag[:, c] = state
        state = rho * state + (1.0 - rho) * s[:, c]
    out = (1.0 - cond.afterglow) * s + cond.afterglow * lag
    return out if cond.direction == "left_to_right" else out[:, ::-1]


def detect(attenuation: np.ndarray, cond: ScanConditions) -> np.ndarray:
    """Transmitted intensity as the detector reports it, 0..1 of full scale (float32)."""
    rng = np.random.default_rng(cond.noise_seed)
    h, w = attenuation.shape
    signal = np.exp(-attenuation).astype(np.float32)
    signal = cv2.GaussianBlur(signal, (0, 0), sigmaX=0.5, sigmaY=0.7)  # beam width, detector crosstalk
    modules = np.repeat(1.0 + 0.01 * rng.standard_normal(h // 32 + 1), 32)[:h]
    rows = modules * (1.0 + cond.row_gain_sigma * rng.standard_normal(h))
    pulses = (1.0 + cond.pulse_sigma * rng.standard_normal(w)) * (1.0 + 0.5 * cond.drift * smooth_curve(rng, w, 5))
    drift = 1.0 + cond.drift * smooth_field(rng, (h, w), max(h, w) / 3.0)
    signal *= drift
    signal *= rows.astype(np.float32)[:, None]
    signal *= pulses.astype(np.float32)[None, :]
    signal = _afterglow(signal, cond)
    sigma = np.sqrt(np.maximum(signal, 0.0) / cond.photons + cond.electronic**2)
    signal += sigma * rng.standard_normal((h, w), dtype=np.float32)
    return signal * np.float32(cond.air_level)


def render(seed: int, anomaly: bool, width: int = 1024, height: int = 384, bits: int = 8) -> Sample:
    """A container from `seed`: empty, or (`anomaly`) holding contents it was declared without."""
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, not {bits!r}")
    if width < 128 or height < 64:
        raise ValueError(f"image too small: width={width} (>= 128), height={height} (>= 64)")
    r_container, r_scan, r_contents = rng_streams(seed, _TAG, 3)
    spec = sample_container(r_container)
    cond = sample_scan(r_scan)
    g = geometry(spec, width, height)
    att = draw_structure(spec, g)
    mask = np.zeros((height, width), bool)
    items: list[Any] = []
    if anomaly:
        contents, mask, items = draw_contents(spec, g, r_contents)
        att += contents
    unit = detect(att, cond)
    image = to_uint8(unit) if bits == 8 else to_uint16(unit)
    meta = {
        "seed": int(seed), "anomaly": bool(anomaly), "bits": bits, "size": spec.size,
        "container": asdict(spec), "scan": asdict(cond), "contents": [asdict(i) for i in items],
        "mask_fraction": float(mask.mean()), "px_per_m": [round(g.sx, 3), round(g.sy, 3)],
        "evaluation_only": True,
    }
    return Sample(image=image, mask=mask, meta=meta)
