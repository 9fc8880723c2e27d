"""Building blocks shared by the procedural image generators.

A generator draws a clean scene as a stack of layers on a float32 canvas in [0, 1], inserts
zero or more anomalies at random depths of that stack (so structures drawn later occlude them,
partly or wholly), then applies the nuisances a real device adds (line-scan speed stretch,
uneven lighting, detector stripes, blur, noise) to image and mask alike.

Two disjoint *splits* keep evaluation honest: `train` uses anomaly shapes {box, ellipse, plate}
and nuisance values inside range A; `heldout` uses shapes {polygon, ring, lshape, cluster}
and nuisance values outside range A. Seeds are split too (see `seed_for`). A third split,
`stress`, is for choosing between trained models without touching the held-out set: training
shapes, nuisance values outside range A, seeds from 20,000,000 (disjoint from both). A fourth,
`novel`, is for choosing how a model generalises to shapes it was never trained on, again
without touching the held-out set: shapes {triangle, cross, crescent, pair} that neither
training nor the held-out set uses, nuisance values outside range A, seeds from 60,000,000.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

import cv2
import numpy as np

Split = Literal["train", "heldout", "stress", "novel"]

SHAPES_TRAIN: tuple[str, ...] = ("box", "ellipse", "plate")
SHAPES_HELDOUT: tuple[str, ...] = ("polygon", "ring", "lshape", "cluster")
SHAPES_NOVEL: tuple[str, ...] = ("triangle", "cross", "crescent", "pair")

#: seed ranges: training/validation use [0, 10**6), held-out evaluation uses [10**7, ...).
TRAIN_SEED_BASE = 0
VALIDATION_SEED_BASE = 500_000
HELDOUT_SEED_BASE = 10_000_000
STRESS_SEED_BASE = 20_000_000
NOVEL_SEED_BASE = 60_000_000


def seed_for(split: str, index: int) -> int:
    """Seed of the index-th image of a split ('train', 'validation', 'heldout', 'stress', 'novel')."""
    base = {"train": TRAIN_SEED_BASE, "validation": VALIDATION_SEED_BASE, "heldout": HELDOUT_SEED_BASE,
            "stress": STRESS_SEED_BASE, "novel": NOVEL_SEED_BASE}[split]
    return base + index


def shapes_for(split: Split) -> tuple[str, ...]:
    return {"heldout": SHAPES_HELDOUT, "novel": SHAPES_NOVEL}.get(split, SHAPES_TRAIN)


@dataclass
class Nuisance:
    """Device nuisances applied after the scene is drawn."""

    noise_sigma: float = 0.01  # additive Gaussian noise (fraction of full scale)
    lighting: float = 0.1  # depth of the smooth multiplicative illumination field
    stretch: float = 1.0  # line-scan speed factor along the scan axis (rows)
    speed_wobble: float = 0.0  # non-uniform speed: relative amplitude of speed changes
    stripes: float = 0.0  # per-column detector gain spread (std of gain)
    blur_sigma: float = 0.0  # Gaussian blur in pixels (at generation resolution / 512 rows)
    gamma: float = 1.0


# (train range A, held-out values outside A) for each nuisance
_TRAIN_RANGES: dict[str, tuple[float, float]] = {
    "noise_sigma": (0.0, 0.03),
    "lighting": (0.0, 0.3),
    "stretch": (0.85, 1.15),
    "speed_wobble": (0.0, 0.08),
    "stripes": (0.0, 0.03),
    "blur_sigma": (0.0, 1.0),
    "gamma": (0.85, 1.15),
}
_HELDOUT_RANGES: dict[str, tuple[tuple[float, float], ...]] = {
    "noise_sigma": ((0.032, 0.045),),
    "lighting": ((0.32, 0.45),),
    "stretch": ((0.72, 0.83), (1.17, 1.3)),
    "speed_wobble": ((0.09, 0.14),),
    "stripes": ((0.032, 0.05),),
    "blur_sigma": ((1.1, 1.6),),
    "gamma": ((0.72, 0.83), (1.17, 1.3)),
}


def sample_nuisance(rng: np.random.Generator, split: Split) -> Nuisance:
    """Nuisance values from range A (train) or from outside it (heldout, stress, novel)."""
    values: dict[str, float] = {}
    for name, (lo, hi) in _TRAIN_RANGES.items():
        if split == "train":
            values[name] = float(rng.uniform(lo, hi))
        else:
            ranges = _HELDOUT_RANGES[name]
            lo2, hi2 = ranges[int(rng.integers(len(ranges)))]
            values[name] = float(rng.uniform(lo2, hi2))
    return Nuisance(**values)


def describe_ranges() -> str:
    """One-line description of both nuisance ranges, for model cards."""
    train = ", ".join(f"{k} {lo:g}-{hi:g}" for k, (lo, hi) in _TRAIN_RANGES.items())
    held = ", ".join(
        f"{k} " + " or ".join(f"{lo:g}-{hi:g}" for lo, hi in r) for k, r in _HELDOUT_RANGES.items()
    )
    return f"training nuisances: {train}; held-out nuisances: {held}"


# --------------------------------------------------------------------------- canvas


@dataclass
class Canvas:
    """A float32 image plus the anomaly mask; painting over an anomaly occludes it."""

    img: np.ndarray
    mask: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.mask = np.zeros(self.img.shape, dtype=np.float32)

    @property
    def shape(self) -> tuple[int, int]:
        return self.img.shape  # type: ignore[return-value]

    def paint(self, region: np.ndarray, value: np.ndarray | float, alpha: np.ndarray | float = 1.0) -> None:
        """Blend `value` into `region` (bool or 0..1 float, full size); occludes anomalies.

        `value` and `alpha` are scalars, full-size arrays, or arrays of the region's bounding box.
        """
        box = bbox(region)
        if box is None:
            return
        y0, y1, x0, x1 = box
        sl = (slice(y0, y1), slice(x0, x1))
        full = self.img.shape

        def local(a: np.ndarray | float) -> np.ndarray | float:
            return a[sl] if isinstance(a, np.ndarray) and a.shape == full else a

        w = region[sl].astype(np.float32) * local(alpha)
        self.img[sl] += w * (local(value) - self.img[sl])
        self.mask[sl] *= 1.0 - np.clip(w * 1.5, 0.0, 1.0)

    def multiply(self, factor: np.ndarray) -> None:
        """Multiplicative shading (shadows); does not occlude."""
        self.img *= factor


def bbox(region: np.ndarray) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) of the non-zero pixels, or None when empty."""
    x, y, w, h = cv2.boundingRect((region > 0).astype(np.uint8))
    if w == 0 or h == 0:
        return None
    return y, y + h, x, x + w


