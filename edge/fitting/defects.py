"""Synthetic defects painted onto clean images, to measure a fitted model on its own surface.

Used by the tests and by anyone checking a site fit: take clean images the model did not see,
add one defect each, and compare scores. The defects are the kinds an inspected surface shows:
a foreign patch (another material pasted in), a scratch, a blob or stain, a region whose
brightness or colour changed, and a smudge that wipes the texture out.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

DefectFn = Callable[[np.ndarray, np.random.Generator, np.ndarray | None], tuple[np.ndarray, np.ndarray]]


def _soft_ellipse(h: int, w: int, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A float mask in [0,1] holding one randomly placed, rotated, soft-edged ellipse."""
    mask = np.zeros((h, w), np.float32)
    ax = (int(rng.integers(*size)) // 2, int(rng.integers(*size)) // 2)
    cx = int(rng.integers(ax[0] + 2, max(ax[0] + 3, w - ax[0] - 2)))
    cy = int(rng.integers(ax[1] + 2, max(ax[1] + 3, h - ax[1] - 2)))
    cv2.ellipse(mask, (cx, cy), ax, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    return cv2.GaussianBlur(mask, (0, 0), 1.5)


def foreign_patch(img: np.ndarray, rng: np.random.Generator, other: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Paste a piece of another material (`other`, same channels) inside a soft ellipse."""
    h, w = img.shape[:2]
    src = other if other is not None else np.flipud(np.fliplr(img))
    y0 = int(rng.integers(0, src.shape[0] - h + 1))
    x0 = int(rng.integers(0, src.shape[1] - w + 1))
    piece = src[y0:y0 + h, x0:x0 + w]
    # match the patch's mean level loosely to the surface, so it is not just a brightness step
    piece = piece - piece.mean() + img.mean() + rng.uniform(-0.05, 0.05)
    mask = _soft_ellipse(h, w, rng, (14, 36))
    return _blend(img, piece, mask), mask


def scratch(img: np.ndarray, rng: np.random.Generator, _: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """A thin bent line, lighter or darker than the surface."""
    h, w = img.shape[:2]
    mask = np.zeros((h, w), np.float32)
    n = int(rng.integers(3, 6))
    start = rng.uniform([0.1 * w, 0.1 * h], [0.9 * w, 0.9 * h])
    angle = rng.uniform(0, np.pi)
    length = rng.uniform(0.25, 0.6) * min(h, w)
    pts = [start]
    for _i in range(n - 1):
        angle += rng.normal(0, 0.25)
        pts.append(pts[-1] + length / (n - 1) * np.array([np.cos(angle), np.sin(angle)]))
    poly = np.clip(np.array(pts), 1, [w - 2, h - 2]).astype(np.int32)
    cv2.polylines(mask, [poly], False, 1.0, int(rng.integers(1, 3)), cv2.LINE_AA)
    mask = cv2.GaussianBlur(mask, (0, 0), 0.7)
    shift = rng.choice([-1, 1]) * rng.uniform(0.15, 0.35)
    return np.clip(img + shift * mask[..., None], 0, 1), mask


def blob(img: np.ndarray, rng: np.random.Generator, _: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """A stain: a soft ellipse of lighter or darker material, texture still showing through."""
    mask = _soft_ellipse(*img.shape[:2], rng, (12, 34))
    shift = rng.choice([-1, 1]) * rng.uniform(0.12, 0.3)
    return np.clip(img + shift * mask[..., None], 0, 1), mask


def tone_change(img: np.ndarray, rng: np.random.Generator, _: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """A region whose brightness (grey) or colour balance (colour) changed."""
    mask = _soft_ellipse(*img.shape[:2], rng, (16, 40))
    if img.shape[2] == 3:
        gain = 1.0 + rng.choice([-1, 1], 3) * rng.uniform(0.2, 0.45, 3)
    else:
        gain = np.array([1.0 + rng.choice([-1, 1]) * rng.uniform(0.3, 0.5)])
    changed = np.clip(img * gain.astype(np.float32), 0, 1)
    return _blend(img, changed, mask), mask


def smudge(img: np.ndarray, rng: np.random.Generator, _: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Wear or a smear: the texture inside a region is wiped out by strong blur."""
    mask = _soft_ellipse(*img.shape[:2], rng, (16, 40))
    blurred = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(3, 6))).reshape(img.shape)
    return _blend(img, blurred, mask), mask


DEFECTS: dict[str, DefectFn] = {
    "foreign_patch": foreign_patch,
    "scratch": scratch,
    "blob": blob,
    "tone_change": tone_change,
    "smudge": smudge,
}


def _blend(img: np.ndarray, other: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask[..., None]
    return np.clip(img * (1 - m) + other * m, 0, 1).astype(np.float32)


def add_defect(img: np.ndarray, kind: str, rng: np.random.Generator,
               other: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (defective copy of `img` [H,W,C] float32 in [0,1], defect mask [H,W] in [0,1])."""
    if img.ndim != 3:
        raise ValueError("add_defect wants an [H, W, C] image")
    out, mask = DEFECTS[kind](img.astype(np.float32), rng, other)
    return out.astype(np.float32), mask
