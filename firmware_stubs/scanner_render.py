"""A synthetic 16-bit side-view transmission X-ray of a container truck, as a scanner would deliver it.

Physics, roughly: each pixel is one detector element (row) at one moment of the line scan
(column). Along the beam the truck is a path of steel and of organic matter (wood, cartons,
water), in mm; transmission is exp(-mu * path) per material, so a steel cross member seen end on
(2.35 m of steel along the beam) is black and an empty container is bright but striped by the
corrugation of its side walls. Counts = air counts x transmission x detector gain (per-row
calibration residue, board steps every 32 rows, a slow drift over the scan) + photon noise
(Gaussian with variance = counts) + electronic noise and dark offset, clipped to 16 bits.

Dual energy: the low-energy plane sees steel (high Z) relatively darker than organics, which is
what a material-discrimination model keys on (plane 0 high, plane 1 low).

Geometry is in normalised coordinates: u along the truck (0 = front of the tractor, left),
v from the top of the image (0) to the road (1).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FULL_WIDTH, FULL_HEIGHT = 5000, 3000  # 2 planes x 16 bit -> 60 MB; single energy 30 MB
MU_HIGH = {"steel": 0.030, "organic": 0.0045}  # 1/mm, roughly a 6 MV spectrum
MU_LOW = {"steel": 0.040, "organic": 0.0050}   # 4 MV: steel darkens more than organics
AIR_HIGH, AIR_LOW = 60_000.0, 50_000.0
DARK_OFFSET, READ_NOISE = 180.0, 25.0
CARGO_KINDS = ("empty", "cartons", "drums", "pallets")

# the container body (a 40 ft box) and its parts, in normalised coordinates
BOX_U0, BOX_U1, BOX_V0, BOX_V1 = 0.235, 0.975, 0.07, 0.79
FLOOR_V = 0.76


@dataclass(frozen=True)
class RenderRequest:
    """What to draw: `cargo` one of CARGO_KINDS, `dual` energy, size = full size x `scale`."""

    cargo: str = "cartons"
    dual: bool = False
    scale: float = 0.1
    seed: int = 0

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return max(64, round(FULL_WIDTH * self.scale)), max(40, round(FULL_HEIGHT * self.scale))


class _Canvas:
    """Steel and organic path-length maps (mm along the beam) with drawing helpers in normalised units."""

    def __init__(self, width: int, height: int) -> None:
        self.w, self.h = width, height
        self.steel = np.zeros((height, width), np.float32)
        self.organic = np.zeros((height, width), np.float32)

    def x(self, u: float) -> int:
        return int(round(u * self.w))

    def y(self, v: float) -> int:
        return int(round(v * self.h))

    def rect(self, layer: np.ndarray, u0: float, u1: float, v0: float, v1: float, mm: float) -> None:
        x0, x1, y0, y1 = self.x(u0), max(self.x(u1), self.x(u0) + 1), self.y(v0), max(self.y(v1), self.y(v0) + 1)
        layer[y0:y1, x0:x1] += mm

    def disc(self, layer: np.ndarray, u: float, v: float, r: float, mm: float, thickness: float = -1) -> None:
        """A circle of radius r (in units of the image height, so wheels stay round)."""
        mask = np.zeros((self.h, self.w), np.uint8)
        t = -1 if thickness < 0 else max(1, int(round(thickness * self.h)))
        cv2.circle(mask, (self.x(u), self.y(v)), max(1, int(round(r * self.h))), 1, t, lineType=cv2.LINE_8)
        layer += mask.astype(np.float32) * mm


def _tractor(c: _Canvas) -> None:
    s, o = c.steel, c.organic
    cab = np.array([[0.015, 0.78], [0.015, 0.42], [0.03, 0.30], [0.135, 0.29], [0.145, 0.78]])
    mask = np.zeros((c.h, c.w), np.uint8)
    cv2.fillPoly(mask, [np.round(cab * [c.w, c.h]).astype(np.int32)], 1)
    s += mask * np.float32(3.0)                              # the cab's two side skins
    cv2.polylines(mask, [np.round(cab * [c.w, c.h]).astype(np.int32)], True, 2, max(1, c.h // 300))
    s += (mask == 2) * np.float32(60.0)                     # skin seen edge on at the outline
    c.rect(o, 0.03, 0.13, 0.52, 0.62, 250.0)                 # seats, dashboard
    c.rect(s, 0.035, 0.115, 0.32, 0.44, -2.0)                # windows: glass instead of steel
    c.rect(s, 0.03, 0.115, 0.60, 0.79, 160.0)                # engine block
    c.rect(s, 0.045, 0.10, 0.64, 0.75, 120.0)                # crankcase, denser core
    c.rect(s, 0.015, 0.235, 0.78, 0.81, 18.0)                # tractor chassis rails
    c.rect(s, 0.145, 0.19, 0.78, 0.86, 6.0)                  # fuel tank shell ...
    c.rect(o, 0.147, 0.188, 0.80, 0.855, 500.0)              # ... and diesel
    c.rect(s, 0.18, 0.235, 0.765, 0.785, 90.0)               # fifth wheel
    for u in (0.075, 0.175, 0.232):
        _wheel(c, u)


def _wheel(c: _Canvas, u: float) -> None:
    c.disc(c.organic, u, 0.91, 0.062, 180.0)                 # tyre rubber
    c.disc(c.organic, u, 0.91, 0.04, -180.0)                 # (the rim is steel, not rubber)
    c.disc(c.steel, u, 0.91, 0.04, 25.0)                     # rim
    c.disc(c.steel, u, 0.91, 0.016, 140.0)                  # hub and axle end on


def _trailer(c: _Canvas) -> None:
    c.rect(c.steel, 0.225, 0.985, 0.79, 0.83, 16.0)          # main beams (webs across the beam)
    c.rect(c.steel, 0.225, 0.985, 0.79, 0.797, 120.0)        # their flanges, seen along their width
    c.rect(c.steel, 0.30, 0.31, 0.79, 0.90, 40.0)            # landing gear
    for u in (0.80, 0.865, 0.93):
        _wheel(c, u)
        c.rect(c.steel, u - 0.02, u + 0.02, 0.83, 0.845, 35.0)   # suspension


def _container(c: _Canvas) -> None:
    s, o = c.steel, c.organic
    x0, x1 = c.x(BOX_U0), c.x(BOX_U1)
    # side walls: 2 x 1.6 mm, more where the trapezoid corrugation runs oblique to the beam
    pitch = max(4.0, (x1 - x0) / 44.0)
    phase = (np.arange(x1 - x0, dtype=np.float32) % pitch) / pitch
    wall = np.where((np.abs(phase - 0.25) < 0.06) | (np.abs(phase - 0.75) < 0.06), 7.5, 3.2).astype(np.float32)
    s[c.y(BOX_V0):c.y(FLOOR_V), x0:x1] += wall[None, :]
    c.rect(s, BOX_U0, BOX_U1, BOX_V0, BOX_V0 + 0.012, 220.0)     # roof panel seen edge on
    c.rect(s, BOX_U0, BOX_U1, BOX_V0, BOX_V0 + 0.02, 25.0)       # top side rails
    c.rect(o, BOX_U0, BOX_U1, FLOOR_V, FLOOR_V + 0.012, 2000.0)  # 28 mm plywood floor, 2.35 m deep
    c.rect(s, BOX_U0, BOX_U1, FLOOR_V + 0.012, BOX_V1, 9.0)      # bottom side rails' webs
    c.rect(s, BOX_U0, BOX_U1, BOX_V1 - 0.005, BOX_V1, 150.0)     # and their lower flanges
    step = 0.0245 * (BOX_U1 - BOX_U0) / 0.74                     # cross members every ~300 mm, end on
    u = BOX_U0 + 0.01
    while u < BOX_U1 - 0.01:
        c.rect(s, u, u + 0.0035, FLOOR_V + 0.012, BOX_V1 - 0.004, 700.0)
        u += step
    for end, inner in ((BOX_U0, 1), (BOX_U1, -1)):
        post0, post1 = sorted((end, end + inner * 0.012))
        c.rect(s, post0, post1, BOX_V0, BOX_V1, 45.0)            # corner posts (near and far)
        cast0, cast1 = sorted((end, end + inner * 0.014))
        c.rect(s, cast0, cast1, BOX_V0, BOX_V0 + 0.035, 160.0)   # corner castings
        c.rect(s, cast0, cast1, BOX_V1 - 0.035, BOX_V1, 160.0)
        wall0, wall1 = sorted((end + inner * 0.012, end + inner * 0.017))
        c.rect(s, wall0, wall1, BOX_V0, FLOOR_V, 90.0)           # end wall / doors seen edge on
    for k in range(4):                                           # door locking bars
        bar = BOX_U1 - 0.03 - k * 0.004
        c.rect(s, bar, bar + 0.0012, BOX_V0 + 0.02, FLOOR_V, 60.0)


def _cargo(c: _Canvas, kind: str, rng: np.random.Generator) -> None:
    top, floor = BOX_V0 + 0.05, FLOOR_V
    u, end = BOX_U0 + 0.022, BOX_U1 - 0.028
    while u < end:
        if kind == "cartons":
            width = rng.uniform(0.025, 0.06)
            levels = rng.integers(3, 8)
            height = (floor - top) * rng.uniform(0.55, 1.0) / levels
            for level in range(levels):
                v1 = floor - level * height
                c.rect(c.organic, u, min(u + width, end), v1 - height * 0.97, v1, float(rng.uniform(150, 900)))
            u += width + rng.uniform(0.0, 0.006)
        elif kind == "drums":
            radius = 0.014
            x0, x1 = c.x(u), c.x(min(u + 2 * radius, end))
            xs = (np.arange(x0, x1) + 0.5) / c.w - (u + radius)
            chord = 2 * np.sqrt(np.clip(radius ** 2 - xs ** 2, 0, None)) / (2 * radius)  # 0..1 across a drum
            y1, y0 = c.y(floor), c.y(floor - 0.19)
            liquid = float(rng.choice([0.0, 1.0, 1.0, 1.0])) * 650.0   # some drums empty
            c.organic[y0:y1, x0:x1] += (chord * liquid).astype(np.float32)[None, :]
            shell = np.where(chord < 0.35, 14.0, 3.0).astype(np.float32)  # the shell seen near-tangent
            c.steel[y0:y1, x0:x1] += shell[None, :]
            for hoop in (0.33, 0.66):
                yy = c.y(floor - 0.19 * hoop)
                c.steel[yy:yy + max(1, c.h // 600), x0:x1] += 30.0
            if rng.random() < 0.5:                                     # a second tier
                c.organic[c.y(floor - 0.39):c.y(floor - 0.20), x0:x1] += (chord * liquid).astype(np.float32)[None, :]
                c.steel[c.y(floor - 0.39):c.y(floor - 0.20), x0:x1] += shell[None, :]
            u += 2 * radius + 0.001
        else:  # pallets: a wooden base with blocks, goods stacked on it
            width = rng.uniform(0.05, 0.07)
            right = min(u + width, end)
            c.rect(c.organic, u, right, floor - 0.006, floor, 900.0)           # bottom boards
            c.rect(c.organic, u, right, floor - 0.03, floor - 0.024, 900.0)    # deck boards
            for block in np.linspace(u, right - 0.006, 3):
                c.rect(c.organic, block, block + 0.006, floor - 0.024, floor - 0.006, 600.0)
            goods = float(rng.uniform(300, 1400))
            c.rect(c.organic, u + 0.002, right - 0.002, floor - rng.uniform(0.2, 0.5), floor - 0.03, goods)
            u += width + 0.004


def _texture(c: _Canvas, rng: np.random.Generator) -> None:
    """Goods are not uniform: scale the cargo's organic path by a smooth random field (0.6-1.4)."""
    y0, y1, x0, x1 = c.y(BOX_V0 + 0.02), c.y(FLOOR_V), c.x(BOX_U0 + 0.02), c.x(BOX_U1 - 0.02)
    coarse = rng.uniform(0.6, 1.4, (12, 60)).astype(np.float32)
    fine = rng.uniform(0.9, 1.1, (48, 240)).astype(np.float32)
    size = (x1 - x0, y1 - y0)
    field = cv2.resize(coarse, size, interpolation=cv2.INTER_CUBIC) * cv2.resize(fine, size, interpolation=cv2.INTER_LINEAR)
    c.organic[y0:y1, x0:x1] *= field


