"""Procedural undercarriages, as a line-scan camera in the road sees them from below (vehicle frame).

One `Vehicle` per plate: its type, length, axle positions, which side the fuel tank and the
exhaust are on and every small bracket and hose come from a generator seeded by the plate, so the
same plate comes back looking the same. The vehicle is drawn in its own frame (x across the lane
at `MM_PER_PX`, y along the vehicle from the front at the camera's mm per line); where the camera
sees it from (lateral offset, speed, line-rate lag, lighting, noise) is `firmware_stubs.line_scan`.
Brightness follows a part's height above the camera (the fill light falls off with distance) and
its material: tyres dark, machined steel bright, the body floor far and dim.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

MM_PER_PX = 0.8                      # 4096 px across = 3.28 m of lane
MAX_OFFSET_PX = 256                  # how far off centre a vehicle may drive
CANVAS_WIDTH = 4096 + 2 * MAX_OFFSET_PX
BACKGROUND = 14.0                    # canopy / sky beyond the vehicle: the fill light does not reach it
OBJECT_KINDS = ("package", "box", "plate", "cylinder")


class VehicleType(StrEnum):
    """What the stub can render."""

    TRACTOR_TRAILER = "tractor_trailer"
    BOX_TRUCK = "box_truck"
    VAN = "van"
    CAR = "car"


def plate_rng(*parts: str) -> np.random.Generator:
    """A generator seeded by text (a plate, plus whatever else must be stable with it)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


@dataclass(frozen=True)
class Vehicle:
    """The undercarriage layout of one vehicle (mm), fixed by its plate."""

    plate: str
    kind: VehicleType
    length_mm: float
    width_mm: float
    axles_mm: tuple[float, ...]      # y of each axle centre from the front
    rail_half_gap_mm: float          # frame rail centre from the centre line (0: no ladder frame)
    tank_side: int                   # +1 right, -1 left
    exhaust_side: int

    @property
    def seed(self) -> str:
        return f"{self.plate}/{self.kind}"


def vehicle_for(plate: str, kind: VehicleType | None = None) -> Vehicle:
    """The vehicle behind `plate`: type (unless given) and dimensions drawn from the plate's seed."""
    rng = plate_rng(plate, "layout")
    if kind is None:   # a border port sees mostly lorries
        kind = VehicleType(rng.choice([t.value for t in VehicleType], p=[0.45, 0.25, 0.15, 0.15]))
    rng = plate_rng(plate, "layout", kind.value)
    side, ex = (1 if rng.random() < 0.5 else -1), (1 if rng.random() < 0.5 else -1)
    if kind is VehicleType.TRACTOR_TRAILER:
        length = rng.uniform(16_000, 18_000)
        front = rng.uniform(1_300, 1_500)
        drive = front + rng.uniform(3_200, 3_600)
        rear = length - rng.uniform(1_300, 1_800)
        axles = (front, drive, drive + 1_350, rear - 2_620, rear - 1_310, rear)
        return Vehicle(plate, kind, length, 2_500, axles, rng.uniform(420, 440), side, -side)
    if kind is VehicleType.BOX_TRUCK:
        length = rng.uniform(7_000, 9_500)
        front = rng.uniform(1_200, 1_400)
        axles = (front, length - rng.uniform(1_800, 2_600))
        return Vehicle(plate, kind, length, rng.uniform(2_300, 2_500), axles, rng.uniform(400, 430), side, -side)
    if kind is VehicleType.VAN:
        length = rng.uniform(5_000, 6_000)
        axles = (rng.uniform(850, 1_000), length - rng.uniform(1_100, 1_400))
        return Vehicle(plate, kind, length, rng.uniform(1_950, 2_050), axles, rng.uniform(480, 520), side, ex)
    length = rng.uniform(4_300, 4_900)
    axles = (rng.uniform(850, 1_000), length - rng.uniform(950, 1_150))
    return Vehicle(plate, kind, length, rng.uniform(1_750, 1_850), axles, 0.0, side, ex)


