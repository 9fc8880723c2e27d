"""Iris codes that behave like real ones, for the iris reader stub and the matching tests.

Each identity (a card id, or an impostor's name) has a stable "iris": white noise seeded by a
hash of the identity, filtered along the angle by a one-sided Gaussian band-pass (a Gabor filter
in the Fourier domain, so real and imaginary parts are a quadrature pair) and smoothed across
rings. A capture adds fresh noise of the same kind (how much sets the genuine distance: about
0.1-0.3), turns the eye by a random fractional number of columns (head tilt, done as a phase
ramp on the periodic angle), takes the two sign bits per cell and masks what eyelids, lashes and
a reflection hide (random bits under the mask, as a real encoder leaves them). Neighbouring
bits are correlated, so an impostor's distance spreads around 0.5 as a binomial with far fewer
degrees of freedom than 4096, and the best over the rotation shifts sits a little below 0.5.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from drivers.iris.messages import CODE_SHAPE, Quality

ROWS, COLS, _ = CODE_SHAPE
CENTRE_CYCLES = 32.0     # Gabor centre frequency, cycles per revolution (a wavelength of 8 columns)
BANDWIDTH_CYCLES = 10.0  # Gaussian envelope in frequency: about 4 columns of envelope in angle
RING_SIGMA = 0.8         # smoothing across rings, in rings
MAX_TILT_COLS = 8.0      # head tilt: up to 8 columns (11 degrees) either way
PUPIL_RADIUS = 0.4       # of the iris radius, for the eyelid geometry of the mask


def _rng(identity: str) -> np.random.Generator:
    digest = hashlib.sha256(f"kouan-iris/{identity}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def _ring_kernel() -> np.ndarray:
    """ROWS x ROWS smoothing matrix across rings (Gaussian, rows renormalised at the edges)."""
    idx = np.arange(ROWS)
    weights = np.exp(-0.5 * ((idx[:, None] - idx[None, :]) / RING_SIGMA) ** 2)
    return weights / weights.sum(axis=1, keepdims=True)


_FREQ = np.fft.fftfreq(COLS, d=1.0 / COLS)            # cycles per revolution, signed
_BAND = np.where(_FREQ > 0, np.exp(-0.5 * ((_FREQ - CENTRE_CYCLES) / BANDWIDTH_CYCLES) ** 2), 0.0)
_RINGS = _ring_kernel()


def gabor_field(rng: np.random.Generator) -> np.ndarray:
    """A complex ROWS x COLS field: white noise through the angular Gabor band and ring smoothing,
    scaled to unit variance per part."""
    spectrum = np.fft.fft(rng.standard_normal((ROWS, COLS)), axis=1) * _BAND
    field = _RINGS @ np.fft.ifft(spectrum, axis=1)
    return field / np.sqrt(np.mean(np.abs(field) ** 2) / 2)


@lru_cache(maxsize=256)
def latent_iris(identity: str) -> np.ndarray:
    """The stable iris of an identity (same identity, same field, on every machine)."""
    field = gabor_field(_rng(identity))
    field.setflags(write=False)
    return field


def rotate(field: np.ndarray, cols: float) -> np.ndarray:
    """Turn a periodic field by `cols` columns (fractional allowed): out[j] = field[j - cols]."""
    ramp = np.exp(-2j * np.pi * _FREQ * cols / COLS)
    return np.fft.ifft(np.fft.fft(field, axis=1) * ramp, axis=1)


def occlusion_mask(rng: np.random.Generator, upper_lid: float, lower_lid: float, lashes: int) -> np.ndarray:
    """ROWS x COLS True where the iris is visible. Lids are parabolas y = h - 0.3 x^2 in units of the
    iris radius (`upper_lid`, `lower_lid`: their heights above / below the centre); lashes are small
    patches just under the upper lid; one specular reflection sits by the pupil."""
    radius = PUPIL_RADIUS + (np.arange(ROWS)[:, None] + 0.5) / ROWS * (1 - PUPIL_RADIUS)
    theta = 2 * np.pi * (np.arange(COLS)[None, :] + 0.5) / COLS
    x, y = radius * np.cos(theta), radius * np.sin(theta)
    visible = (y < upper_lid - 0.3 * x ** 2) & (y > -(lower_lid - 0.3 * x ** 2))
    near_lid = np.argwhere(visible & (y > upper_lid - 0.3 * x ** 2 - 0.3))
    for _ in range(lashes if len(near_lid) else 0):
        r, c = near_lid[rng.integers(len(near_lid))]
        visible[r:r + rng.integers(1, 3), np.arange(c, c + rng.integers(2, 6)) % COLS] = False
    spot = rng.integers(COLS)
    visible[: rng.integers(1, 3), np.arange(spot, spot + rng.integers(3, 8)) % COLS] = False
    return visible


@dataclass(frozen=True)
class SimCapture:
    """What the simulated reader captured: bits of CODE_SHAPE, the mask, the quality, the true tilt."""

    code: np.ndarray
    mask: np.ndarray
    quality: Quality
    tilt_cols: float


class IrisSimulator:
    """Makes captures for identities; `seed` fixes the capture noise (the irises are fixed by name)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def capture(self, identity: str, poor: bool = False, tilt_cols: float | None = None) -> SimCapture:
        """One capture of `identity`'s iris; `poor`: blurred, half covered, off-centre (fails the gate)."""
        rng = self.rng
        tilt = float(rng.uniform(-MAX_TILT_COLS, MAX_TILT_COLS)) if tilt_cols is None else tilt_cols
        noise_var = rng.uniform(1.0, 2.0) if poor else rng.uniform(0.04, 0.42)
        field = rotate(latent_iris(identity) + np.sqrt(noise_var) * gabor_field(rng), tilt)
        for _ in range(20):   # a real reader re-captures until the lids are open enough
            if poor:
                mask = occlusion_mask(rng, rng.uniform(0.1, 0.35), rng.uniform(0.4, 0.7), int(rng.integers(10, 20)))
            else:
                mask = occlusion_mask(rng, rng.uniform(0.5, 1.0), rng.uniform(0.75, 1.05), int(rng.integers(0, 8)))
            if poor or mask.mean() >= 0.72:
                break
        bits = np.stack([field.real > 0, field.imag > 0], axis=-1)
        cover = np.repeat(mask[:, :, None], 2, axis=2)
        bits = np.where(cover, bits, rng.random(bits.shape) < 0.5)
        return SimCapture(bits, cover, self._quality(float(mask.mean()) * 100, poor), tilt)

    def _quality(self, usable_area: float, poor: bool) -> Quality:
        u = self.rng.uniform
        if poor:
            return Quality(round(usable_area), round(u(2, 5)), round(u(15, 28)), round(u(60, 80)), round(u(4, 5.5), 1),
                           round(u(72, 80)), round(u(70, 85)), round(u(40, 70)), round(u(5, 25)))
        return Quality(round(usable_area), round(u(8, 30)), round(u(35, 70)), round(u(85, 100)), round(u(6.5, 7.8), 1),
                       round(u(25, 60)), round(u(92, 100)), round(u(85, 100)), round(u(55, 95)))
