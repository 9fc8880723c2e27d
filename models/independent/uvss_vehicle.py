"""Vehicle descriptions for the under-vehicle (UVSS) generator: what is under a car, van or tractor.

A `VehicleSpec` holds every choice that shapes the underside (dimensions in metres, layout,
tones, texture seed), so the same vehicle can be drawn again for a second pass.
Coordinates: x across the vehicle (0 = centre line, + = the camera image's right),
y along it (0 = front bumper, growing towards the rear).

EVALUATION ONLY: never train, tune or select models on these images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

VehicleKind = Literal["car", "van", "truck_tractor"]
KINDS: tuple[VehicleKind, ...] = ("car", "van", "truck_tractor")


@dataclass(frozen=True)
class Axle:
    """One axle: where it is, how wide the wheels sit, and what hangs on it."""

    y_m: float
    track_m: float
    tyre_w_m: float
    tyre_len_m: float
    dual: bool
    diff: bool
    beam: bool


@dataclass(frozen=True)
class Box:
    """An axis-aligned part given by its centre and size (x across, y along)."""

    x_m: float
    y_m: float
    w_m: float
    l_m: float
    tone: float


@dataclass(frozen=True)
class VehicleSpec:
    """Everything needed to redraw one vehicle's underside."""

    kind: VehicleKind
    length_m: float
    width_m: float
    floor_len_m: float
    axles: tuple[Axle, ...]
    rail_gap_m: float
    rail_w_m: float
    rail_spans: tuple[tuple[float, float], ...]
    cross_members_y: tuple[float, ...]
    drive: Literal["fwd", "rwd", "awd"]
    engine: Box
    gearbox: Box | None
    driveshaft: bool
    fuel_tanks: tuple[Box, ...]
    tank_cylindrical: bool
    air_tanks: tuple[Box, ...]
    battery: Box | None
    exhaust_x_m: float
    muffler: Box
    spare_wheel: Box | None
    floor_tone: float
    metal_tone: float
    rib_pitch_m: float
    dirt: float
    texture_seed: int

    @property
    def front_axle_y(self) -> float:
        return self.axles[0].y_m

    @property
    def rear_axle_y(self) -> float:
        return self.axles[-1].y_m


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return round(float(rng.uniform(lo, hi)), 4)


def sample_vehicle(rng: np.random.Generator, kind: VehicleKind | None = None) -> VehicleSpec:
    """A random vehicle of `kind` (a random kind when None)."""
    chosen: VehicleKind = kind or KINDS[int(rng.choice(3, p=[0.45, 0.3, 0.25]))]
    if chosen == "car":
        return _car(rng)
    if chosen == "van":
        return _van(rng)
    return _tractor(rng)


def _cross_members(rng: np.random.Generator, y0: float, y1: float, n: int) -> tuple[float, ...]:
    ys = np.linspace(y0, y1, n) + rng.uniform(-0.06, 0.06, n)
    return tuple(round(float(y), 4) for y in ys)


