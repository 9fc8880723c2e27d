"""The empty container's own steel in a side-view X-ray: walls, roof, rails, floor, ends.

Corrugated side walls with dents and seams, roof edge-on, top and bottom rails, floor on cross
members, forklift pockets, gooseneck tunnel, corner posts and castings, door end with locking
bars, cam keepers and hinges, front end wall, lashing rings. All normal; none of it touches
the anomaly mask.
"""

from __future__ import annotations

import numpy as np

from models.generators.common import Canvas, Layer, smooth_noise
from models.generators.empty_container_geometry import Geometry
from models.generators.empty_container_raster import band, cover, radial, rect


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
        ya, cy = cover(g.top, g.bottom, g.h)
        xa, cx = cover(g.left, g.right, g.w)
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
        ya, cy = cover(g.inner_top, g.floor_top, g.h)
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
