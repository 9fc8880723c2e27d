"""Same-plate pass pairs for developing and tuning `edge.inference.compare`: the stub's renders, harsher.

The under-vehicle stub (`firmware_stubs.under_vehicle`) scans each pass with its own lateral
offset, lead, gentle speed change, flicker and noise, but its line rate follows the speed (almost
no stretch), its fill light is the same every pass, and no pass is ever cut short. Lanes are
harsher (issue 13), so each pass rendered here then goes through `degrade`, with a `PassNuisance`
drawn per pass:

- uneven speed: the rows resampled by a smooth stretch factor (the probe's 0.75-1.25, wobbling
  along the vehicle; the reference's within a few %);
- a lateral shift of tens of px that drifts a little over the length;
- other fill light: a per-pass column profile (centre or one side brighter) and exposure, per-row
  banding and a slow flicker, motion blur along the travel, extra noise;
- a lane background (fixed streaks beside the vehicle, the same for both passes);
- one pass's tail cut off (the last part of the vehicle missing: rows of 0, or the image ends).

`dev_pair(...)` gives the reference, a clean probe and the same probe with the object (one pass
id, so the same conditions and noise), and where the object lies in the probe: one of the stub's
kinds, or one painted on by `models.compare_objects` (a plate near the floor's tone, a dark box). This is the
project's own renderer: tune on it. The independent generator (`models/independent/`) only reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

import cv2
import numpy as np

from drivers.under_vehicle import decode_pass
from firmware_stubs.under_vehicle import CameraConfig, PassEvent, PassTruth, render_pass
from firmware_stubs.undercarriage import OBJECT_KINDS, VehicleType
from models.compare_objects import PAINTED_KINDS, paint

PASS_TIME = datetime(2024, 6, 1, 9, 0, tzinfo=timezone.utc)
DEV_OBJECTS = OBJECT_KINDS + PAINTED_KINDS   # the stub's own kinds and the painted, harder ones


@dataclass(frozen=True)
class PassNuisance:
    """What one pass suffers on top of the stub's own scan."""

    stretch_knots: tuple[float, ...]   # rows per stub row at evenly spaced points along the pass
    shift_px: float                    # lateral shift at the first row (columns of the output)
    drift_px: float                    # further shift reached at the last row
    exposure: float
    light_centre: float                # fill light's brightest column, fraction of the width
    light_falloff: float               # brightness lost at the far side, fraction
    flicker: float                     # amplitude of a slow sinusoidal gain along the rows
    flicker_period: float              # rows
    banding: float                     # sigma of an independent gain per row
    blur_rows: int                     # motion blur along the travel
    noise: float                       # sigma of extra read noise (grey levels)
    tail_cut: float = 0.0              # share of the vehicle's rows missing at its end
    truncate: bool = False             # a cut pass ends there (else its rows are 0)


def draw_nuisance(rng: np.random.Generator, probe: bool, tail_cut: float = 0.0) -> PassNuisance:
    """A random pass: the probe's speed anywhere in 0.75-1.25, the reference's near 1."""
    base = rng.uniform(0.8, 1.2) if probe else rng.uniform(0.96, 1.04)
    wobble = 0.08 if probe else 0.03
    knots = tuple(float(np.clip(base * (1 + rng.uniform(-wobble, wobble)), 0.75, 1.25))
                  for _ in range(int(rng.integers(3, 7))))
    return PassNuisance(
        stretch_knots=knots,
        shift_px=float(rng.choice([-1, 1]) * rng.uniform(5, 70)) if probe else float(rng.uniform(-15, 15)),
        drift_px=float(rng.uniform(-10, 10)),
        exposure=float(rng.uniform(0.8, 1.25)),
        light_centre=float(rng.uniform(0.0, 1.0)),
        light_falloff=float(rng.uniform(0.05, 0.5)),
        flicker=float(rng.uniform(0.0, 0.04)),
        flicker_period=float(rng.uniform(40, 600)),
        banding=float(rng.uniform(0.0, 0.03)),
        blur_rows=int(rng.integers(1, 5)),
        noise=float(rng.uniform(0.5, 3.0)),
        tail_cut=tail_cut,
        truncate=bool(rng.random() < 0.5),
    )


@dataclass
class Degraded:
    """A degraded pass and how its rows and columns relate to the stub's image."""

    image: np.ndarray
    source_row: np.ndarray     # stub row shown by each output row
    shift: np.ndarray          # output column = stub column (after width scaling) + shift, per output row