def _car(rng: np.random.Generator) -> VehicleSpec:
    length = _u(rng, 3.8, 5.0)
    width = _u(rng, 1.65, 1.9)
    front = _u(rng, 0.8, 1.0)
    wheelbase = min(_u(rng, 2.4, 2.95), length - front - 0.65)
    fa, ra = front, front + wheelbase
    track = width - _u(rng, 0.17, 0.27)
    tyre_w, tyre_len = _u(rng, 0.18, 0.25), _u(rng, 0.45, 0.6)
    drive = ("fwd", "rwd", "awd")[int(rng.choice(3, p=[0.6, 0.25, 0.15]))]
    axles = (
        Axle(fa, track, tyre_w, tyre_len, False, drive == "awd", False),
        Axle(ra, track, tyre_w, tyre_len, False, drive != "fwd", False),
    )
    gap = _u(rng, 0.85, 1.1)
    spans = ((0.12, fa + 0.55), (ra - 0.55, length - 0.15))
    cms = (round(fa + 0.25, 4), round((fa + ra) / 2 + _u(rng, -0.2, 0.2), 4), round(ra - 0.3, 4))
    engine = Box(_u(rng, -0.08, 0.08), fa - _u(rng, 0.05, 0.2), _u(rng, 0.45, 0.65), _u(rng, 0.45, 0.65), _u(rng, 0.3, 0.45))
    gearbox = Box(0.0, engine.y_m + engine.l_m / 2 + 0.2, 0.28, 0.4, _u(rng, 0.4, 0.55)) if drive != "fwd" else None
    tank = Box(_u(rng, -0.15, 0.15), ra - _u(rng, 0.55, 0.75), _u(rng, 0.7, 1.0), _u(rng, 0.35, 0.55), _u(rng, 0.12, 0.28))
    side = 1.0 if rng.random() < 0.5 else -1.0
    muffler = Box(side * _u(rng, 0.15, 0.45), length - _u(rng, 0.35, 0.55), _u(rng, 0.25, 0.45), _u(rng, 0.2, 0.35), _u(rng, 0.5, 0.7))
    spare = Box(_u(rng, -0.2, 0.2), length - _u(rng, 0.55, 0.7), 0.6, 0.6, _u(rng, 0.15, 0.3)) if rng.random() < 0.3 else None
    return VehicleSpec(
        "car", length, width, length, axles, gap, _u(rng, 0.06, 0.09), spans, cms, drive, engine, gearbox,
        drive != "fwd", (tank,), False, (), None, side * _u(rng, 0.17, 0.26) if drive != "fwd" else side * _u(rng, 0.0, 0.12),
        muffler, spare,
        _u(rng, 0.22, 0.38), _u(rng, 0.45, 0.6), _u(rng, 0.12, 0.25), _u(rng, 0.0, 0.6),
        int(rng.integers(0, 2**31 - 1)),
    )


def _van(rng: np.random.Generator) -> VehicleSpec:
    length = _u(rng, 4.8, 6.0)
    width = _u(rng, 1.9, 2.05)
    front = _u(rng, 0.9, 1.05)
    wheelbase = min(_u(rng, 3.0, 3.8), length - front - 0.8)
    fa, ra = front, front + wheelbase
    track = width - _u(rng, 0.2, 0.3)
    dual = rng.random() < 0.3
    drive = "rwd" if rng.random() < 0.7 else "fwd"
    axles = (
        Axle(fa, track, 0.21, 0.6, False, False, False),
        Axle(ra, track, 0.21, 0.6, dual, drive == "rwd", True),
    )
    gap = _u(rng, 1.0, 1.2)
    spans = ((0.3, length - 0.2),)
    cms = _cross_members(rng, fa + 0.3, length - 0.4, int(rng.integers(4, 8)))
    engine = Box(0.0, fa - _u(rng, 0.0, 0.2), _u(rng, 0.5, 0.7), _u(rng, 0.55, 0.75), _u(rng, 0.3, 0.45))
    gearbox = Box(0.0, engine.y_m + engine.l_m / 2 + 0.25, 0.3, 0.5, _u(rng, 0.4, 0.55)) if drive == "rwd" else None
    side = 1.0 if rng.random() < 0.5 else -1.0
    tank = Box(-side * _u(rng, 0.25, 0.45), ra - _u(rng, 0.8, 1.2), _u(rng, 0.5, 0.8), _u(rng, 0.5, 0.8), _u(rng, 0.3, 0.5))
    muffler = Box(side * _u(rng, 0.3, 0.55), fa + wheelbase * _u(rng, 0.45, 0.7), _u(rng, 0.2, 0.3), _u(rng, 0.4, 0.7), _u(rng, 0.5, 0.7))
    spare_y = min(ra + _u(rng, 0.5, 0.8), length - 0.45)
    spare = Box(0.0, spare_y, 0.66, 0.66, _u(rng, 0.12, 0.25)) if rng.random() < 0.6 else None
    return VehicleSpec(
        "van", length, width, length, axles, gap, _u(rng, 0.07, 0.1), spans, cms, drive, engine, gearbox,
        drive == "rwd", (tank,), False, (), None, side * _u(rng, 0.25, 0.5), muffler, spare,
        _u(rng, 0.25, 0.4), _u(rng, 0.45, 0.62), _u(rng, 0.15, 0.3), _u(rng, 0.1, 0.8),
        int(rng.integers(0, 2**31 - 1)),
    )