class Canvas:
    """A float32 radiance image in the vehicle's frame, drawn in millimetres."""

    def __init__(self, length_mm: float, mm_per_line: float) -> None:
        self.mm_per_line = mm_per_line
        self.rows = max(1, math.ceil(length_mm / mm_per_line))
        self.img = np.full((self.rows, CANVAS_WIDTH), BACKGROUND, np.float32)

    def col(self, x_mm: float) -> int:
        return int(round(CANVAS_WIDTH / 2 + x_mm / MM_PER_PX))

    def row(self, y_mm: float) -> int:
        return int(round(y_mm / self.mm_per_line))

    def box(self, x0: float, x1: float, y0: float, y1: float, value: float, shade: str = "",
            depth: float = 0.5) -> None:
        """Fill a rectangle; `shade` "x"/"y": curved (a tube along y / across), brightest on its axis."""
        c0, c1 = sorted((self.col(x0), self.col(x1)))
        r0, r1 = sorted((self.row(y0), self.row(y1)))
        c0, c1, r0 = max(c0, 0), min(c1, CANVAS_WIDTH), max(r0, 0)
        r1 = min(max(r1, r0 + 1), self.rows)
        if c1 <= c0 or r1 <= r0:
            return
        if not shade:
            self.img[r0:r1, c0:c1] = value
            return
        n = (c1 - c0) if shade == "x" else (r1 - r0)
        profile = value * (1 - depth + depth * np.cos(np.linspace(-1.45, 1.45, n, dtype=np.float32)))
        self.img[r0:r1, c0:c1] = profile[None, :] if shade == "x" else profile[:, None]

    def ellipse(self, x: float, y: float, rx_mm: float, ry_mm: float, value: float, thickness: int = -1) -> None:
        axes = (max(1, int(rx_mm / MM_PER_PX)), max(1, int(ry_mm / self.mm_per_line)))
        cv2.ellipse(self.img, (self.col(x), self.row(y)), axes, 0, 0, 360, float(value), thickness)

    def polyline(self, points_mm: list[tuple[float, float]], value: float, width_mm: float) -> None:
        """A pipe or hose: each segment a polygon `width_mm` wide in millimetres (pixels are not square)."""
        for (xa, ya), (xb, yb) in zip(points_mm, points_mm[1:]):
            length = math.hypot(xb - xa, yb - ya) or 1.0
            nx, ny = -(yb - ya) / length * width_mm / 2, (xb - xa) / length * width_mm / 2
            corners = [(xa + nx, ya + ny), (xb + nx, yb + ny), (xb - nx, yb - ny), (xa - nx, ya - ny)]
            poly = np.array([(self.col(x), self.row(y)) for x, y in corners], np.int32)
            cv2.fillConvexPoly(self.img, poly, float(value))

    def multiply(self, x0: float, x1: float, y0: float, y1: float, factor: np.ndarray | float) -> None:
        c0, c1 = sorted((max(self.col(x0), 0), min(self.col(x1), CANVAS_WIDTH)))
        r0, r1 = sorted((max(self.row(y0), 0), min(self.row(y1), self.rows)))
        if c1 > c0 and r1 > r0:
            self.img[r0:r1, c0:c1] *= factor


def wheel(c: Canvas, x: float, y: float, tread_mm: float, diameter_mm: float) -> None:
    """A tyre seen from below: dark rubber, curved along y, lateral tread grooves, lit sidewalls."""
    y0, y1 = y - 0.42 * diameter_mm, y + 0.42 * diameter_mm
    c.box(x - tread_mm / 2, x + tread_mm / 2, y0, y1, 46, shade="y", depth=0.6)
    grooves = (np.sin(np.arange(c.row(y1) - c.row(y0)) * c.mm_per_line * 2 * math.pi / 28.0) > 0.55)
    c.multiply(x - tread_mm / 2.4, x + tread_mm / 2.4, y0, y1, (1.0 - 0.45 * grooves.astype(np.float32))[:, None])
    for edge in (-1, 1):
        c.box(x + edge * tread_mm / 2 - 12, x + edge * tread_mm / 2 + 12, y0 + 40, y1 - 40, 78, shade="y")


def axle(c: Canvas, v: Vehicle, y: float, dual: bool, driven: bool, tyre: tuple[float, float]) -> None:
    """Beam across, wheels (twin on lorry rear axles), differential, brake chambers, springs."""
    tread, diameter = tyre
    outer = v.width_mm / 2 - tread / 2 - 20
    xs = [outer, outer - tread - 30] if dual else [outer]
    inner = min(xs) - tread / 2
    c.box(-inner, inner, y - 55, y + 55, 178, shade="y")
    for side in (-1, 1):
        for x in xs:
            wheel(c, side * x, y, tread, diameter)
        c.ellipse(side * (inner - 140), y + 150, 70, 70, 168)                 # brake chamber
        c.box(side * (inner - 160), side * (inner - 120), y, y + 150, 120)     # its push rod
        if v.rail_half_gap_mm:                                                 # leaf spring under the rail
            c.box(side * v.rail_half_gap_mm - 45, side * v.rail_half_gap_mm + 45, y - 700, y + 700, 150, "x")
            c.box(side * v.rail_half_gap_mm - 60, side * v.rail_half_gap_mm + 60, y - 70, y + 70, 205)
    if driven:
        c.ellipse(0, y, 190, 170, 150)
        c.ellipse(0, y - 10, 110, 95, 196)
        c.ellipse(0, y, 25, 25, 60)