def _stretch(knots: tuple[float, ...], n: int) -> np.ndarray:
    """The stretch factor at each of n source rows: a smooth (cosine) curve through the knots."""
    if len(knots) == 1:
        return np.full(n, knots[0])
    t = np.linspace(0, len(knots) - 1, n)
    i = np.minimum(np.floor(t).astype(int), len(knots) - 2)
    w = 0.5 - 0.5 * np.cos(math.pi * (t - i))
    k = np.asarray(knots)
    return k[i] * (1 - w) + k[i + 1] * w


def lane_background(width: int, seed: int = 5) -> np.ndarray:
    """Fixed streaks of lane furniture and canopy, per column (grey levels added where nothing is lit)."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.uniform(0, 1, (1, width)).astype(np.float32), (0, 0), 6)[0]
    base = 18 * (base - base.min()) / max(1e-6, float(np.ptp(base)))
    for _ in range(12):
        c = int(rng.integers(0, width))
        base[c:c + int(rng.integers(2, 12))] += float(rng.uniform(8, 30))
    return base


def _vehicle_share(image: np.ndarray, row: int) -> float:
    """How far along the vehicle (0 at its first row, 1 at its last) a stub pass's `row` lies."""
    level = image.mean(axis=1)
    lit = np.nonzero(level > float(np.percentile(level, 5)) + 10)[0]
    if lit.size < 2:
        return 0.0
    return (row - int(lit[0])) / max(1, int(lit[-1]) - int(lit[0]))


def _beyond_vehicle(image: np.ndarray) -> np.ndarray:
    """1 where a stub pass shows no vehicle (rows before and after it, columns beside it), else 0."""
    level = image.mean(axis=1)
    rows = level > float(np.percentile(level, 5)) + 10
    if not rows.any():
        return np.ones(image.shape, np.float32)
    cols = np.percentile(image[rows], 75, axis=0) > 24
    inside = (rows[:, None] & cols[None, :]).astype(np.uint8)
    return 1.0 - cv2.dilate(inside, np.ones((5, 9), np.uint8)).astype(np.float32)


