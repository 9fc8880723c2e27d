"""The linac line scanner's own effects on a container transmission image.

Row and module gains, per-pulse dose and slow drift, afterglow trail along the scan, blur,
dose-dependent noise. Applied in scan time, after the device nuisances.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.signal import lfilter

from models.generators.common import smooth_noise


def detector_effects(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Photometric effects of a linac line scanner on a transmission image in [0, 1]:
    per-row gain and detector-module steps, per-pulse dose jitter and slow source drift,
    afterglow trail along the scan after dense edges, mild blur, dose-dependent noise."""
    h, w = img.shape
    ref = h / 512.0
    out = img.astype(np.float32)
    # afterglow / detector lag: each line keeps a little of the previous lines' signal
    if rng.random() < 0.8:
        k = rng.uniform(0.01, 0.08)
        decay = np.exp(-1.0 / max(rng.uniform(1.5, 14.0) * ref, 0.5))
        src = out[:, ::-1] if rng.random() < 0.5 else out
        lag = lfilter([1 - decay], [1, -decay], src, axis=1).astype(np.float32)
        lag = np.concatenate([src[:, :1], lag[:, :-1]], axis=1)  # only the *previous* lines glow on
        mixed = (1 - k) * src + k * lag
        out = mixed[:, ::-1] if src is not out else mixed
        out = np.ascontiguousarray(out)
    # mild blur: crosstalk between detector elements, pulse integration along the scan
    sy, sx = rng.uniform(0.0, 0.9) * ref, rng.uniform(0.0, 0.7) * ref
    if max(sy, sx) > 0.15:
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=max(sx, 0.01), sigmaY=max(sy, 0.01))
    # rows: element gain residuals after calibration, and steps between detector modules
    rows = 1.0 + rng.uniform(0.001, 0.01) * rng.standard_normal(h)
    module = max(int(round(float(rng.choice([16, 24, 32, 48, 64])) * ref)), 2)
    start = int(rng.integers(0, module))
    n_mod = (h + module) // module + 1
    steps = 1.0 + rng.uniform(0.002, 0.02) * rng.standard_normal(n_mod)
    rows *= np.repeat(steps, module)[start:start + h]
    if rng.random() < 0.1:  # a weak element
        rows[int(rng.integers(h))] *= rng.uniform(0.85, 0.97)
    # columns: linac pulse-to-pulse dose jitter and slow drift of the source output
    cols = 1.0 + rng.uniform(0.001, 0.012) * rng.standard_normal(w)
    cols *= 1.0 + rng.uniform(0.005, 0.04) * smooth_noise(rng, (1, w), w / rng.uniform(2, 10))[0]
    out = out * rows[:, None].astype(np.float32) * cols[None, :].astype(np.float32)
    # dose-dependent (quantum) noise: relative noise grows where little gets through
    dose = rng.uniform(0.002, 0.022)
    out = out + dose * np.sqrt(np.clip(out, 1e-4, 1.0)) * rng.standard_normal(out.shape).astype(np.float32)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