def rails(c: Canvas, v: Vehicle, y0: float, y1: float, rng: np.random.Generator, pitch_mm: float,
          gap: float | None = None) -> None:
    """Ladder frame: two rails (lower flange seen), cross members with lightening holes, bolts."""
    g = gap or v.rail_half_gap_mm
    for y in np.arange(y0 + 300, y1 - 200, pitch_mm):
        y = y + rng.uniform(-60, 60)
        c.box(-g, g, y - 45, y + 45, 132, shade="y", depth=0.3)
        for x in (-g / 2, g / 2):
            c.ellipse(x, y, 55, 22, 70)
    for side in (-1, 1):
        c.box(side * g - 42, side * g + 42, y0, y1, 158, shade="x", depth=0.3)
        for y in rng.uniform(y0, y1, int((y1 - y0) / 400)):
            c.ellipse(side * g + rng.choice([-22, 22]), y, 7, 7, 60)


def details(c: Canvas, rng: np.random.Generator, y0: float, y1: float, x_half: float, n: int) -> None:
    """Brackets, clips and wiring: the clutter that makes one undercarriage unlike another."""
    for _ in range(n):
        x, y = rng.uniform(-x_half, x_half), rng.uniform(y0, y1)
        w, h = rng.uniform(30, 140), rng.uniform(30, 200)
        c.box(x - w / 2, x + w / 2, y - h / 2, y + h / 2, rng.uniform(95, 190))
    for _ in range(max(1, n // 6)):                                            # hoses and harnesses
        x, ys = rng.uniform(-x_half, x_half), np.linspace(y0, y1, 4)
        pts = [(x + rng.uniform(-35, 35), y) for y in ys]
        c.polyline(pts, rng.uniform(70, 110), rng.uniform(8, 14))


def spare_wheel(c: Canvas, x: float, y: float, radius_mm: float) -> None:
    c.ellipse(x, y, radius_mm, radius_mm, 42)
    c.ellipse(x, y, radius_mm * 0.62, radius_mm * 0.62, 150)
    c.ellipse(x, y, radius_mm * 0.25, radius_mm * 0.25, 185)
    for k in range(6):
        a = k * math.pi / 3
        c.ellipse(x + 0.42 * radius_mm * math.cos(a), y + 0.42 * radius_mm * math.sin(a), 22, 22, 55)


def tank(c: Canvas, x0: float, x1: float, y0: float, y1: float, value: float = 176) -> None:
    """A fuel or air tank: a tube along y, strapped twice."""
    c.box(x0, x1, y0, y1, value, shade="x", depth=0.55)
    for y in (y0 + 0.22 * (y1 - y0), y0 + 0.78 * (y1 - y0)):
        c.box(x0, x1, y - 22, y + 22, 92)


def _lorry_front(c: Canvas, v: Vehicle) -> float:
    """Bumper, engine, gearbox, steering axle; returns where the gearbox ends."""
    half = v.width_mm / 2
    c.box(-half, half, 0, 180, 96, shade="y")                                  # bumper
    e0, e1 = v.axles_mm[0] - 500, v.axles_mm[0] + 1_300
    c.box(-360, 360, e0, e1, 112)
    c.box(-260, 260, e0 + 200, e1 - 300, 150, shade="x", depth=0.35)            # oil sump
    c.ellipse(0, e1 - 420, 18, 18, 40)
    c.box(-200, 200, e1, e1 + 900, 124, shade="x")                             # gearbox
    axle(c, v, v.axles_mm[0], dual=False, driven=False, tyre=(315, 1_050))
    return e1 + 900


def _driveshaft(c: Canvas, y0: float, y1: float, radius_mm: float) -> None:
    c.box(-radius_mm, radius_mm, y0, y1, 186, shade="x", depth=0.6)
    for y in (y0 + 60, y1 - 60, (y0 + y1) / 2):
        c.box(-radius_mm * 1.5, radius_mm * 1.5, y - 50, y + 50, 208)


def _lorry_side_kit(c: Canvas, v: Vehicle, y: float) -> None:
    """Fuel tank outboard of a rail on one side, battery box and muffler on the other."""
    g, s = v.rail_half_gap_mm, v.tank_side
    tank(c, s * (g + 80), s * (g + 640), y, y + 1_300)
    c.box(-s * (g + 80), -s * (g + 560), y + 100, y + 700, 118)
    for k in range(5):
        c.box(-s * (g + 80), -s * (g + 560), y + 140 + k * 110, y + 160 + k * 110, 88)
    c.box(-s * (g + 90), -s * (g + 520), y + 850, y + 1_450, 150, shade="x")     # muffler
    c.polyline([(0, y - 900), (-s * 250, y - 300), (-s * (g + 300), y + 850)], 140, 90)


def draw_vehicle(v: Vehicle, mm_per_line: float) -> Canvas:
    """The whole undercarriage of `v` in its own frame (the same pixels every time for a plate)."""
    c = Canvas(v.length_mm, mm_per_line)
    rng = plate_rng(v.seed, "details")
    half, ax = v.width_mm / 2, v.axles_mm
    if v.kind is VehicleType.TRACTOR_TRAILER:
        kingpin = ax[1] - 400
        c.box(-half + 30, half - 30, kingpin - 900, v.length_mm, 58)          # trailer floor (farthest)
        for y in np.arange(kingpin + 900, v.length_mm - 100, 330):
            c.box(-half + 30, half - 30, y - 22, y + 22, 104, shade="y")
        c.box(-650, 650, kingpin - 800, kingpin + 700, 116)                    # upper coupler plate
        c.ellipse(0, kingpin, 60, 60, 215)
        rails(c, v, kingpin + 800, v.length_mm - 80, rng, 1_400, gap=500)      # trailer main beams
        for side in (-1, 1):
            c.box(side * (half - 70), side * (half - 20), kingpin - 900, v.length_mm, 138)
            c.box(side * 720, side * 860, kingpin + 2_200, kingpin + 2_340, 172)   # landing gear legs
        c.box(-720, 720, kingpin + 2_250, kingpin + 2_290, 134)
        spare_wheel(c, v.tank_side * 620, ax[3] - 1_500, 480)
        tank(c, -700, -250, kingpin + 3_200, kingpin + 3_500, 165)
        for y in ax[3:]:
            axle(c, v, y, dual=True, driven=False, tyre=(295, 1_000))
        details(c, rng, kingpin + 1_000, v.length_mm - 400, half - 300, 40)
        tractor_end = ax[2] + 1_100
        c.box(-half + 40, half - 40, 0, ax[0] + 1_600, 62)                     # cab floor
        rails(c, v, 0, tractor_end, rng, 1_000)
        gearbox_end = _lorry_front(c, v)
        _driveshaft(c, gearbox_end, ax[1], 55)
        _driveshaft(c, ax[1] + 100, ax[2], 50)
        _lorry_side_kit(c, v, ax[0] + 900)
        for y in ax[1:3]:
            axle(c, v, y, dual=True, driven=True, tyre=(295, 1_050))
        details(c, rng, 200, tractor_end, v.rail_half_gap_mm + 500, 30)
    elif v.kind is VehicleType.BOX_TRUCK:
        c.box(-half + 30, half - 30, 0, v.length_mm, 58)                       # box floor
        for y in np.arange(ax[0] + 1_500, v.length_mm - 100, 420):
            c.box(-half + 30, half - 30, y - 30, y + 30, 100, shade="y")       # body cross sills
        c.box(-half + 40, half - 40, 0, ax[0] + 1_500, 64)                     # cab floor
        rails(c, v, 0, v.length_mm - 150, rng, 950)
        gearbox_end = _lorry_front(c, v)
        _driveshaft(c, gearbox_end, ax[1], 52)
        _lorry_side_kit(c, v, ax[0] + 1_000)
        axle(c, v, ax[1], dual=True, driven=True, tyre=(265, 950))
        spare_wheel(c, 0, v.length_mm - 700, 440)
        details(c, rng, 200, v.length_mm - 200, half - 250, 45)
    else:
        van = v.kind is VehicleType.VAN
        c.box(-half + 60, half - 60, 60, v.length_mm - 60, 92 if van else 104)  # floor pan, low and close
        for x in np.arange(-half + 200, half - 200, 260):
            c.box(x - 18, x + 18, ax[0] + 900, ax[1] - 300, 122)                # stamped ribs
        c.box(-half + 150, half - 150, 80, ax[0] + 700, 124, shade="x", depth=0.2)   # engine undertray
        c.box(-380, 380, ax[0] - 200, ax[0] + 420, 146)                          # sump / subframe
        tire = (215, 680) if van else (205, 640)
        axle(c, v, ax[0], dual=False, driven=False, tyre=tire)
        if van:
            rails(c, v, ax[0] + 300, v.length_mm - 200, rng, 1_100)
            _driveshaft(c, ax[0] + 500, ax[1], 38)
            axle(c, v, ax[1], dual=False, driven=True, tyre=tire)
            spare_wheel(c, -v.exhaust_side * 300, v.length_mm - 420, 330)
        else:
            c.box(-half + 300, half - 300, ax[1] - 60, ax[1] + 60, 170, shade="y")   # torsion beam
            for side in (-1, 1):
                wheel(c, side * (half - 130), ax[1], tire[0], tire[1])
        c.box(-520, 520, ax[1] - 950, ax[1] - 350, 118, shade="y", depth=0.2)       # fuel tank
        ex = v.exhaust_side * 260
        c.polyline([(0, ax[0] + 300), (ex, ax[0] + 900), (ex, v.length_mm - 500)], 146, 52)
        c.ellipse(ex + v.exhaust_side * 120, v.length_mm - 520 - (0 if van else 150), 230, 320, 152)
        details(c, rng, ax[0] + 500, v.length_mm - 300, half - 350, 25)
    cells = (int(v.length_mm / 150) + 2, int(CANVAS_WIDTH * MM_PER_PX / 150) + 2)   # 15 cm mud and rust patches
    grime = cv2.resize(plate_rng(v.seed, "grime").normal(0, 1, cells).astype(np.float32), (CANVAS_WIDTH, c.rows),
                       interpolation=cv2.INTER_CUBIC)
    c.img *= 1 + 0.09 * grime
    c.img += plate_rng(v.seed, "texture").normal(0, 4.0, c.img.shape).astype(np.float32)
    return c


@dataclass(frozen=True)
class PlacedObject:
    """Something fixed underneath: its kind and where it is on the vehicle (mm, vehicle frame)."""

    kind: str
    x0_mm: float
    x1_mm: float
    y0_mm: float
    y1_mm: float


def add_object(c: Canvas, v: Vehicle, kind: str) -> PlacedObject:
    """Fix `kind` under the vehicle (in place), at a spot between the axles seeded by plate and kind."""
    if kind not in OBJECT_KINDS:
        raise ValueError(f"unknown object {kind!r} (known: {', '.join(OBJECT_KINDS)})")
    rng = plate_rng(v.seed, "object", kind)
    w, h = {"package": (460, 360), "box": (170, 120), "plate": (700, 520), "cylinder": (130, 680)}[kind]
    x = rng.uniform(-(v.width_mm / 2 - 450), v.width_mm / 2 - 450 - w)
    y = rng.uniform(v.axles_mm[0] + 900, max(v.axles_mm[0] + 1_000, v.axles_mm[-1] - 900 - h))
    x0, x1, y0, y1 = x, x + w, y, y + h
    if kind == "package":
        c.box(x0, x1, y0, y1, 132)
        c.multiply(x0, x1, y0, y1, 1 + 0.15 * np.sin(np.arange(c.col(x1) - c.col(x0)) / 9.0)[None, :])
        c.box(x0, x1, (y0 + y1) / 2 - 18, (y0 + y1) / 2 + 18, 212)             # straps
        c.box(x0 + 0.3 * w - 16, x0 + 0.3 * w + 16, y0 - 120, y1 + 120, 212)
    elif kind == "box":
        c.box(x0, x1, y0, y1, 196)
        c.box(x0 + 14, x1 - 14, y0 + 14, y1 - 14, 48)
    elif kind == "plate":
        c.box(x0, x1, y0, y1, 168, shade="x", depth=0.12)
        for bx, by in ((x0 + 40, y0 + 40), (x1 - 40, y0 + 40), (x0 + 40, y1 - 40), (x1 - 40, y1 - 40)):
            c.ellipse(bx, by, 16, 16, 226)
    else:
        tank(c, x0, x1, y0, y1, 192)
    return PlacedObject(kind, x0, x1, y0, y1)
