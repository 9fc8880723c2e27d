"""PatchCore's memory bank: a greedy k-center coreset of the raw normal patch features.

PatchCore (Roth et al., 2022) keeps a subset of all normal patch vectors chosen so that every
normal patch is close to one kept patch, and scores a new patch by its distance to the
nearest kept one. Unlike the `knn` head there is no Gaussian: the pretrained features are
compared as they are (optionally through a fixed random projection, which keeps distances
within a few per cent and makes the bank cheaper), and the bank is larger: a fraction of all
patches, capped so the fitted graph stays fast enough for a lane. The selection itself runs
on a lower-dimensional random projection of the candidates, as in the paper, so that choosing
from a pool of 100,000 patches takes seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.fitting.memory_bank import k_center

SELECTION_DIMS = 64


@dataclass
class PatchBank:
    """Kept patch vectors [M,D] in the head's space and the projection [D,C] into it (None: raw)."""

    bank: np.ndarray
    projection: np.ndarray | None
    neighbours: int
    candidates: int  # patches the bank was chosen from


def _vectors(feats: np.ndarray) -> np.ndarray:
    """Features [T,C,h,w] -> patch vectors [T*h*w, C] float32."""
    return feats.transpose(0, 2, 3, 1).reshape(-1, feats.shape[1]).astype(np.float32)


def random_projection(channels: int, dims: int, rng: np.random.Generator) -> np.ndarray:
    """A Gaussian Johnson-Lindenstrauss matrix [dims, channels] (distances kept in expectation)."""
    return (rng.normal(size=(dims, channels)) / np.sqrt(dims)).astype(np.float32)


def fit_patch_bank(feats: list[np.ndarray], fraction: float, cap: int, rng: np.random.Generator,
                   projection_dims: int = 0, neighbours: int = 1, pool: int = 100_000) -> PatchBank:
    """Coreset of `fraction` of all patches of `feats` (each [T,C,h,w]), at most `cap`, from at most `pool`."""
    total = sum(f.shape[0] * f.shape[2] * f.shape[3] for f in feats)
    per_image = max(1, pool // len(feats))
    parts = []
    for f in feats:
        v = _vectors(f)
        parts.append(v if len(v) <= per_image else v[rng.choice(len(v), per_image, replace=False)])
    points = np.concatenate(parts)
    channels = points.shape[1]
    projection = (random_projection(channels, projection_dims, rng)
                  if 0 < projection_dims < channels else None)
    if projection is not None:
        points = points @ projection.T
    size = int(min(cap, max(16, round(fraction * total)), len(points)))
    if size >= len(points):
        return PatchBank(points.copy(), projection, neighbours, len(points))
    select = points
    if points.shape[1] > SELECTION_DIMS:
        select = points @ random_projection(points.shape[1], SELECTION_DIMS, rng).T
    keep = k_center(np.ascontiguousarray(select, np.float32), size, rng)
    return PatchBank(points[keep].copy(), projection, neighbours, len(points))