def soft_shadow(canvas: Canvas, region: np.ndarray, px: float, strength: float) -> None:
    """Darken the canvas under a soft copy of `region` shifted by `px` (light from top-left)."""
    box = bbox(region)
    if box is None or px <= 0:
        return
    h, w = canvas.shape
    pad = int(3 * px) + 2
    y0, y1 = max(box[0] - pad, 0), min(box[1] + 2 * pad, h)
    x0, x1 = max(box[2] - pad, 0), min(box[3] + 2 * pad, w)
    local = region[y0:y1, x0:x1].astype(np.float32)
    sh = cv2.GaussianBlur(local, (0, 0), px)
    sh = np.roll(sh, (int(px), int(px)), axis=(0, 1))
    canvas.img[y0:y1, x0:x1] *= 1.0 - strength * sh


Layer = Callable[[Canvas, np.random.Generator], None]


def render(layers: list[Layer], anomalies: list[Layer], canvas: Canvas, rng: np.random.Generator,
           min_depth: int = 1) -> Canvas:
    """Draw layers in order, inserting each anomaly at a random depth >= min_depth."""
    slots: dict[int, list[Layer]] = {}
    for anomaly in anomalies:
        depth = int(rng.integers(min_depth, len(layers) + 1))
        slots.setdefault(depth, []).append(anomaly)
    for i in range(len(layers) + 1):
        for anomaly in slots.get(i, []):
            anomaly(canvas, rng)
        if i < len(layers):
            layers[i](canvas, rng)
    return canvas