def degrade(image: np.ndarray, nuisance: PassNuisance, rng: np.random.Generator,
            lane: np.ndarray | None = None) -> Degraded:
    """Resample, shift, relight and cut one stub pass as `nuisance` says; `rng` draws its banding and noise."""
    img = image.astype(np.float32)
    h, w = img.shape
    f = _stretch(nuisance.stretch_knots, h)
    out_pos = np.concatenate([[0.0], np.cumsum(f)])           # output position of each source row edge
    n_out = max(2, int(round(out_pos[-1])))
    k = np.arange(n_out, dtype=np.float64) + 0.5
    source = np.interp(k, out_pos, np.arange(h + 1, dtype=np.float64)) - 0.5
    shift = nuisance.shift_px + nuisance.drift_px * np.arange(n_out) / max(1, n_out - 1)
    map_x = (np.arange(w, dtype=np.float32)[None, :] - shift[:, None].astype(np.float32))
    map_y = np.broadcast_to(source.astype(np.float32)[:, None], (n_out, w))
    out = cv2.remap(img, np.ascontiguousarray(map_x), np.ascontiguousarray(map_y), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    if lane is not None:   # beside, before and after the vehicle the lane shows, fixed in the image
        beyond = cv2.remap(_beyond_vehicle(image), np.ascontiguousarray(map_x), np.ascontiguousarray(map_y),
                           cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out += beyond * lane[None, :w]
    x = np.arange(w, dtype=np.float32) / max(1, w - 1)
    light = nuisance.exposure * (1 - nuisance.light_falloff * np.abs(x - nuisance.light_centre) ** 1.6)
    rows = np.arange(n_out, dtype=np.float32)
    gain = 1 + nuisance.flicker * np.sin(2 * math.pi * rows / nuisance.flicker_period + rng.uniform(0, 6.3))
    gain *= 1 + rng.normal(0, nuisance.banding, n_out).astype(np.float32)
    lines = rng.random(n_out) < 0.002
    gain[lines] *= rng.uniform(0.88, 1.12, int(lines.sum())).astype(np.float32)
    out *= light[None, :].astype(np.float32)
    out *= gain[:, None]
    if nuisance.blur_rows > 1:
        out = cv2.blur(out, (1, nuisance.blur_rows))
    out += rng.normal(0, nuisance.noise, out.shape).astype(np.float32)
    if nuisance.tail_cut > 0:
        level = image.mean(axis=1)
        lit = np.nonzero(level > float(np.percentile(level, 5)) + 10)[0]
        if lit.size:
            first, last = int(lit[0]), int(lit[-1])
            end_src = last - nuisance.tail_cut * (last - first)
            cut_at = int(np.searchsorted(source, end_src))
            if nuisance.truncate:
                out, source, shift = out[:cut_at], source[:cut_at], shift[:cut_at]
            else:
                out[cut_at:] = 0
    return Degraded(np.clip(np.rint(out), 0, 255).astype(np.uint8), source, shift)


@dataclass
class DevPair:
    """A reference, its clean probe and the same probe with an object; `box` is the object in the probe."""

    reference: np.ndarray
    clean: np.ndarray
    changed: np.ndarray | None
    box: tuple[int, int, int, int] | None        # rows r0, r1, columns c0, c1 in the probe
    meta: dict[str, object] = field(default_factory=dict)


def stub_pass(plate: str, obj: str | None, pass_id: str, scale: float = 0.25,
              kind: VehicleType | None = None) -> tuple[np.ndarray, PassTruth]:
    """One pass as the stub camera sends it (JPEG), decoded."""
    message, truth = render_pass(PassEvent(0.0, "pass", plate, obj, kind), CameraConfig(scale=scale), pass_id,
                                 PASS_TIME)
    return decode_pass(message, "uv1").image(), truth


def _narrow(image: np.ndarray, width: int) -> np.ndarray:
    if image.shape[1] == width:
        return image
    return cv2.resize(image, (width, image.shape[0]), interpolation=cv2.INTER_AREA)


def dev_pair(plate: str, obj: str | None, seed: int, scale: float = 0.5, width: int = 2048,
             kind: VehicleType | None = None, harsh: bool = True) -> DevPair:
    """Reference and probe passes of `plate` (object `obj` on the changed probe), degraded unless not `harsh`."""
    rng = np.random.default_rng(seed)
    reference, _ = stub_pass(plate, None, f"dev-ref-{seed}", scale, kind)
    clean, truth = stub_pass(plate, None, f"dev-probe-{seed}", scale, kind)
    changed, box = None, None
    if obj in PAINTED_KINDS:
        changed, box = paint(clean, obj, scale, np.random.default_rng([seed, 3]))
    elif obj is not None:
        changed, truth = stub_pass(plate, obj, f"dev-probe-{seed}", scale, kind)
        box = truth.object_box
    full_width = reference.shape[1]
    reference, clean = _narrow(reference, width), _narrow(clean, width)
    changed = _narrow(changed, width) if changed is not None else None
    fx = width / full_width
    if box is not None:
        box = (box[0], box[1], int(box[2] * fx), int(math.ceil(box[3] * fx)))
    meta: dict[str, object] = {"plate": plate, "kind": truth.kind.value, "object": obj, "rows": clean.shape[0]}
    if not harsh:
        return DevPair(reference, clean, changed, box, meta)
    roll = rng.random()
    cut = float(rng.uniform(0.05, 0.25))
    ref_n = draw_nuisance(rng, False, cut if roll < 0.17 else 0.0)
    probe_n = draw_nuisance(rng, True, cut if 0.17 <= roll < 0.34 else 0.0)
    lane = lane_background(width)
    ref_d = degrade(reference, ref_n, np.random.default_rng([seed, 1]), lane)
    clean_d = degrade(clean, probe_n, np.random.default_rng([seed, 2]), lane)
    changed_img = None
    if changed is not None:
        changed_d = degrade(changed, probe_n, np.random.default_rng([seed, 2]), lane)
        changed_img = changed_d.image
        assert box is not None
        inside = np.nonzero((changed_d.source_row >= box[0] - 0.5) & (changed_d.source_row < box[1] - 0.5))[0]
        if inside.size and ref_n.tail_cut and _vehicle_share(changed, box[1]) > 1 - ref_n.tail_cut - 0.03:
            inside = inside[:0]   # the object lies where the reference, cut short, shows nothing to compare
        if inside.size:
            s = float(np.mean(changed_d.shift[inside]))
            box = (int(inside[0]), int(inside[-1]) + 1, int(round(box[2] + s)), int(round(box[3] + s)))
        else:
            box = None   # the object lies in a part of the vehicle that a cut-off tail hides
    meta.update(rows=clean_d.image.shape[0],
                cut="reference" if ref_n.tail_cut else "probe" if probe_n.tail_cut else "none",
                probe_stretch=round(float(np.mean(probe_n.stretch_knots)), 3),
                reference_stretch=round(float(np.mean(ref_n.stretch_knots)), 3),
                shift_px=round(probe_n.shift_px - ref_n.shift_px, 1))
    return DevPair(ref_d.image, clean_d.image, changed_img, box, meta)
