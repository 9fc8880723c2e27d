"""Where things are in a side-view X-ray of a container: box size and position, carrier, scales.

Rows are detector elements (vertical), columns are time along the scan. Sizes are in metres and
go through `Geometry.py` / `Geometry.px` (pixels per metre vertically / horizontally; the two
differ, as the vehicle's speed sets the horizontal scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# ISO container sizes (metres): outside length, outside height
LENGTH = {"20": 6.058, "40": 12.192, "45": 13.716}
HEIGHT = {"std": 2.591, "hc": 2.896}


@dataclass
class Geometry:
    """Pixel layout of one scan: scales, box edges and interior, carrier, floor and tunnel rows."""

    h: int
    w: int
    py: float  # pixels per metre, vertical
    px: float  # pixels per metre, horizontal (scan)
    top: float  # container outer top row
    bottom: float  # container outer bottom row (underside of the bottom rails)
    left: float
    right: float
    ground: float  # road surface row (may be below the frame)
    size: str  # "20", "40", "45"
    door_left: bool  # door end on the left (vehicle drove towards the right)
    carrier: str  # "trailer", "truck", "low"
    floor_top: float  # top of the floor boards (row)
    tunnel: tuple[float, float] | None  # gooseneck tunnel columns (x0, x1) or None
    tunnel_top: float  # row of the tunnel's top plate (when tunnel)
    inner_left: float
    inner_right: float
    inner_top: float

    def my(self, m: float) -> float:
        return m * self.py

    def mx(self, m: float) -> float:
        return m * self.px

    @property
    def front(self) -> float:
        """Column of the container's front end (the end wall, towards the tractor)."""
        return self.right if self.door_left else self.left

    @property
    def rear(self) -> float:
        return self.left if self.door_left else self.right

    @property
    def ahead(self) -> float:
        """+1 when the front is to the right, -1 when to the left."""
        return 1.0 if self.door_left else -1.0

    def interior(self) -> np.ndarray:
        """Bool [h, w]: the container's inside, where its contents can be."""
        m = np.zeros((self.h, self.w), bool)
        y0, y1 = int(np.ceil(self.inner_top)), int(self.floor_top)
        x0, x1 = int(np.ceil(self.inner_left)), int(self.inner_right)
        m[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = True
        if self.tunnel is not None:
            m[int(self.tunnel_top) - 1:, int(self.tunnel[0]):int(np.ceil(self.tunnel[1]))] = False
        return m


def sample_geometry(rng: np.random.Generator, h: int, w: int) -> Geometry:
    """Container size and position, vehicle type, scales: all random per seed."""
    size = str(rng.choice(["20", "40", "45"], p=[0.42, 0.5, 0.08]))
    height = HEIGHT["hc" if (size != "20" and rng.random() < 0.45) or rng.random() < 0.05 else "std"]
    carrier = str(rng.choice(["trailer", "truck", "low"], p=[0.68, 0.17, 0.15]))
    deck = {"trailer": rng.uniform(1.1, 1.42), "truck": rng.uniform(1.05, 1.3), "low": rng.uniform(0.55, 0.95)}[carrier]
    top = h * rng.uniform(0.03, 0.22)  # air above the roof
    ground = h * rng.uniform(0.93, 1.08)  # the detector column often stops short of the road
    py = (ground - top) / (deck + height)
    length = LENGTH[size]
    aniso = rng.uniform(0.65, 1.5)  # vehicle speed: horizontal scale / vertical scale
    px = py * aniso
    if length * px > 0.84 * w:  # the speed stretch may still lengthen it by up to a third
        px = 0.84 * w / length
    if length * px < 0.3 * w:
        px = 0.3 * w / length
    lpx = length * px
    left = rng.uniform(0.015 * w, w - lpx - 0.015 * w) if w - lpx > 0.03 * w else 0.015 * w
    right = left + lpx
    bottom = top + height * py
    door_left = bool(rng.random() < 0.5)
    floor_top = bottom - rng.uniform(0.14, 0.18) * py
    tunnel = None
    tunnel_top = floor_top
    if size != "20" and rng.random() < 0.75:  # gooseneck tunnel at the front end of 40/45 ft boxes
        tl = rng.uniform(3.0, 3.3) * px
        x0 = right - tl if door_left else left
        tunnel = (x0, x0 + tl)
        tunnel_top = floor_top - rng.uniform(0.1, 0.13) * py
    post = rng.uniform(0.14, 0.2) * px
    return Geometry(h=h, w=w, py=py, px=px, top=top, bottom=bottom, left=left, right=right, ground=ground,
                    size=size, door_left=door_left, carrier=carrier, floor_top=floor_top, tunnel=tunnel,
                    tunnel_top=tunnel_top, inner_left=left + post, inner_right=right - post,
                    inner_top=top + rng.uniform(0.05, 0.09) * py)