def _tractor(rng: np.random.Generator) -> VehicleSpec:
    length = _u(rng, 5.8, 7.2)
    width = _u(rng, 2.45, 2.55)
    front = _u(rng, 1.3, 1.5)
    tandem = rng.random() < 0.5
    wheelbase = _u(rng, 3.3, 3.9) if tandem else _u(rng, 3.4, 4.2)
    wheelbase = min(wheelbase, length - front - (2.2 if tandem else 0.9))
    fa, ra = front, front + wheelbase
    track = width - _u(rng, 0.3, 0.4)
    axles = [Axle(fa, track, 0.32, 0.75, False, False, True), Axle(ra, track - 0.1, 0.28, 0.75, True, True, True)]
    if tandem:
        axles.append(Axle(ra + _u(rng, 1.3, 1.4), track - 0.1, 0.28, 0.75, True, True, True))
    gap = _u(rng, 0.84, 0.88)
    spans = ((0.35, length - 0.1),)
    cms = _cross_members(rng, fa + 0.6, length - 0.3, int(rng.integers(5, 9)))
    engine = Box(0.0, fa + _u(rng, -0.2, 0.3), 0.7, _u(rng, 1.0, 1.3), _u(rng, 0.3, 0.42))
    gearbox = Box(0.0, engine.y_m + engine.l_m / 2 + 0.35, 0.4, 0.7, _u(rng, 0.4, 0.5))
    tank_side = 1.0 if rng.random() < 0.5 else -1.0
    tank_len = _u(rng, 0.8, 1.6)
    tank_x = tank_side * (gap / 2 + 0.38)
    tanks = [Box(tank_x, fa + 1.2 + tank_len / 2, 0.6, tank_len, _u(rng, 0.45, 0.65))]
    if rng.random() < 0.4:
        tanks.append(Box(-tank_x, fa + 1.2 + tank_len / 2, 0.6, tank_len * _u(rng, 0.6, 1.0), _u(rng, 0.45, 0.65)))
    air = tuple(
        Box(round(-tank_side * (gap / 2 + 0.2), 4), round(fa + 1.1 + 0.3 * i, 4), 0.55, 0.22, _u(rng, 0.5, 0.7))
        for i in range(int(rng.integers(2, 4)))
    )
    battery = Box(-tank_side * (gap / 2 + 0.35), fa + _u(rng, 2.1, 2.5), 0.5, 0.5, _u(rng, 0.2, 0.35)) if len(tanks) == 1 else None
    muffler = Box(tank_side * (gap / 2 + 0.35), fa + 0.75, 0.45, 0.55, _u(rng, 0.5, 0.7))
    spare = Box(0.0, length - _u(rng, 0.6, 0.75), 0.7, 0.75, _u(rng, 0.12, 0.25)) if rng.random() < 0.3 else None
    return VehicleSpec(
        "truck_tractor", length, width, round(fa + _u(rng, 0.85, 1.1), 4), tuple(axles), gap, _u(rng, 0.08, 0.1), spans, cms, "rwd", engine,
        gearbox, True, tuple(tanks), True, air, battery, tank_side * (gap / 2 + 0.3), muffler, spare,
        _u(rng, 0.2, 0.32), _u(rng, 0.42, 0.6), _u(rng, 0.3, 0.5), _u(rng, 0.2, 1.0),
        int(rng.integers(0, 2**31 - 1)),
    )
