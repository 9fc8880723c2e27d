"""The normal structure of a drive-through side-view X-ray of an empty container, and the detector.

Everything here is *normal*: the container's own steel (corrugated side walls, roof and rails,
floor on cross members, forklift pockets, gooseneck tunnel, corner posts and castings, door end
with locking bars, cam keepers and hinges, front end wall, dents, lashing rings), the road
vehicle under it (trailer or truck chassis beams, 2-3 axles with tyre / rim / hub / axle,
mudguards, landing legs, under-ride bumper, the tractor's rear) and the detector's own effects
(row and module gains, per-pulse dose, slow drift, afterglow trail along the scan, blur,
dose-dependent noise). None of it touches the anomaly mask.

Rows are detector elements (vertical), columns are time along the scan. The scene is drawn as
line integrals of attenuation (log domain, -ln transmission): 0 = air. Sizes are in metres and
go through `Geometry.py` / `Geometry.px` (pixels per metre vertically / horizontally; the two
differ, as the vehicle's speed sets the horizontal scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.signal import lfilter

from models.generators.common import Canvas, Layer, smooth_noise

# ISO container sizes (metres): outside length, outside height
LENGTH = {"20": 6.058, "40": 12.192, "45": 13.716}
HEIGHT = {"std": 2.591, "hc": 2.896}


@dataclass
class Geometry:
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


# --------------------------------------------------------------------------- drawing helpers


def _cover(a0: float, a1: float, n: int) -> tuple[int, np.ndarray]:
    """First index and per-pixel coverage of the interval [a0, a1) on a 0..n pixel axis."""
    a0, a1 = max(a0, 0.0), min(a1, float(n))
    if a1 <= a0:
        return 0, np.zeros(0, np.float32)
    i0, i1 = int(np.floor(a0)), int(np.ceil(a1))
    edges = np.arange(i0, i1 + 1, dtype=np.float32)
    cov = np.minimum(edges[1:], a1) - np.maximum(edges[:-1], a0)
    return i0, np.clip(cov, 0, 1).astype(np.float32)


def rect(img: np.ndarray, y0: float, y1: float, x0: float, x1: float, mu: float | np.ndarray) -> None:
    """Add `mu` over a rectangle, edge pixels weighted by their coverage (thin lines stay visible).

    `mu` may be a scalar, a row profile (len = covered rows) or a column profile."""
    h, w = img.shape
    if y1 - y0 < 0.6:  # keep sub-pixel lines: spread the same integral over one pixel
        mu, c = mu * (y1 - y0) / 0.6, (y0 + y1) / 2
        y0, y1 = c - 0.3, c + 0.3
    if x1 - x0 < 0.6:
        mu, c = mu * (x1 - x0) / 0.6, (x0 + x1) / 2
        x0, x1 = c - 0.3, c + 0.3
    ya, cy = _cover(y0, y1, h)
    xa, cx = _cover(x0, x1, w)
    if cy.size == 0 or cx.size == 0:
        return
    img[ya:ya + cy.size, xa:xa + cx.size] += np.float32(1) * np.outer(cy, cx) * mu


def radial(img: np.ndarray, cx: float, cy: float, rx: float, ry: float, profile) -> None:  # type: ignore[no-untyped-def]
    """Add profile(rho, theta) inside the ellipse (rho = normalised radius, 0 centre, 1 rim)."""
    h, w = img.shape
    x0, x1 = int(max(np.floor(cx - rx - 1), 0)), int(min(np.ceil(cx + rx + 2), w))
    y0, y1 = int(max(np.floor(cy - ry - 1), 0)), int(min(np.ceil(cy + ry + 2), h))
    if x1 <= x0 or y1 <= y0 or rx < 0.3 or ry < 0.3:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = (xx + 0.5 - cx) / rx, (yy + 0.5 - cy) / ry
    rho = np.sqrt(dx * dx + dy * dy)
    theta = np.arctan2(dy, dx)
    edge = np.clip((1.0 - rho) * min(rx, ry) + 0.5, 0, 1)  # anti-aliased outer edge
    img[y0:y1, x0:x1] += edge * profile(rho, theta).astype(np.float32)


def band(rho: np.ndarray, r0: float, r1: float, soft: float) -> np.ndarray:
    """Soft indicator of r0 <= rho < r1."""
    return np.clip((rho - r0) / soft + 0.5, 0, 1) * np.clip((r1 - rho) / soft + 0.5, 0, 1)


# --------------------------------------------------------------------------- container


def side_walls(g: Geometry) -> Layer:
    """Both corrugated side walls seen face-on: trapezoidal ribs give vertical bands; panel seams."""

    def layer(c: Canvas, r: np.random.Generator) -> None:
        mu = r.uniform(0.3, 0.6)
        pitch = g.mx(r.uniform(0.24, 0.34))  # rib pitch
        pitch2 = pitch * r.uniform(0.97, 1.03)  # the far wall's ribs beat against the near wall's
        phase2 = r.uniform(0, 1)
        xs = np.arange(g.w, dtype=np.float32) + 0.5
        # dents: the ribs bend locally (phase shift) and the projected path changes a little
        shift = np.zeros(g.w, np.float32)
        dents = []
        for _ in range(int(r.integers(0, 5))):
            dx, dw = r.uniform(g.inner_left, g.inner_right), g.mx(r.uniform(0.15, 0.6))
            shift += r.uniform(-0.35, 0.35) * pitch * np.exp(-0.5 * ((xs - dx) / dw) ** 2)
            dents.append((dx, dw))

        def ribs(x: np.ndarray, p: float, ph: float) -> np.ndarray:
            t = np.mod(x / p + ph, 1.0)
            slope = r.uniform(0.08, 0.14)
            # the sloped flanks (longer path) are darker; outer and inner faces in between
            prof = np.exp(-0.5 * ((t - 0.25) / slope) ** 2) + np.exp(-0.5 * ((t - 0.75) / slope) ** 2)
            return prof + 0.3 * (t < 0.5)

        prof = ribs(xs - g.left + shift, pitch, 0.0) + ribs(xs - g.left - shift, pitch2, phase2)
        amp = r.uniform(0.06, 0.22) * mu
        col = mu + amp * (prof - prof.mean())
        for _ in range(int(round((g.right - g.left) / g.mx(r.uniform(1.0, 1.3))))):  # panel seams (welds)
            sx = r.uniform(g.inner_left, g.inner_right)
            col += r.uniform(0.05, 0.2) * mu * np.exp(-0.5 * ((xs - sx) / max(g.mx(0.008), 0.4)) ** 2)
        rows = 1.0 + 0.04 * smooth_noise(r, (g.h, 1), g.h / 4)[:, 0]
        ya, cy = _cover(g.top, g.bottom, g.h)
        xa, cx = _cover(g.left, g.right, g.w)
        block = np.outer(cy * rows[ya:ya + cy.size], cx * col[xa:xa + cx.size])
        block *= 1.0 + 0.05 * smooth_noise(r, block.shape, g.my(0.4))  # paint, rust, plate thickness
        for dx, dw in dents:  # a dent bows the wall over part of its height
            dy0, dy1 = sorted(r.uniform(g.top, g.floor_top, 2))
            prof_x = np.exp(-0.5 * ((np.arange(xa, xa + cx.size) + 0.5 - dx) / dw) ** 2)
            prof_y = np.clip((np.arange(ya, ya + cy.size) + 0.5 - dy0) / max(dy1 - dy0, 1), 0, 1)
            prof_y = np.sin(np.pi * prof_y)
            block += r.uniform(-0.06, 0.06) * np.outer(prof_y, prof_x)
        c.img[ya:ya + cy.size, xa:xa + cx.size] += block.astype(np.float32)

    return layer


def roof_rails_floor(g: Geometry) -> Layer:
    """Roof edge-on (dense line), top and bottom side rails, floor boards on cross members,
    forklift pockets (20 ft), gooseneck tunnel (40/45 ft)."""

    def layer(c: Canvas, r: np.random.Generator) -> None:
        img = c.img
        L, R = g.left, g.right
        # roof: a thin sheet seen edge-on across the width, sagging a little between the ends
        roof_t = max(g.my(r.uniform(0.015, 0.04)), 0.7)
        rect(img, g.top, g.top + roof_t, L, R, r.uniform(1.3, 2.4))
        if r.random() < 0.5:  # roof bows / stiffeners: a second faint line just below
            rect(img, g.top + roof_t, g.top + roof_t + g.my(0.02), L, R, r.uniform(0.2, 0.5))
        rect(img, g.top, g.inner_top, L, R, r.uniform(0.5, 1.0))  # top side rails
        # bottom side rails: tall channels along both sides
        rect(img, g.floor_top, g.bottom, L, R, r.uniform(0.7, 1.3))
        rect(img, g.bottom - g.my(0.02), g.bottom, L, R, r.uniform(0.5, 1.2))  # their lower flange
        # floor boards (28 mm plywood / hardwood across the width)
        board = g.my(r.uniform(0.025, 0.04))
        rect(img, g.floor_top, g.floor_top + board, L, R, r.uniform(1.8, 3.2))
        # cross members under the floor at regular pitch, each seen end-on along its 2.4 m
        pitch = g.mx(r.uniform(0.25, 0.6))
        flange = max(g.mx(r.uniform(0.04, 0.06)), 0.8)
        cm_mu = r.uniform(1.5, 3.0)
        pockets = []
        if g.size == "20" and r.random() < 0.75:
            centre = (L + R) / 2
            half = g.mx(r.uniform(1.0, 1.06))
            pw = g.mx(r.uniform(0.33, 0.36))
            pockets = [(centre - half - pw / 2, centre - half + pw / 2), (centre + half - pw / 2, centre + half + pw / 2)]
        x = L + g.mx(0.15) + r.uniform(0, pitch)
        y_cm0 = g.floor_top + board
        while x < R - g.mx(0.15):
            in_pocket = any(a - flange < x < b for a, b in pockets)
            in_tunnel = g.tunnel is not None and g.tunnel[0] < x < g.tunnel[1]
            if not in_pocket:
                mu = cm_mu * (r.uniform(0.45, 0.65) if in_tunnel else r.uniform(0.9, 1.1))
                rect(img, y_cm0, g.bottom, x, x + flange, mu)
            x += pitch * r.uniform(0.97, 1.03)
        for a, b in pockets:  # forklift pocket: a steel channel across the width, hollow inside
            ph = g.my(r.uniform(0.1, 0.12))
            y1 = g.bottom - g.my(0.01)
            rect(img, y1 - ph, y1, a, b, -0.6 * cm_mu * 0.25)  # less steel where the pocket's air is
            plate = max(g.my(0.008), 0.6)
            rect(img, y1 - ph - plate, y1 - ph, a, b, r.uniform(1.2, 2.2))
            rect(img, y1 - plate, y1, a, b, r.uniform(1.2, 2.2))
            rect(img, y1 - ph, y1, a - flange, a, cm_mu)
            rect(img, y1 - ph, y1, b, b + flange, cm_mu)
        if g.tunnel is not None:  # the floor steps up over the gooseneck tunnel
            a, b = g.tunnel
            plate = max(g.my(r.uniform(0.006, 0.012)), 0.6)
            rect(img, g.tunnel_top, g.tunnel_top + plate, a, b, r.uniform(1.5, 2.8))
            rect(img, g.tunnel_top, g.floor_top, a, b, r.uniform(0.5, 1.2))  # tunnel side plates / boards
            inner = b if g.door_left else a  # the tunnel's end, where it steps down
            rect(img, g.tunnel_top, g.bottom, inner - g.mx(0.03), inner + g.mx(0.03), r.uniform(1.0, 2.0))

    return layer


def ends(g: Geometry) -> Layer:
    """Corner posts and castings, the door end (doors edge-on, header, sill, locking bars, cam
    keepers, handles, hinges) and the front end wall (corrugated, edge-on)."""

    def layer(c: Canvas, r: np.random.Generator) -> None:
        img = c.img
        post_w = g.inner_left - g.left
        for x0 in (g.left, g.right - post_w):  # corner posts, front and back of the box superposed
            mu = r.uniform(1.3, 2.3)
            rect(img, g.top, g.bottom, x0, x0 + post_w, mu * 0.6)
            lip = post_w * r.uniform(0.2, 0.35)  # the post's profile: denser where the section turns
            outer = x0 if x0 == g.left else x0 + post_w - lip
            rect(img, g.top, g.bottom, outer, outer + lip, mu * 0.6)
        cw, ch = g.mx(0.178), g.my(0.118)  # corner castings at all four corners, with their apertures
        for x0 in (g.left, g.right - cw):
            for y0 in (g.top, g.bottom - ch):
                mu = r.uniform(2.0, 3.5)
                rect(img, y0, y0 + ch, x0, x0 + cw, mu)
                radial(img, x0 + cw / 2, y0 + ch / 2, cw * 0.28, ch * 0.3, lambda rho, th, m=mu: -0.6 * m + 0 * rho)
        # door end
        rear, d = g.rear, g.ahead  # d points from the rear into the box
        door_x = rear + d * post_w * r.uniform(0.35, 0.6)
        door_w = max(g.mx(r.uniform(0.03, 0.06)), 1.0)
        dx0 = min(door_x, door_x + d * door_w)
        rect(img, g.inner_top, g.floor_top, dx0, dx0 + door_w, r.uniform(1.8, 3.2))  # both leaves edge-on
        header_h, sill_h = g.my(r.uniform(0.12, 0.2)), g.my(r.uniform(0.1, 0.16))
        hx0, hx1 = sorted((rear, rear + d * post_w * r.uniform(0.8, 1.2)))
        rect(img, g.top, g.top + header_h, hx0, hx1, r.uniform(1.5, 2.8))  # door header
        rect(img, g.bottom - sill_h, g.bottom, hx0, hx1, r.uniform(1.8, 3.0))  # door sill
        # locking bars (4 rods, superposed) just outside the doors, with cam keepers and handles
        bar_x = rear - d * g.mx(r.uniform(0.02, 0.06))
        bar_w = max(g.mx(r.uniform(0.025, 0.04)), 0.8)
        bx0 = min(bar_x, bar_x - d * bar_w)
        rect(img, g.top + header_h * 0.5, g.bottom - sill_h * 0.5, bx0, bx0 + bar_w, r.uniform(0.8, 1.8))
        for yk in (g.top + header_h * r.uniform(0.2, 0.6), g.bottom - sill_h * r.uniform(0.4, 0.9)):
            kh, kw = g.my(r.uniform(0.07, 0.12)), g.mx(r.uniform(0.05, 0.09))
            kx0 = min(bx0 - d * kw * 0.3, bx0 - d * kw * 0.3 + kw)
            rect(img, yk - kh / 2, yk + kh / 2, kx0, kx0 + kw, r.uniform(1.5, 3.0))  # cam keepers
        hy = g.top + (g.bottom - g.top) * r.uniform(0.5, 0.65)
        rect(img, hy - g.my(0.04), hy + g.my(0.04), bx0 - g.mx(0.05), bx0 + bar_w + g.mx(0.05), r.uniform(0.8, 1.8))
        n_hinges = int(r.integers(3, 5))
        for k in range(n_hinges):  # hinges on the outer edge of the door
            yk = g.inner_top + (g.floor_top - g.inner_top) * (0.08 + 0.84 * k / (n_hinges - 1))
            hh = g.my(r.uniform(0.06, 0.1))
            rect(img, yk - hh / 2, yk + hh / 2, min(rear, rear + d * post_w * 0.5), max(rear, rear + d * post_w * 0.5),
                 r.uniform(0.8, 1.6))
        # front end wall: corrugated sheet edge-on, a dense band as wide as the corrugation depth
        front = g.front
        fw = max(g.mx(r.uniform(0.04, 0.11)), 1.0)
        fx = front - g.ahead * (post_w * r.uniform(0.3, 0.7))
        fx0 = min(fx, fx - g.ahead * fw)
        ya, cy = _cover(g.inner_top, g.floor_top, g.h)
        if cy.size:
            along = 1.0 + 0.15 * np.sin(2 * np.pi * np.arange(cy.size) / max(g.my(r.uniform(0.25, 0.35)), 2.0))
            mu = r.uniform(1.5, 3.0) * along
            rect(img, ya, ya + cy.size, fx0, fx0 + fw, (mu * cy)[:, None])
        # lashing rings along the bottom and top rails, inside
        for yl in (g.floor_top - g.my(0.03), g.inner_top + g.my(0.03)):
            if r.random() < 0.25:
                continue
            spacing = g.mx(r.uniform(0.9, 1.6))
            xl = g.inner_left + g.mx(0.3) + r.uniform(0, spacing)
            mu = r.uniform(0.6, 1.6)
            while xl < g.inner_right - g.mx(0.3):
                rr = r.uniform(0.025, 0.04)
                radial(img, xl, yl, g.mx(rr), g.my(rr), lambda rho, th, m=mu: m * band(rho, 0.55, 1.1, 0.25))
                xl += spacing * r.uniform(0.9, 1.1)
        if r.random() < 0.4:  # ventilators under the top rail near both ends (plastic covers)
            for xv in (g.inner_left + g.mx(0.3), g.inner_right - g.mx(0.45)):
                rect(img, g.inner_top, g.inner_top + g.my(0.1), xv, xv + g.mx(0.15), r.uniform(0.1, 0.3))

    return layer


# --------------------------------------------------------------------------- the road vehicle


def _wheel(img: np.ndarray, r: np.random.Generator, g: Geometry, cx: float, radius: float) -> None:
    """Tyre ring (tread denser), steel rim with hand holes, hub, and the axle end-on (very dense)."""
    cy = g.ground - g.my(radius) * r.uniform(0.96, 0.99)  # loaded tyre sits a little flat
    rx, ry = g.mx(radius), g.my(radius)
    tyre, rim, disc = r.uniform(0.7, 1.5), r.uniform(1.5, 2.8), r.uniform(0.5, 1.0)
    hub, axle = r.uniform(2.0, 3.5), r.uniform(3.5, 5.5)
    rim_r = r.uniform(0.5, 0.58)
    holes = int(r.integers(0, 11))
    ph = r.uniform(0, 2 * np.pi)

    def profile(rho: np.ndarray, th: np.ndarray) -> np.ndarray:
        out = tyre * band(rho, rim_r, 1.0, 0.04) * (0.7 + 0.5 * np.clip((rho - rim_r) / (1 - rim_r), 0, 1) ** 2)
        out = out + rim * band(rho, rim_r - 0.05, rim_r + 0.01, 0.03)
        d = disc * band(rho, 0.2, rim_r - 0.05, 0.04)
        if holes:
            hole = band(rho, 0.32, 0.44, 0.05) * (np.cos(holes * (th - ph)) > 0.55)
            d = d * (1 - 0.8 * hole)
        out = out + d + hub * band(rho, 0.0, 0.22, 0.05) + axle * band(rho, 0.0, 0.1, 0.05)
        return out

    radial(img, cx, cy, rx, ry, profile)


def vehicle(g: Geometry) -> Layer:
    """Trailer or truck chassis under the box, axles and wheels, mudguards, landing legs,
    under-ride bumper, and sometimes the tractor's rear at the front end."""

    def layer(c: Canvas, r: np.random.Generator) -> None:
        img = c.img
        d = g.ahead
        if g.carrier == "low":  # a low flat deck: a thin band under the box, maybe small wheels
            deck = g.my(r.uniform(0.05, 0.15))
            rect(img, g.bottom, g.bottom + deck, g.left - g.mx(0.3), g.right + g.mx(0.3), r.uniform(1.0, 2.5))
            if r.random() < 0.6:  # small wheels in two groups (low-bed bogies, a rail wagon's)
                wr = r.uniform(0.2, 0.45)
                per = int(r.integers(1, 4))
                gap = wr * r.uniform(2.1, 2.6)
                for gx in (r.uniform(0.08, 0.25), r.uniform(0.75, 0.92)):
                    cx0 = g.left + (g.right - g.left) * gx
                    axle_y = g.ground - g.my(wr)
                    block = [cx0 - g.mx(gap) * (per - 1) / 2 - g.mx(wr), cx0 + g.mx(gap) * (per - 1) / 2 + g.mx(wr)]
                    if axle_y > g.bottom + deck:  # bogie frame between the deck and the axles
                        rect(img, g.bottom + deck, axle_y, block[0], block[1], r.uniform(0.3, 0.9))
                    for k in range(per):
                        _wheel(img, r, g, cx0 + g.mx(gap) * (k - (per - 1) / 2), wr)
            return
        # main beams (two I-beams, superposed): deep in the middle, shallow over the gooseneck
        over_f, over_r = g.mx(r.uniform(-0.1, 0.6)), g.mx(r.uniform(-0.05, 0.25))
        x_front = g.front + d * over_f
        x_rear = g.rear - d * over_r
        xa, xb = sorted((x_front, x_rear))
        beam = g.my(r.uniform(0.25, 0.45))
        flange = max(g.my(r.uniform(0.015, 0.03)), 0.7)
        web_mu, flange_mu = r.uniform(0.4, 0.9), r.uniform(1.0, 2.2)
        neck = g.mx(r.uniform(2.5, 3.6)) if g.carrier == "trailer" and g.size != "20" else 0.0
        na, nb = (xb - neck, xb) if g.door_left else (xa, xa + neck)
        ba, bb = (xa, na) if g.door_left else (nb, xb)
        y0 = g.bottom
        if neck > 0:  # gooseneck: the beam runs in the container's tunnel, shallower
            ny = g.tunnel_top if g.tunnel is not None else g.bottom
            nd = g.my(r.uniform(0.12, 0.2))
            rect(img, ny, ny + nd, na, nb, web_mu)
            rect(img, ny + nd - flange, ny + nd, na, nb, flange_mu)
            step = nb if not g.door_left else na
            rect(img, y0, y0 + beam, min(step, step + (-d) * g.mx(0.3)), max(step, step + (-d) * g.mx(0.3)), web_mu * 0.7)
            # king pin and its plate near the front
            kx = (nb - g.mx(r.uniform(0.6, 1.0))) if g.door_left else (na + g.mx(r.uniform(0.6, 1.0)))
            rect(img, ny + nd, ny + nd + g.my(0.07), kx - g.mx(0.04), kx + g.mx(0.04), r.uniform(1.5, 3.0))
        rect(img, y0, y0 + beam, ba, bb, web_mu)
        rect(img, y0, y0 + flange, ba, bb, flange_mu)
        rect(img, y0 + beam - flange, y0 + beam, ba, bb, flange_mu)
        # cross braces / outriggers of the chassis, seen along their length (dense)
        pitch = g.mx(r.uniform(0.6, 1.4))
        x = ba + r.uniform(0, pitch)
        cb = r.uniform(1.0, 2.5)
        while x < bb:
            rect(img, y0 + flange, y0 + beam * r.uniform(0.6, 1.0), x, x + max(g.mx(0.05), 0.8), cb)
            x += pitch * r.uniform(0.9, 1.1)
        # axles at the rear (trailer) or both ends (truck)
        radius = r.uniform(0.47, 0.54)
        spread = r.uniform(1.25, 1.41)
        short = g.size == "20"
        if g.carrier == "trailer":
            n_axles = int(r.choice([1, 2], p=[0.3, 0.7])) if short else int(r.choice([2, 3], p=[0.35, 0.65]))
        else:
            n_axles = int(r.integers(1, 3))
        back = g.rear + d * g.mx(r.uniform(0.5, 1.5) if short or g.carrier != "trailer" else r.uniform(0.8, 2.6))
        centres = [back + d * g.mx(spread) * k for k in range(n_axles)]
        if g.carrier == "truck":  # front steering axle ahead of the box, under the cab
            centres.append(g.front + d * g.mx(r.uniform(0.6, 1.6)))
        ground_gap = g.ground - (y0 + beam)
        for k, cx in enumerate(centres):
            _wheel(img, r, g, cx, radius)
            # suspension: spring hanger / air bag between axle and beam
            top_y, axle_y = y0 + beam, g.ground - g.my(radius)
            if axle_y > top_y:
                rect(img, top_y, axle_y, cx - g.mx(0.09), cx + g.mx(0.09), r.uniform(0.4, 1.2))
                rect(img, axle_y - g.my(0.05), axle_y + g.my(0.03), cx - g.mx(0.6), cx + g.mx(0.6), r.uniform(0.6, 1.6))
            if r.random() < 0.75:  # mudguard: a thin arc over the wheel
                mr = radius + r.uniform(0.04, 0.12)
                cyw = g.ground - g.my(radius)
                thick = r.uniform(0.06, 0.14)
                mu = r.uniform(0.4, 1.1)
                radial(img, cx, cyw, g.mx(mr), g.my(mr),
                       lambda rho, th, m=mu, t=thick: m * band(rho, 1 - t, 1.0, 0.05) * (np.sin(th) < -0.05))
        if g.carrier == "trailer":
            if ground_gap > g.my(0.3):  # landing legs behind the king pin, foot pads near the road
                lx = g.front - d * g.mx(r.uniform(0.8, 1.5) if short else r.uniform(1.8, 3.2))
                lw = g.mx(r.uniform(0.09, 0.15))
                foot = g.ground - g.my(r.uniform(0.03, 0.35))
                leg_mu = r.uniform(1.2, 2.4)
                rect(img, y0 + beam, foot, lx - lw / 2, lx + lw / 2, leg_mu)
                rect(img, foot - g.my(0.04), foot, lx - lw, lx + lw, leg_mu)
                rect(img, y0 + beam, y0 + beam + g.my(0.25), lx - lw, lx + lw, leg_mu * 0.6)  # crank gear box
                if r.random() < 0.6:  # diagonal brace
                    p0 = (lx, y0 + beam + g.my(0.6))
                    p1 = (lx - d * g.mx(0.8), y0 + beam)
                    tmp = np.zeros_like(img)
                    cv2.line(tmp, (int(p0[0]), int(p0[1])), (int(p1[0]), int(p1[1])), float(leg_mu * 0.5),
                             max(1, int(g.mx(0.04))), cv2.LINE_AA)
                    img += tmp
            if r.random() < 0.85:  # under-ride bumper at the rear: posts and a bar seen along the width
                ux = g.rear + d * g.mx(r.uniform(-0.1, 0.3))
                bar_y = g.ground - g.my(r.uniform(0.4, 0.55))
                bh, bw = g.my(r.uniform(0.08, 0.14)), g.mx(r.uniform(0.08, 0.14))
                rect(img, y0 + beam, bar_y, ux - g.mx(0.04), ux + g.mx(0.04), r.uniform(0.8, 1.8))
                rect(img, bar_y, bar_y + bh, ux - bw / 2, ux + bw / 2, r.uniform(2.5, 4.0))
                if r.random() < 0.6:  # light bar / number plate bracket
                    rect(img, y0 + beam, y0 + beam + g.my(0.12), ux - g.mx(0.25), ux + g.mx(0.25), r.uniform(0.2, 0.6))
            if r.random() < 0.45:
                _tractor_rear(img, r, g, centres, radius)
        elif g.carrier == "truck":
            _cab_back(img, r, g)

    return layer


