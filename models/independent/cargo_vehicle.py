"""The truck in a loaded-container scan: one or two boxes, the trailer chassis, the tractor.

Container kinds: a 20 ft box (with more air around it in the frame), two 20 ft boxes on one
chassis, a 40 ft box, a 40 ft high cube. The box walls, corrugation, posts, rails, floor, cross
members and doors come from `xray_structure.draw_structure`; this module adds the carrier:
a skeletal or flat-bed trailer chassis with 2-3 axles of dual wheels, landing legs, bumper, and
the tractor's rear (fifth wheel, drive axles) under the front end, with its cab in frame in
about 40 % of scans.

EVALUATION ONLY: never train, tune or select models on these images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .cargo_draw import MU, STEEL, annulus, paste_at, radial_patch, shape, u
from .xray_geom import XGeom, add_ellipse, add_profile_z, add_rect
from .xray_structure import ContainerSpec, draw_structure

VehicleKind = Literal["20ft", "2x20ft", "40ft", "40ft_hc"]
VEHICLE_KINDS: tuple[VehicleKind, ...] = ("20ft", "2x20ft", "40ft", "40ft_hc")
_KIND_P = (0.3, 0.15, 0.35, 0.2)
L20, L40 = 6.058, 12.192


@dataclass(frozen=True)
class Vehicle:
    """A truck as scanned (metres; x along the frame from its left edge, z up from its bottom edge)."""

    kind: VehicleKind
    boxes: tuple[ContainerSpec, ...]
    scene_w_m: float
    scene_h_m: float
    ground_z_m: float
    front: Literal["left", "right"]
    cab_len_m: float
    cab_gap_m: float
    cab_in_frame: bool
    cab_roof_m: float
    chassis: Literal["skeletal", "flatbed"]
    trailer_axles: int
    drive_axles: int
    king_m: float
    first_axle_m: float
    texture_seed: int
    box_spans: tuple[tuple[float, float], ...] = field(default=())

    @property
    def load_x(self) -> tuple[float, float]:
        return self.boxes[0].x0_m, self.boxes[-1].x1_m


def _box(rng: np.random.Generator, size: str, height: float, x0: float, z0: float, door_end: str,
         scene_w: float, scene_h: float) -> ContainerSpec:
    length = L20 if size == "20ft" else L40
    return ContainerSpec(
        size="20ft" if size == "20ft" else "40ft", length_m=length, height_m=height, x0_m=round(x0, 4),
        z0_m=round(z0, 4), scene_w_m=scene_w, scene_h_m=scene_h, door_end=door_end,  # type: ignore[arg-type]
        wall_a=round(u(rng, 0.04, 0.08), 4), corrugation_pitch_m=round(u(rng, 0.26, 0.3), 4),
        corrugation_phase=round(u(rng, 0, 1), 4), far_wall_shift=round(u(rng, -0.15, 0.15), 4),
        post_w_m=round(u(rng, 0.12, 0.17), 4), cross_pitch_m=round(u(rng, 0.27, 0.34), 4),
        forklift_pockets=size == "20ft" and rng.random() < 0.5, gooseneck=size != "20ft" and rng.random() < 0.5,
        chassis=False, axles=2, texture_seed=int(rng.integers(2**31 - 1)))


def sample_vehicle(rng: np.random.Generator, kind: VehicleKind | None = None) -> Vehicle:
    """A truck and where it sits in the frame; 20 ft boxes leave 1-2.5 m of air at the ends."""
    kind = kind or VEHICLE_KINDS[int(rng.choice(len(VEHICLE_KINDS), p=_KIND_P))]
    height = 2.896 if kind == "40ft_hc" else 2.591
    front: Literal["left", "right"] = "left" if rng.random() < 0.5 else "right"
    cab_len = u(rng, 2.2, 2.55)
    cab_in = rng.random() < 0.4
    load_len = L20 if kind == "20ft" else L40
    air = (u(rng, 0.9, 2.5), u(rng, 0.9, 2.5)) if kind == "20ft" else (u(rng, 0.3, 0.9), u(rng, 0.3, 0.9))
    cab_gap = u(rng, 0.35, 0.9)
    front_extra = (u(rng, 0.8, cab_len) + cab_gap) if cab_in else 0.0
    scene_w = air[0] + air[1] + load_len + front_extra
    ground = u(rng, -0.25, 0.1)
    deck = u(rng, 1.12, 1.42)
    z0 = ground + deck
    scene_h = z0 + height + u(rng, 0.12, 0.55)
    load_x0 = (air[0] + front_extra) if front == "left" else air[0]
    rear_door = "right" if front == "left" else "left"
    boxes: list[ContainerSpec] = []
    short = kind == "20ft"
    if kind == "2x20ft":
        facing = rng.random() < 0.25  # doors towards each other, else both at the rear
        gap = u(rng, 0.06, 0.09)
        other = "left" if rear_door == "right" else "right"
        for k in range(2):
            x0 = load_x0 + k * (L20 + gap)
            is_rear = (k == 1) == (front == "left")
            door = other if (facing and is_rear) else rear_door
            boxes.append(_box(rng, "20ft", height, x0, z0, door, round(scene_w, 4), round(scene_h, 4)))
    else:
        door = rear_door if rng.random() < 0.9 else ("left" if rear_door == "right" else "right")
        boxes.append(_box(rng, "20ft" if kind == "20ft" else "40ft", height, load_x0, z0, door,
                          round(scene_w, 4), round(scene_h, 4)))
    return Vehicle(
        kind=kind, boxes=tuple(boxes), scene_w_m=round(scene_w, 4), scene_h_m=round(scene_h, 4),
        ground_z_m=round(ground, 4), front=front, cab_len_m=round(cab_len, 3), cab_gap_m=round(cab_gap, 3),
        cab_in_frame=cab_in, cab_roof_m=round(u(rng, 2.9, 3.9), 3),
        chassis="skeletal" if rng.random() < 0.75 else "flatbed",
        trailer_axles=(1 if rng.random() < 0.2 else 2) if short else int(rng.integers(2, 4)),
        drive_axles=int(rng.integers(1, 3)), king_m=round(u(rng, 0.8, 1.0 if short else 1.3), 3),
        first_axle_m=round(u(rng, 0.8, 1.0 if short else 1.3), 3), texture_seed=int(rng.integers(2**31 - 1)),
        box_spans=tuple((b.x0_m, b.x1_m) for b in boxes))


def _wheel_fn(r: float, dual: bool) -> Callable[[np.ndarray], np.ndarray]:
    """Radial attenuation of a truck wheel seen along its axle (tread, sidewalls, rim, drum, axle)."""
    n = 4 if dual else 2
    r_rim, tread = 0.285, 0.035

    def fn(rho: np.ndarray) -> np.ndarray:
        out = annulus(r - tread, r, MU * 1.15 * 0.26 * n + STEEL * 0.004 * n, 0.006)(rho)
        out += annulus(r_rim + 0.01, r - tread, MU * 1.15 * 0.03 * n, 0.006)(rho)
        out += annulus(r_rim - 0.006, r_rim + 0.01, STEEL * 0.2 * n * 0.5, 0.004)(rho)   # rim barrels along the axle
        out += annulus(0.0, r_rim - 0.006, STEEL * 0.012 * n, 0.004)(rho)                 # wheel discs face-on
        out += annulus(0.17, 0.2, STEEL * 0.2, 0.004)(rho)                                # brake drum
        out += annulus(0.0, 0.07, STEEL * 1.6, 0.004)(rho)                                # axle end-on
        return out
    return fn


def _wheels(a: np.ndarray, g: XGeom, x: float, ground: float, dual: bool, cache: dict[bool, tuple]) -> None:
    r = 0.52
    if dual not in cache:
        cache[dual] = radial_patch(g, r + 0.01, _wheel_fn(r, dual))
    paste_at(a, g, x, ground + r, cache[dual])
    for k in range(6):  # hand holes in the discs
        ang = k * np.pi / 3 + 0.3
        add_ellipse(a, g, x + 0.23 * np.cos(ang), ground + r + 0.23 * np.sin(ang), 0.028, 0.028, -STEEL * 0.03)


def _trailer(a: np.ndarray, g: XGeom, v: Vehicle, rng: np.random.Generator, cache: dict) -> None:
    """The trailer chassis under the boxes: beams or deck, twistlocks, axles, legs, bumper, spare tyre."""
    x0, x1 = v.load_x
    z0, gr = v.boxes[0].z0_m, v.ground_z_m
    rear, inward = (x1, -1.0) if v.front == "left" else (x0, 1.0)
    front_x = x0 if v.front == "left" else x1
    c0, c1 = x0 + 0.05, x1 - 0.05
    if v.chassis == "skeletal":
        add_rect(a, g, c0, c1, z0 - 0.4, z0 - 0.03, 0.55)                 # two main beam webs, face-on
        for zz in (z0 - 0.4, z0 - 0.05):
            add_rect(a, g, c0, c1, zz, zz + 0.018, STEEL * 0.25)           # flanges, crossed across their width
        n_cross = int((x1 - x0) / 1.2)
        for k in range(n_cross + 1):                                       # cross members, crossed along their length
            xc = x0 + 0.1 + k * (x1 - x0 - 0.2) / max(n_cross, 1)
            add_rect(a, g, xc - 0.04, xc + 0.04, z0 - 0.3, z0 - 0.06, 2.2)
    else:
        add_rect(a, g, c0, c1, z0 - 0.06, z0, MU * 0.7 * 2.4)              # wooden deck edge-on
        add_rect(a, g, c0, c1, z0 - 0.42, z0 - 0.06, 0.8)
        add_rect(a, g, c0, c1, z0 - 0.42, z0 - 0.4, STEEL * 0.3)
    for xs in [p for b in v.box_spans for p in (b[0] + 0.09, b[1] - 0.09)]:
        add_rect(a, g, xs - 0.05, xs + 0.05, z0 - 0.06, z0, 2.8)          # twistlocks
    first = rear + inward * v.first_axle_m
    for k in range(v.trailer_axles):
        wx = first + inward * k * 1.31
        _wheels(a, g, wx, gr, True, cache)
        add_rect(a, g, wx - 0.62, wx + 0.62, gr + 1.1, gr + 1.13, 1.0)        # mudguard edge
        add_rect(a, g, wx - 0.45, wx + 0.45, gr + 0.56, gr + 0.62, STEEL * 0.09)  # leaf spring / air-bag beam
        add_rect(a, g, wx - 0.06, wx + 0.06, gr + 0.6, z0 - 0.4, 1.4)          # hanger
    leg_m = v.king_m + 0.52 + (0.66 if v.drive_axles == 2 else 0.0) + u(rng, 0.2, 0.35 if v.kind == "20ft" else 0.6)
    leg = front_x + leg_m * (1.0 if v.front == "left" else -1.0)   # landing legs, just behind the tractor
    add_rect(a, g, leg - 0.05, leg + 0.05, gr + 0.35, z0 - 0.4, STEEL * 0.12)  # landing legs, raised
    add_rect(a, g, leg - 0.13, leg + 0.13, gr + 0.3, gr + 0.37, STEEL * 0.1)
    bx0, bx1 = sorted((rear + inward * 0.08, rear + inward * 0.2))
    add_rect(a, g, bx0, bx1, gr + 0.5, z0 - 0.4, 1.2)                          # under-ride guard
    add_rect(a, g, min(rear, rear + inward * 0.22), max(rear, rear + inward * 0.22), gr + 0.45, gr + 0.57,
             STEEL * 0.12)
    if rng.random() < 0.5:  # spare tyre carrier: a tyre lying flat under the deck
        sx = (x0 + x1) / 2 + u(rng, -1.5, 1.5)
        add_profile_z(a, g, sx - 0.5, sx + 0.5, z0 - 0.68, z0 - 0.42,
                      lambda z: MU * 1.15 * 0.25 * np.ones_like(z))
        add_rect(a, g, sx - 0.29, sx + 0.29, z0 - 0.64, z0 - 0.46, -MU * 1.15 * 0.15)


def _tractor(a: np.ndarray, g: XGeom, v: Vehicle, rng: np.random.Generator, cache: dict) -> None:
    """Fifth wheel, rails and drive axles under the trailer's front; the cab-over cab if it is in frame."""
    x0, x1 = v.load_x
    z0, gr = v.boxes[0].z0_m, v.ground_z_m
    out = -1.0 if v.front == "left" else 1.0       # from the trailer's front towards the tractor
    front_x = x0 if v.front == "left" else x1
    king = front_x - out * v.king_m
    cab_back = front_x + out * v.cab_gap_m
    ln = v.cab_len_m

    def at(s: float, z: float) -> list[float]:  # cab-local (metres from the cab's back, height) to scene
        return [cab_back + out * s, z]

    rail_end = cab_back + out * (ln - 0.1)
    lo, hi = sorted((king - out * 0.9, rail_end))
    add_rect(a, g, lo, hi, gr + 0.75, gr + 1.05, 0.6)                     # tractor frame rails
    add_rect(a, g, lo, hi, gr + 1.03, gr + 1.05, STEEL * 0.16)
    add_rect(a, g, lo, hi, gr + 0.75, gr + 0.77, STEEL * 0.16)
    add_rect(a, g, king - 0.55, king + 0.55, z0 - 0.2, z0 - 0.06, STEEL * 0.18)  # fifth-wheel plate
    for k in range(v.drive_axles):
        _wheels(a, g, king + out * (0.0 if v.drive_axles == 1 else (k - 0.5) * 1.32), gr, True, cache)
    if not v.cab_in_frame:
        return
    fl, rf = gr + u(rng, 1.05, 1.3), gr + v.cab_roof_m
    body = np.array([at(0, fl), at(ln, fl), at(ln, fl + 0.95), at(ln - 0.14, rf - 0.18), at(ln - 0.35, rf), at(0, rf)])
    shape(a, g, [body], 0.1)                                               # side panels and windows, face-on
    shape(a, g, [body], 2.2, line_m=0.03)                                  # walls, roof, windscreen edge-on
    belt = np.array([at(ln - 0.02, fl + 0.95), at(0.2, fl + 0.95)])
    shape(a, g, [belt], 0.35, line_m=0.02, closed=False)                   # belt line under the windows
    for s0 in (ln - 1.35, 0.25):                                           # door seam, rear-wall seam
        shape(a, g, [np.array([at(s0, fl + 0.05), at(s0, rf - 0.1)])], 0.3, line_m=0.01, closed=False)
    shape(a, g, [np.array([at(ln - 0.05, fl + 0.7), at(ln - 0.5, fl + 0.7), at(ln - 0.55, fl + 1.05),
                           at(ln - 0.12, fl + 1.1)])], 1.0)                # dashboard
    shape(a, g, [np.array([at(ln - 0.45, fl + 0.5), at(ln - 0.62, fl + 1.15)])], 1.4, line_m=0.04, closed=False)
    shape(a, g, [np.array([at(ln - 0.52, fl + 1.0), at(ln - 0.72, fl + 1.28)])], 1.2, line_m=0.035, closed=False)
    for s0 in (ln - 1.25,):                                                # seats (two across, aligned)
        shape(a, g, [np.array([at(s0, fl + 0.45), at(s0 + 0.5, fl + 0.45), at(s0 + 0.48, fl + 0.6),
                               at(s0, fl + 0.6)])], 0.9)
        shape(a, g, [np.array([at(s0 - 0.02, fl + 0.6), at(s0 + 0.1, fl + 0.6), at(s0 - 0.05, fl + 1.35),
                               at(s0 - 0.16, fl + 1.3)])], 0.8)
        shape(a, g, [np.array([at(s0 + 0.25, fl), at(s0 + 0.25, fl + 0.45)])], 1.5, line_m=0.05, closed=False)
    if ln > 2.3:                                                           # sleeper bunk
        shape(a, g, [np.array([at(0.05, fl + 0.6), at(0.75, fl + 0.6), at(0.75, fl + 0.72),
                               at(0.05, fl + 0.72)])], 0.45)
    eng = [at(ln - 1.7, gr + 0.55), at(ln - 0.6, gr + 0.55), at(ln - 0.6, gr + 1.25), at(ln - 0.8, gr + 1.42),
           at(ln - 1.5, gr + 1.42), at(ln - 1.7, gr + 1.2)]
    shape(a, g, [np.array(eng)], STEEL * 0.28)                             # engine block, head
    shape(a, g, [np.array([at(ln - 2.3, gr + 0.65), at(ln - 1.7, gr + 0.6), at(ln - 1.7, gr + 1.15),
                           at(ln - 2.3, gr + 1.0)])], STEEL * 0.16)        # gearbox
    add_rect(a, g, *sorted((at(ln - 0.25, 0)[0], at(ln - 0.15, 0)[0])), gr + 0.6, gr + 1.75, 1.0)  # radiator
    add_rect(a, g, *sorted((at(ln - 0.08, 0)[0], at(ln + 0.02, 0)[0])), gr + 0.35, gr + 0.72, 3.0)  # bumper
    ft = cab_back + out * u(rng, 0.2, 0.6)                                 # fuel tank behind / under the cab
    add_profile_z(a, g, ft - 0.55, ft + 0.55, gr + 0.45, gr + 1.05,
                  lambda z: MU * 0.84 * 0.6 * 2.0 * np.sqrt(np.clip(0.09 - (z - gr - 0.75) ** 2, 0, None)))
    add_rect(a, g, ft - 0.55, ft + 0.55, gr + 0.45, gr + 1.05, 0.25)
    bb = cab_back - out * 0.25                                              # battery box (lead)
    add_rect(a, g, bb - 0.25, bb + 0.25, gr + 0.55, gr + 0.85, 11.3 * MU * 0.12)
    sx = cab_back - out * 0.1                                              # exhaust stack
    add_rect(a, g, sx - 0.06, sx + 0.06, fl, rf + 0.2, 0.9)
    _wheels(a, g, cab_back + out * (ln - 0.7), gr, False, cache)
    arc = np.array([at(ln - 0.7 + 0.6 * np.cos(t), gr + 0.52 + 0.6 * np.sin(t)) for t in np.linspace(0.2, 2.9, 12)])
    shape(a, g, [arc], 1.2, line_m=0.02, closed=False)                                   # mudguard over the steer wheel


def draw_vehicle(v: Vehicle, g: XGeom) -> np.ndarray:
    """The attenuation map of the boxes (empty), the trailer and the tractor."""
    rng = np.random.default_rng(v.texture_seed)
    a = draw_structure(v.boxes[0], g)
    for b in v.boxes[1:]:
        a += draw_structure(b, g)
    cache: dict = {}
    _trailer(a, g, v, rng, cache)
    _tractor(a, g, v, rng, cache)
    return a