# --------------------------------------------------------------------------- textures


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Smooth random field in about [-1, 1] with features of roughly `scale` pixels."""
    h, w = shape
    gh, gw = max(2, int(h / scale) + 2), max(2, int(w / scale) + 2)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    field_ = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(field_ / 1.5, -1.5, 1.5)


def rect_mask(shape: tuple[int, int], x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.rectangle(m, (int(x0), int(y0)), (int(x1), int(y1)), 1, -1)
    return m.astype(bool)


def rotated_rect_mask(shape: tuple[int, int], cx: float, cy: float, w: float, h: float, angle: float,
                      radius: float = 0.0) -> np.ndarray:
    """Filled (optionally rounded) rotated rectangle."""
    m = np.zeros(shape, np.uint8)
    pts = cv2.boxPoints(((cx, cy), (max(w - 2 * radius, 1), max(h - 2 * radius, 1)), angle))
    cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1)
    if radius >= 1:  # thick outline with round joins = rounded corners
        cv2.polylines(m, [np.round(pts).astype(np.int32)], True, 1, int(2 * radius))
    return m.astype(bool)


# --------------------------------------------------------------------------- anomaly shapes


def shape_mask(rng: np.random.Generator, kind: str, shape: tuple[int, int], cx: float, cy: float,
               size: float) -> np.ndarray:
    """Bool mask of one anomaly shape of about `size` pixels across, centred at (cx, cy)."""
    m = np.zeros(shape, np.uint8)
    angle = float(rng.uniform(0, 180))
    aspect = float(rng.uniform(0.45, 1.0))
    a, b = size / 2, size * aspect / 2
    if kind == "box":
        return rotated_rect_mask(shape, cx, cy, 2 * a, 2 * b, angle, radius=float(rng.uniform(0, 0.15)) * b)
    if kind == "ellipse":
        cv2.ellipse(m, (int(cx), int(cy)), (max(int(a), 1), max(int(b), 1)), angle, 0, 360, 1, -1)
    elif kind == "plate":  # thin flat rectangle (an added plate seen edge-on or flat strip)
        return rotated_rect_mask(shape, cx, cy, 2 * a, max(2.0, 2 * a * rng.uniform(0.12, 0.3)), angle)
    elif kind == "polygon":  # irregular star-convex polygon
        n = int(rng.integers(5, 10))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = a * rng.uniform(0.45, 1.0, n)
        pts = np.stack([cx + rad * np.cos(ang), cy + rad * aspect * np.sin(ang)], 1)
        cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1)
    elif kind == "ring":
        thick = max(2, int(a * rng.uniform(0.25, 0.45)))
        cv2.ellipse(m, (int(cx), int(cy)), (max(int(a), 2), max(int(b), 2)), angle, 0, 360, 1, thick)
    elif kind == "lshape":  # L / weapon-like bent shape
        t = max(2.0, a * rng.uniform(0.3, 0.5))
        c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
        local = [(-a, -a), (a, -a), (a, -a + t), (-a + t, -a + t), (-a + t, a), (-a, a)]
        pts = np.array([(cx + x * c - y * s, cy + x * s + y * c) for x, y in local])
        cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1)
    elif kind == "triangle":
        pts = [(cx + a * np.cos(np.radians(angle + t)), cy + b * np.sin(np.radians(angle + t)))
               for t in (0.0, float(rng.uniform(100, 140)), float(rng.uniform(220, 260)))]
        cv2.fillPoly(m, [np.round(np.array(pts)).astype(np.int32)], 1)
    elif kind == "cross":  # two bars crossing (a frame, a taped bundle)
        t = max(2.0, a * rng.uniform(0.25, 0.45))
        m = rotated_rect_mask(shape, cx, cy, 2 * a, t, angle) | rotated_rect_mask(shape, cx, cy, t, 2 * b, angle)
        return m
    elif kind == "crescent":  # a disc with an offset disc cut out (bent, curved item)
        cv2.circle(m, (int(cx), int(cy)), max(int(a), 2), 1, -1)
        off = a * rng.uniform(0.35, 0.6)
        th = np.radians(angle)
        cv2.circle(m, (int(cx + off * np.cos(th)), int(cy + off * np.sin(th))), max(int(a * 0.85), 1), 0, -1)
    elif kind == "pair":  # two separate small boxes side by side (two parcels)
        gap = a * rng.uniform(0.2, 0.6)
        w2 = max(3.0, a * 0.8)
        c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
        for sign in (-1, 1):
            d = sign * (w2 / 2 + gap / 2)
            m |= rotated_rect_mask(shape, cx + d * c, cy + d * s, w2, max(3.0, 2 * b * 0.7), angle).astype(np.uint8)
    elif kind == "cluster":  # a few small blobs close together (bundle of small items)
        for _ in range(int(rng.integers(3, 7))):
            ox, oy = rng.uniform(-a, a, 2) * 0.8
            r = max(2, int(a * rng.uniform(0.18, 0.35)))
            cv2.circle(m, (int(cx + ox), int(cy + oy)), r, 1, -1)
    else:
        raise ValueError(f"unknown anomaly shape {kind!r}")
    return m.astype(bool)


def object_texture(rng: np.random.Generator, shape: tuple[int, int], base: float, contrast: float,
                   size: float, cx: float, cy: float) -> np.ndarray:
    """Value field for a foreign object: uniform, taped stripes, shaded or speckled."""
    h, w = shape
    kind = int(rng.integers(4))
    tex = np.full(shape, base, np.float32)
    if kind == 1:  # tape bands
        period = max(3.0, size * rng.uniform(0.15, 0.4))
        ang = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        phase = (xx * np.cos(ang) + yy * np.sin(ang)) / period
        tex += contrast * 0.35 * (np.sin(2 * np.pi * phase) > 0.4)
    elif kind == 2:  # shaded (lit from one side)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        g = ((xx - cx) * rng.uniform(-1, 1) + (yy - cy) * rng.uniform(-1, 1)) / max(size, 1)
        tex += contrast * 0.4 * np.clip(g, -1, 1)
    elif kind == 3:  # speckled / wrapped
        tex += contrast * 0.3 * smooth_noise(rng, shape, max(2.0, size / 6))
    return tex


def apply_nuisances(img: np.ndarray, mask: np.ndarray, nz: Nuisance, rng: np.random.Generator,
                    scan_axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Geometric then photometric device effects; returns float image in [0, 1] and mask."""
    h, w = img.shape
    ref = h / 512.0  # nuisance sizes are given for 512 rows
    # line-scan speed: rows sampled at a varying rate along the scan axis
    n = h if scan_axis == 0 else w
    # stretch > 1 = slower vehicle = object spread over more lines
    speed = nz.stretch * (1.0 + nz.speed_wobble * smooth_noise(rng, (1, n), n / 3)[0])
    inc = 1.0 / np.maximum(speed, 0.2)
    src = np.cumsum(inc) - inc[0]
    spare = (n - 1) - src[-1]
    src = src + (float(rng.uniform(0, spare)) if spare > 0 else float(rng.uniform(spare, 0)) * 0.5)
    src = np.clip(src, 0, n - 1).astype(np.float32)
    if scan_axis == 0:
        mapx = np.tile(np.arange(w, dtype=np.float32), (h, 1))
        mapy = np.tile(src[:, None], (1, w))
    else:
        mapx = np.tile(src[None, :], (h, 1))
        mapy = np.tile(np.arange(h, dtype=np.float32)[:, None], (1, w))
    img = cv2.remap(img, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mask = cv2.remap(mask, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    # blur (optics / motion)
    if nz.blur_sigma > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), nz.blur_sigma * ref)
    # uneven lighting. Camera (scan_axis 0): a smooth 2-D illumination field. Transmission
    # X-ray (scan_axis 1): source output drifting from line to line times a flat-field error
    # along the detector column, i.e. a separable field.
    if scan_axis == 0:
        light = 1.0 + nz.lighting * smooth_noise(rng, (h, w), max(h, w) / 3)
    else:
        drift = 1.0 + 0.5 * nz.lighting * smooth_noise(rng, (1, w), w / 6)
        flat = 1.0 + 0.5 * nz.lighting * smooth_noise(rng, (h, 1), h / 4)
        light = drift * flat
    across = np.linspace(-1, 1, w if scan_axis == 0 else h, dtype=np.float32)
    across = across[None, :] if scan_axis == 0 else across[:, None]
    light = light * (1.0 + nz.lighting * float(rng.uniform(-1, 1)) * across)
    img = img * light.astype(np.float32)
    # detector stripes: per-detector-element gain along the line (constant along the scan)
    if nz.stripes > 0:
        gains = 1.0 + nz.stripes * rng.standard_normal(w if scan_axis == 0 else h).astype(np.float32)
        img = img * (gains[None, :] if scan_axis == 0 else gains[:, None])
    img = np.clip(img, 0, 1) ** nz.gamma
    img = img + nz.noise_sigma * rng.standard_normal(img.shape).astype(np.float32)
    return np.clip(img, 0.0, 1.0).astype(np.float32), np.clip(mask, 0.0, 1.0)


def work_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Anomaly mask resized to the working resolution (pixel anomalous if >= half covered)."""
    if mask.shape == shape:
        return mask.astype(bool)
    return cv2.resize(mask.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA) >= 0.5


def to_uint(img: np.ndarray, bits: int) -> np.ndarray:
    """Quantise a [0, 1] float image to 8 or 16 bits."""
    top = 255 if bits == 8 else 65535
    return np.round(np.clip(img, 0, 1) * top).astype(np.uint8 if bits == 8 else np.uint16)