def _tractor_rear(img: np.ndarray, r: np.random.Generator, g: Geometry, trailer_axles: list[float],
                  trailer_radius: float) -> None:
    """The tractor's rear beyond the box's front: chassis rails, fifth wheel, drive axles, cab back
    (none where its wheels would overlap the trailer's, as on a short 20 ft chassis)."""
    d = g.ahead
    fx = g.front - d * g.mx(r.uniform(0.7, 1.1))
    drive = [fx + d * g.mx(0.2) - d * g.mx(1.33) * k for k in range(int(r.integers(1, 3)))]
    if any(abs(a - b) < g.mx(2.0 * trailer_radius + 0.15) for a in drive for b in trailer_axles):
        return
    front = g.front
    fifth_y = g.tunnel_top if g.tunnel is not None else g.bottom
    rail_y = fifth_y + g.my(r.uniform(0.15, 0.3))
    rail_h = g.my(r.uniform(0.2, 0.3))
    start = front - d * g.mx(r.uniform(1.5, 3.0))
    end = front + d * g.mx(r.uniform(1.2, 2.5))
    xa, xb = sorted((start, end))
    rect(img, rail_y, rail_y + rail_h, xa, xb, r.uniform(0.6, 1.4))
    rect(img, fifth_y + g.my(0.03), rail_y, fx - g.mx(0.5), fx + g.mx(0.5), r.uniform(1.0, 2.0))  # fifth wheel
    radius = r.uniform(0.48, 0.53)
    for cx in drive:
        _wheel(img, r, g, cx, radius)
    if r.random() < 0.6:  # the back of the cab at the frame's edge (the cab itself is not scanned)
        cx = end
        cw = g.mx(r.uniform(0.05, 0.25))
        top = g.ground - g.my(r.uniform(2.8, 3.6))
        rect(img, top, rail_y, min(cx, cx + d * cw), max(cx, cx + d * cw), r.uniform(0.6, 1.6))
        rect(img, top, rail_y, min(cx + d * cw, cx + d * 3 * cw), max(cx + d * cw, cx + d * 3 * cw), r.uniform(0.2, 0.5))


