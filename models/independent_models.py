"""Score the shipped models on the independent generators: report only, never for training or choice.

    python -m models.evaluate [NAME ...] --split independent [--normal 50 --anomalous 50] [--write]

The images come from `models.independent` (written blind from a description of the scenes; see
models/independent/README.md), delivered the way the model's device delivers them: at the
spec's native size (under_vehicle 2048x4096, the vehicle's length down the rows; empty_container
512 rows high, 8-bit, and cargo_xray 1024 rows high, 16-bit, each as wide as the seed's aspect
says), then resized and tiled by the same `OnnxScorer` the held-out figures use. Clean image `i` and anomalous image `i` share the seed
`SEED0 + i` (the same vehicle or container, pass and noise; the anomalous one only gains
objects), so every pair is a paired test of what the objects add.

Nothing here may tune, calibrate or choose anything: thresholds are the card's as written.
A kind without an independent generator is reported as such.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from models.train.specs import ModelSpec

SEED0 = 300_000

Render = Callable[[int, bool, tuple[int, int]], tuple[np.ndarray, np.ndarray]]


def _under_vehicle(seed: int, anomalous: bool, native: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    from models.independent import undercarriage

    height, width = native
    sample = undercarriage.render(seed, anomalous, width=width, length=height)
    return sample.image, sample.mask


def _empty_container(seed: int, anomalous: bool, native: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    from models.independent import container_xray

    height, width = native
    sample = container_xray.render(seed, anomalous, width=width, height=height, bits=8)
    return sample.image, sample.mask


def _cargo_xray(seed: int, anomalous: bool, native: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    from models.independent import cargo_xray

    height, width = native
    sample = cargo_xray.render(seed, anomalous, width=width, height=height, bits=16)
    return sample.image, sample.mask


RENDERERS: dict[str, tuple[Render, str]] = {
    "under_vehicle": (_under_vehicle, "models/independent/undercarriage.py"),
    "empty_container": (_empty_container, "models/independent/container_xray.py"),
    "cargo_xray": (_cargo_xray, "models/independent/cargo_xray.py"),
}


def has_independent(name: str) -> bool:
    """Whether an independent generator exists for this model's image kind."""
    return name in RENDERERS


def render(spec: ModelSpec, index: int, anomalous: bool) -> tuple[np.ndarray, np.ndarray]:
    """Independent image `index` (clean or with objects) at the device's native size, and its mask."""
    renderer, _ = RENDERERS[spec.name]
    seed = SEED0 + index
    return renderer(seed, anomalous, spec.native_size_for(seed))


def describe(spec: ModelSpec, n_normal: int, n_anomalous: int) -> str:
    """The `data` line written on the card."""
    _, module = RENDERERS[spec.name]
    h, w = spec.native_size
    size = f"{h}x{w}" if spec.width_range is None else f"{h} high, {spec.width_range[0]}-{spec.width_range[1]} x as wide"
    return (f"{n_normal} clean + {n_anomalous} anomalous images from {module} (written blind from a description, "
            f"never used for training, thresholds or selection), seeds {SEED0}+ (clean and anomalous image i share "
            f"seed {SEED0}+i), rendered at the device's native size ({size}), scored through resize/tiling as the core does.")
