"""Gaussian statistics of normal features and the whitening that turns them into distances.

Two kinds, chosen by whether the site's images are aligned:

- **shared** (textures, surfaces, line-scan undercarriages, anything where a defect can be
  anywhere and the view is not registered): one mean and covariance over every feature
  position of every normal image. Accumulated as sums, so any number of tiles fits in memory.
- **per-position** (PaDiM proper; aligned views such as a fixed camera on a container
  interior): one mean and covariance per feature-map position, each estimated from that
  position and its 3x3 neighbours in all images (nine times more samples than images, which
  keeps a covariance from 50 images well conditioned).

Both are stored as (mean, W) with W = inverse Cholesky factor of the shrunk covariance, so
that |W (f - mean)|² is the squared Mahalanobis distance; the ONNX head computes exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FeatureSums:
    """Sufficient statistics of a set of feature vectors (float64)."""

    count: int
    total: np.ndarray  # [C]
    outer: np.ndarray  # [C, C]

    @classmethod
    def of(cls, feats: np.ndarray) -> FeatureSums:
        """Statistics of features [N, C, h, w] pooled over all positions."""
        flat = feats.transpose(1, 0, 2, 3).reshape(feats.shape[1], -1).astype(np.float64)
        return cls(flat.shape[1], flat.sum(axis=1), flat @ flat.T)

    def __add__(self, other: FeatureSums) -> FeatureSums:
        return FeatureSums(self.count + other.count, self.total + other.total, self.outer + other.outer)


@dataclass
class Gaussian:
    """Mean and whitening matrix; shared ([C], [C,C]) or per position ([P,C], [P,C,C])."""

    mean: np.ndarray
    whiten: np.ndarray
    per_position: bool

    def distance(self, feats: np.ndarray) -> np.ndarray:
        """Mahalanobis distance map [N,1,h,w] of features [N,C,h,w] (numpy reference of the head)."""
        n, c, h, w = feats.shape
        if self.per_position:
            f = feats.reshape(n, c, h * w).transpose(2, 0, 1) - self.mean[:, None, :]
            z = np.einsum("pnc,pdc->pnd", f, self.whiten)
            return np.sqrt((z**2).sum(-1)).T.reshape(n, 1, h, w)
        f = feats - self.mean[None, :, None, None]
        z = np.einsum("dc,nchw->ndhw", self.whiten, f)
        return np.sqrt((z**2).sum(1, keepdims=True))


def _shrink(cov: np.ndarray, shrinkage: float) -> np.ndarray:
    """Blend the covariance towards a scaled identity (per matrix) so it inverts stably."""
    c = cov.shape[-1]
    scale = np.trace(cov, axis1=-2, axis2=-1)[..., None, None] / c
    eye = np.eye(c)
    return (1 - shrinkage) * cov + shrinkage * scale * eye + 1e-9 * eye


def _inverse_cholesky(cov: np.ndarray) -> np.ndarray:
    chol = np.linalg.cholesky(cov)
    eye = np.broadcast_to(np.eye(cov.shape[-1]), cov.shape)
    return np.linalg.solve(chol, eye)


def fit_shared(sums: FeatureSums, shrinkage: float = 0.01) -> Gaussian:
    """One Gaussian over all positions, from accumulated sums."""
    if sums.count < 2:
        raise ValueError("need at least two feature vectors to fit a Gaussian")
    mean = sums.total / sums.count
    cov = sums.outer / sums.count - np.outer(mean, mean)
    cov = cov * sums.count / (sums.count - 1)
    whiten = _inverse_cholesky(_shrink(cov, shrinkage))
    return Gaussian(mean.astype(np.float32), whiten.astype(np.float32), per_position=False)


def fit_per_position(feats: np.ndarray, shrinkage: float = 0.05) -> Gaussian:
    """One Gaussian per position of features [N,C,h,w], each from its 3x3 neighbourhood."""
    n, c, h, w = feats.shape
    padded = np.pad(feats.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    shifts = [padded[:, :, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)]
    samples = np.concatenate(shifts, axis=0).reshape(9 * n, c, h * w).transpose(2, 0, 1)  # [P, S, C]
    mean = samples.mean(axis=1)
    centred = samples - mean[:, None, :]
    cov = np.einsum("psc,psd->pcd", centred, centred) / (samples.shape[1] - 1)
    whiten = _inverse_cholesky(_shrink(cov, shrinkage))
    return Gaussian(mean.astype(np.float32), whiten.astype(np.float32), per_position=True)