def _detect(c: _Canvas, air: float, mu: dict[str, float], rng: np.random.Generator,
            gain: np.ndarray) -> np.ndarray:
    counts = np.exp(-(mu["steel"] * c.steel + mu["organic"] * c.organic))
    counts *= gain
    counts *= np.float32(air)
    noise = rng.standard_normal(counts.shape, dtype=np.float32)
    noise *= np.sqrt(counts + READ_NOISE ** 2)
    counts += noise
    counts += DARK_OFFSET
    np.clip(counts, 0, 65535, out=counts)
    return counts.astype(np.uint16)


def _gain(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """Per-row residue x board steps (32 rows) x a slow drift along the scan (time), as float32 (h, w)."""
    rows = 1 + 0.004 * rng.standard_normal(h) + np.repeat(0.003 * rng.standard_normal(h // 32 + 1), 32)[:h]
    t = np.linspace(0, 1, w)
    drift = 1 + 0.012 * np.sin(2 * np.pi * (0.6 * t + rng.random())) + 0.004 * t
    return (rows[:, None] * drift[None, :]).astype(np.float32)


def render_scan(request: RenderRequest) -> tuple[np.ndarray, ...]:
    """The scan's planes: (high,) or (high, low), each uint16 of shape (height, width)."""
    if request.cargo not in CARGO_KINDS:
        raise ValueError(f"cargo {request.cargo!r}: one of {', '.join(CARGO_KINDS)}")
    rng = np.random.default_rng(request.seed)
    width, height = request.size
    canvas = _Canvas(width, height)
    _tractor(canvas)
    _trailer(canvas)
    _container(canvas)
    if request.cargo != "empty":
        _cargo(canvas, request.cargo, rng)
        _texture(canvas, rng)
    np.clip(canvas.steel, 0, None, out=canvas.steel)
    np.clip(canvas.organic, 0, None, out=canvas.organic)
    gain = _gain(width, height, rng)
    planes = [_detect(canvas, AIR_HIGH, MU_HIGH, rng, gain)]
    if request.dual:
        planes.append(_detect(canvas, AIR_LOW, MU_LOW, rng, gain))
    return tuple(planes)


def windowed_8bit(plane: np.ndarray, low_pct: float = 0.5, high_pct: float = 99.5) -> np.ndarray:
    """An 8-bit view of a 16-bit plane, log-scaled and windowed between two percentiles (to look at)."""
    logged = np.log1p(plane.astype(np.float32))
    lo, hi = np.percentile(logged[:: max(1, plane.shape[0] // 500), :: max(1, plane.shape[1] // 500)],
                           (low_pct, high_pct))
    return np.clip((logged - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