def _cab_back(img: np.ndarray, r: np.random.Generator, g: Geometry) -> None:
    """A rigid truck's cab back wall ahead of the box (partly in frame)."""
    d = g.ahead
    x0 = g.front + d * g.mx(r.uniform(0.1, 0.4))
    cw = g.mx(r.uniform(0.05, 0.2))
    top = g.ground - g.my(r.uniform(2.6, 3.4))
    rect(img, top, g.bottom + g.my(0.4), min(x0, x0 + d * cw), max(x0, x0 + d * cw), r.uniform(0.6, 1.6))
    rect(img, g.bottom, g.bottom + g.my(0.3), min(x0, g.front), max(x0, g.front), r.uniform(0.6, 1.4))


# --------------------------------------------------------------------------- detector


def detector_effects(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Photometric effects of a linac line scanner on a transmission image in [0, 1]:
    per-row gain and detector-module steps, per-pulse dose jitter and slow source drift,
    afterglow trail along the scan after dense edges, mild blur, dose-dependent noise."""
    h, w = img.shape
    ref = h / 512.0
    out = img.astype(np.float32)
    # afterglow / detector lag: each line keeps a little of the previous lines' signal
    if rng.random() < 0.8:
        k = rng.uniform(0.01, 0.08)
        decay = np.exp(-1.0 / max(rng.uniform(1.5, 14.0) * ref, 0.5))
        src = out[:, ::-1] if rng.random() < 0.5 else out
        lag = lfilter([1 - decay], [1, -decay], src, axis=1).astype(np.float32)
        lag = np.concatenate([src[:, :1], lag[:, :-1]], axis=1)  # only the *previous* lines glow on
        mixed = (1 - k) * src + k * lag
        out = mixed[:, ::-1] if src is not out else mixed
        out = np.ascontiguousarray(out)
    # mild blur: crosstalk between detector elements, pulse integration along the scan
    sy, sx = rng.uniform(0.0, 0.9) * ref, rng.uniform(0.0, 0.7) * ref
    if max(sy, sx) > 0.15:
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=max(sx, 0.01), sigmaY=max(sy, 0.01))
    # rows: element gain residuals after calibration, and steps between detector modules
    rows = 1.0 + rng.uniform(0.001, 0.01) * rng.standard_normal(h)
    module = max(int(round(float(rng.choice([16, 24, 32, 48, 64])) * ref)), 2)
    start = int(rng.integers(0, module))
    n_mod = (h + module) // module + 1
    steps = 1.0 + rng.uniform(0.002, 0.02) * rng.standard_normal(n_mod)
    rows *= np.repeat(steps, module)[start:start + h]
    if rng.random() < 0.1:  # a weak element
        rows[int(rng.integers(h))] *= rng.uniform(0.85, 0.97)
    # columns: linac pulse-to-pulse dose jitter and slow drift of the source output
    cols = 1.0 + rng.uniform(0.001, 0.012) * rng.standard_normal(w)
    cols *= 1.0 + rng.uniform(0.005, 0.04) * smooth_noise(rng, (1, w), w / rng.uniform(2, 10))[0]
    out = out * rows[:, None].astype(np.float32) * cols[None, :].astype(np.float32)
    # dose-dependent (quantum) noise: relative noise grows where little gets through
    dose = rng.uniform(0.002, 0.022)
    out = out + dose * np.sqrt(np.clip(out, 1e-4, 1.0)) * rng.standard_normal(out.shape).astype(np.float32)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
