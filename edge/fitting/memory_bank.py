"""A memory bank of normal patch features: whitened, then thinned by greedy k-center selection.

Why nearest-neighbour on top of the Gaussian: a real surface (brick and mortar, gravel,
corrugated steel) has several kinds of normal patch, so one Gaussian over all of them is wide
and lets defects hide inside it. The distance to the nearest normal patch, measured after
whitening with the shared Gaussian (so it is a Mahalanobis distance), stays small only for
patches like ones seen before. Greedy k-center (the PatchCore coreset) keeps the rare normal
patch kinds that random sampling would drop, in a bank small enough to be a 1x1 convolution.
"""

from __future__ import annotations

import numpy as np

from edge.fitting.gaussian import Gaussian


def whiten(feats: np.ndarray, gaussian: Gaussian) -> np.ndarray:
    """Features [N,C,h,w] -> whitened vectors [N*h*w, C] (shared Gaussian only)."""
    flat = feats.transpose(0, 2, 3, 1).reshape(-1, feats.shape[1]).astype(np.float32)
    return (flat - gaussian.mean) @ gaussian.whiten.T


def greedy_coreset(points: np.ndarray, size: int, rng: np.random.Generator, pool: int = 20000) -> np.ndarray:
    """Up to `size` rows of `points` [M,C] chosen so every point is near one of them (k-center)."""
    if len(points) > pool:
        points = points[rng.choice(len(points), pool, replace=False)]
    if len(points) <= size:
        return points.copy()
    points = np.ascontiguousarray(points, dtype=np.float32)
    return points[k_center(points, size, rng)].copy()


def k_center(points: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of `size` rows of float32 `points` chosen greedily, each the farthest from those chosen before."""
    norms = np.einsum("ij,ij->i", points, points)
    chosen = [int(rng.integers(len(points)))]
    nearest = norms - 2.0 * (points @ points[chosen[0]]) + norms[chosen[0]]
    for _ in range(size - 1):
        i = int(nearest.argmax())
        chosen.append(i)
        np.minimum(nearest, norms - 2.0 * (points @ points[i]) + norms[i], out=nearest)
    return np.array(chosen)
