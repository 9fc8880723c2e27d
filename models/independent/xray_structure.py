"""An empty shipping container (and its road chassis) as a side-view attenuation map.

The beam crosses the container's width, so: side walls are crossed face-on (thin, with the
corrugation's inclined faces a little denser: vertical periodic bands); members that run
across the width are crossed along their length and show very dense (floor, roof sheet,
cross members, end wall and doors seen edge-on); posts and rails are in between.

EVALUATION ONLY: never train, tune or select models on these images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .xray_geom import XGeom, add_ellipse, add_map, add_profile_x, add_rect

LENGTHS_M = {"20ft": 6.058, "40ft": 12.192}


@dataclass(frozen=True)
class ContainerSpec:
    """One container on its carrier, placed in the scan (metres; x along, z up)."""

    size: Literal["20ft", "40ft"]
    length_m: float
    height_m: float
    x0_m: float
    z0_m: float
    scene_w_m: float
    scene_h_m: float
    door_end: Literal["left", "right"]
    wall_a: float
    corrugation_pitch_m: float
    corrugation_phase: float
    far_wall_shift: float
    post_w_m: float
    cross_pitch_m: float
    forklift_pockets: bool
    gooseneck: bool
    chassis: bool
    axles: int
    texture_seed: int

    @property
    def x1_m(self) -> float:
        return self.x0_m + self.length_m

    @property
    def z1_m(self) -> float:
        return self.z0_m + self.height_m

    def interior(self) -> tuple[float, float, float, float]:
        """Usable load space (x0, x1, z0, z1): inside end wall/doors, floor top to roof underside."""
        front_in = self.post_w_m + 0.06
        door_in = self.post_w_m + 0.05
        left = self.x0_m + (door_in if self.door_end == "left" else front_in)
        right = self.x1_m - (door_in if self.door_end == "right" else front_in)
        return left, right, self.z0_m + 0.16, self.z1_m - 0.12


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return round(float(rng.uniform(lo, hi)), 4)


def sample_container(rng: np.random.Generator) -> ContainerSpec:
    size: Literal["20ft", "40ft"] = "20ft" if rng.random() < 0.5 else "40ft"
    length = LENGTHS_M[size]
    height = 2.896 if rng.random() < 0.4 else 2.591
    margin_l, margin_r = _u(rng, 0.15, 0.5), _u(rng, 0.15, 0.5)
    chassis = rng.random() < 0.8
    z0 = _u(rng, 1.15, 1.45) if chassis else _u(rng, 0.25, 0.5)
    return ContainerSpec(
        size=size, length_m=length, height_m=height, x0_m=margin_l, z0_m=z0,
        scene_w_m=round(margin_l + length + margin_r, 4), scene_h_m=round(z0 + height + _u(rng, 0.15, 0.5), 4),
        door_end="left" if rng.random() < 0.5 else "right", wall_a=_u(rng, 0.05, 0.09),
        corrugation_pitch_m=_u(rng, 0.26, 0.3), corrugation_phase=_u(rng, 0.0, 1.0),
        far_wall_shift=_u(rng, -0.15, 0.15), post_w_m=_u(rng, 0.12, 0.17), cross_pitch_m=_u(rng, 0.27, 0.34),
        forklift_pockets=size == "20ft" and rng.random() < 0.6, gooseneck=size == "40ft" and rng.random() < 0.5,
        chassis=chassis, axles=int(rng.integers(2, 4)), texture_seed=int(rng.integers(2**31 - 1)))


def geometry(spec: ContainerSpec, width: int, height: int) -> XGeom:
    return XGeom(height=height, width=width, sx=width / spec.scene_w_m, sy=height / spec.scene_h_m)


def _corrugation(spec: ContainerSpec, phase: float) -> Callable[[np.ndarray], np.ndarray]:
    def fn(x: np.ndarray) -> np.ndarray:
        u = ((x - spec.x0_m) / spec.corrugation_pitch_m + phase) % 1.0
        slope = np.exp(-(((u - 0.25) / 0.05) ** 2)) + np.exp(-(((u - 0.75) / 0.05) ** 2))
        return spec.wall_a * (1.0 + 1.1 * slope)
    return fn


def draw_structure(spec: ContainerSpec, g: XGeom) -> np.ndarray:
    """The attenuation map of the empty container, its carrier and fittings."""
    rng = np.random.default_rng(spec.texture_seed)
    a = np.zeros((g.height, g.width), np.float32)
    x0, x1, z0, z1, pw = spec.x0_m, spec.x1_m, spec.z0_m, spec.z1_m, spec.post_w_m
    for phase in (spec.corrugation_phase, spec.corrugation_phase + spec.far_wall_shift):
        add_profile_x(a, g, x0 + pw, x1 - pw, z0 + 0.16, z1 - 0.1, _corrugation(spec, phase))
    # dents: smooth local thickening of the walls
    for _ in range(int(rng.integers(0, 4))):
        cx, cz = float(rng.uniform(x0 + 0.5, x1 - 0.5)), float(rng.uniform(z0 + 0.5, z1 - 0.5))
        r = float(rng.uniform(0.1, 0.35))
        add_map(a, g, cx - r, cx + r, cz - r, cz + r,
                lambda X, Z, cx=cx, cz=cz, r=r: 0.04 * np.exp(-((X - cx) ** 2 + (Z - cz) ** 2) / (0.3 * r * r)))
    # roof: rails under it, the roof sheet seen edge-on, waving a little along the length
    add_rect(a, g, x0, x1, z1 - 0.1, z1 - 0.035, 0.7)
    roof_wave = lambda X, Z: 2.4 * (np.abs(Z - (z1 - 0.018 + 0.008 * np.sin(2 * np.pi * X / 0.24))) < 0.012)
    add_map(a, g, x0, x1, z1 - 0.04, z1, roof_wave)
    # bottom: side rails with flanges, the plywood floor edge-on, cross members under it
    add_rect(a, g, x0, x1, z0, z0 + 0.16, 0.6)
    add_rect(a, g, x0, x1, z0, z0 + 0.012, 0.5)
    add_rect(a, g, x0, x1, z0 + 0.122, z0 + 0.15, 2.2)
    _cross_members(a, g, spec, rng)
    # corner posts, corner castings
    for xa in (x0, x1 - pw):
        add_rect(a, g, xa, xa + pw, z0, z1, 1.3)
        inner = xa + pw - 0.012 if xa == x0 else xa
        add_rect(a, g, inner, inner + 0.012, z0, z1, 1.6)
        for za in (z0, z1 - 0.118):
            cx = xa if xa == x0 else x1 - 0.178
            add_rect(a, g, cx, cx + 0.178, za, za + 0.118, 2.6)
            add_ellipse(a, g, cx + 0.089, za + 0.059, 0.03, 0.02, -1.8)
    _ends(a, g, spec, rng)
    for k in range(int(spec.length_m // 1.0)):  # lashing rings on bottom and top rails
        xr = x0 + 0.5 + k * 1.0
        for zr in (z0 + 0.2, z1 - 0.14):
            add_ellipse(a, g, xr, zr, 0.025, 0.02, 0.8)
    if spec.chassis:
        _chassis(a, g, spec)
    return a


def _cross_members(a: np.ndarray, g: XGeom, spec: ContainerSpec, rng: np.random.Generator) -> None:
    x0, x1, z0 = spec.x0_m, spec.x1_m, spec.z0_m
    mid = (x0 + x1) / 2
    pockets = [(mid - 1.025 - 0.18, mid - 1.025 + 0.18), (mid + 1.025 - 0.18, mid + 1.025 + 0.18)] if spec.forklift_pockets else []
    front_is_left = spec.door_end == "right"
    tunnel = (x0, x0 + 3.2) if front_is_left else (x1 - 3.2, x1)
    x = x0 + spec.post_w_m + 0.15
    while x < x1 - spec.post_w_m - 0.1:
        fw = float(rng.uniform(0.045, 0.075))
        in_pocket = any(p0 - fw < x < p1 for p0, p1 in pockets)
        in_tunnel = spec.gooseneck and tunnel[0] <= x <= tunnel[1]
        if not in_pocket:
            add_rect(a, g, x, x + fw, z0 + 0.005, z0 + 0.122, 1.2 if in_tunnel else 3.6)
        x += spec.cross_pitch_m + float(rng.uniform(-0.01, 0.01))
    for p0, p1 in pockets:
        for zz in (z0, z0 + 0.11):
            add_rect(a, g, p0, p1, zz, zz + 0.008, 2.0)
        for xx in (p0, p1 - 0.006):
            add_rect(a, g, xx, xx + 0.006, z0, z0 + 0.118, 2.8)
    if spec.gooseneck:
        add_rect(a, g, tunnel[0], tunnel[1], z0 + 0.11, z0 + 0.122, 1.8)


def _ends(a: np.ndarray, g: XGeom, spec: ContainerSpec, rng: np.random.Generator) -> None:
    """The corrugated end wall edge-on at the front; doors, header, sill and locking gear at the back."""
    x0, x1, z0, z1, pw = spec.x0_m, spec.x1_m, spec.z0_m, spec.z1_m, spec.post_w_m
    door_left = spec.door_end == "left"
    front_in = x1 - pw - 0.05 if door_left else x0 + pw + 0.01
    add_rect(a, g, front_in, front_in + 0.04, z0, z1, 2.8)
    end = x0 if door_left else x1
    sign = -1.0 if door_left else 1.0  # outward, away from the container
    inner = end - sign * pw
    lo, hi = sorted((inner, end))
    add_rect(a, g, lo, hi, z1 - 0.22, z1, 2.2)   # door header
    add_rect(a, g, lo, hi, z0, z0 + 0.15, 2.4)   # door sill
    door = end - sign * 0.06
    add_rect(a, g, min(door, door + sign * 0.045), max(door, door + sign * 0.045), z0 + 0.15, z1 - 0.22, 2.6)
    n_bars = int(rng.integers(1, 3))
    for k in range(n_bars):
        bx = end + sign * (0.015 + 0.014 * k)
        add_rect(a, g, min(bx, bx + sign * 0.027), max(bx, bx + sign * 0.027), z0 + 0.06, z1 - 0.06, 1.8)
    bar_x = end + sign * 0.03
    for zz in (z0 + 0.08, z1 - 0.08):  # cam keepers
        add_ellipse(a, g, bar_x, zz, 0.035, 0.03, 3.0)
    for zz in np.linspace(z0 + 0.5, z1 - 0.5, 3):  # bar guides and hinges
        add_ellipse(a, g, bar_x, float(zz), 0.025, 0.02, 2.0)
        add_ellipse(a, g, end + sign * 0.01, float(zz) + 0.15, 0.03, 0.05, 1.5)
    hz = z0 + float(rng.uniform(0.9, 1.3))
    add_rect(a, g, min(end, end + sign * 0.13), max(end, end + sign * 0.13), hz, hz + 0.05, 1.6)


def _chassis(a: np.ndarray, g: XGeom, spec: ContainerSpec) -> None:
    """A skeletal road chassis under the container: main beams, axles, wheels, legs, bumper."""
    x0, x1, z0 = spec.x0_m, spec.x1_m, spec.z0_m
    door_left = spec.door_end == "left"
    rear = x0 if door_left else x1
    inward = 1.0 if door_left else -1.0
    c0, c1 = sorted((x0 + 0.1, x1 - 0.1))
    add_rect(a, g, c0, c1, z0 - 0.42, z0 - 0.02, 0.45)      # two main beams' webs
    for zz in (z0 - 0.42, z0 - 0.035):
        add_rect(a, g, c0, c1, zz, zz + 0.015, 1.4)           # flanges seen edge-on
    for k in range(4):                                      # twistlocks at the corners
        xt = (x0 + 0.09, x1 - 0.09)[k % 2]
        add_rect(a, g, xt - 0.05, xt + 0.05, z0 - 0.06, z0, 2.5)
    wheel_r = 0.5
    first = rear + inward * 1.0
    for k in range(spec.axles):
        wx = first + inward * k * 1.31
        add_ellipse(a, g, wx, wheel_r, wheel_r, wheel_r, 1.6)
        add_ellipse(a, g, wx, wheel_r, 0.3, 0.3, 1.6)
        add_ellipse(a, g, wx, wheel_r, 0.13, 0.13, 2.2)
        add_ellipse(a, g, wx, wheel_r, 0.06, 0.06, 4.0)
        add_rect(a, g, wx - 0.6, wx + 0.6, wheel_r + 0.55, wheel_r + 0.57, 0.8)   # mudguard
        add_rect(a, g, wx - 0.05, wx + 0.05, wheel_r + 0.1, z0 - 0.42, 1.0)      # suspension hanger
    leg = rear + inward * (spec.length_m - (1.6 if spec.size == "20ft" else 3.6))
    add_rect(a, g, leg - 0.06, leg + 0.06, 0.12, z0 - 0.42, 1.5)
    add_rect(a, g, leg - 0.15, leg + 0.15, 0.05, 0.12, 2.5)
    bx0, bx1 = sorted((rear + inward * 0.05, rear + inward * 0.15))
    add_rect(a, g, bx0, bx1, 0.45, z0 - 0.42, 1.2)
    add_rect(a, g, min(rear, rear + inward * 0.25), max(rear, rear + inward * 0.25), 0.45, 0.55, 3.0)
