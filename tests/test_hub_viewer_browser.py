"""The reviewer's image viewer (hub/web/static/viewer/) in a real browser, on synthetic scans.

A tiny FastAPI app serves the hub's static folder and the pixels route's format (raw
little-endian samples with X-Width/X-Height/X-Bits/X-Planes) for images made here, so the viewer
is tested before and apart from the hub. Headless Debian chromium has WebGL2 (ANGLE on
SwiftShader); the assertions read the RGBA actually drawn (gl.readPixels through
window.kouanViewer.pixelAt) and compare it with window/level/gamma applied to the known sample
under that point, so an effect that does not reach the screen fails.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI, HTTPException, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from tests.browser_harness import chromium

STATIC = Path(__file__).resolve().parent.parent / "hub" / "web" / "static"
REGION = {"x": 600, "y": 500, "width": 400, "height": 300, "score": 0.9}
SQUARE = (2400, 1200, 300)  # x, y, side of the bright square
MAGENTA = [255, 60, 240, 255]

PAGE = """<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="/viewer/viewer.css">
<style>html,body{margin:0;height:100%;background:#000}#viewer{height:100vh}</style></head>
<body><div id="viewer"></div><p id="renderer-note"></p><script type="module">
import { Viewer } from "/viewer/viewer.js";
const q = new URLSearchParams(location.search);
const v = new Viewer(document.getElementById("viewer"),
  { renderer: q.get("renderer") || "auto", maxTile: Number(q.get("maxTile")) || undefined });
document.addEventListener("keydown", (e) => v.handleKey(e));
const d = await (await fetch("/test/detail/" + (q.get("set") || "main"))).json();
await v.show(d.ref, d.earlier);
</script></body></html>"""


def gradient_scan(width: int, height: int, vertical: bool = False) -> np.ndarray:
    """A 16-bit gradient (2000..62000 across the image) with a bright square."""
    axis = np.linspace(2000, 62000, height if vertical else width, dtype=np.float64)
    img = np.empty((height, width), dtype=np.uint16)
    img[:] = (axis[:, None] if vertical else axis[None, :]).astype(np.uint16)
    x, y, side = SQUARE
    img[y:y + side, x:x + side] = 65000
    return img


@dataclass
class Images:
    """Raw images by sha256, and the detail documents the test page asks for."""

    raw: dict[str, np.ndarray] = field(default_factory=dict)
    sets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, img: np.ndarray) -> str:
        sha = hashlib.sha256(img.tobytes()).hexdigest()
        self.raw[sha] = img
        return sha


def make_app(images: Images) -> FastAPI:
    app = FastAPI()

    @app.get("/api/v1/images/{sha}/pixels")
    def pixels(sha: str) -> Response:
        img = images.raw.get(sha)
        if img is None:
            raise HTTPException(404)
        planes = 1 if img.ndim == 2 else img.shape[0]
        h, w = img.shape[-2:]
        headers = {"X-Width": str(w), "X-Height": str(h), "X-Bits": str(img.dtype.itemsize * 8), "X-Planes": str(planes)}
        return Response(img.astype(img.dtype.newbyteorder("<")).tobytes(), media_type="application/octet-stream",
                        headers=headers)

    @app.get("/test/detail/{name}")
    def detail(name: str) -> JSONResponse:
        return JSONResponse(images.sets[name])

    @app.get("/test/viewer.html")
    def page() -> HTMLResponse:
        return HTMLResponse(PAGE)

    app.mount("/", StaticFiles(directory=STATIC, html=True))
    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Images]]:
    images = Images()
    main = gradient_scan(4000, 3000)
    earlier = gradient_scan(4000, 3000, vertical=True)
    big = gradient_scan(6000, 5000)  # 60 MB of samples
    ref = lambda sha, caption: {"sha256": sha, "regions": [REGION], "caption": caption}  # noqa: E731
    images.sets["main"] = {"ref": ref(images.add(main), "this pass"),
                           "earlier": [{"caption": "earlier pass", "ref": ref(images.add(earlier), "earlier pass")}]}
    images.sets["big"] = {"ref": ref(images.add(big), "60 MB scan"), "earlier": []}
    rng = np.random.default_rng(7)
    dual = rng.integers(0, 256, (2, 800, 1000), dtype=np.uint8)  # two energy planes, 8 bits
    images.sets["dual"] = {"ref": ref(images.add(dual), "dual energy"), "earlier": []}
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(make_app(images), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", images
    srv.should_exit = True
    thread.join(5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as instance:
        yield instance


def open_viewer(browser: Any, base: str, query: str = "") -> Any:
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/test/viewer.html?{query}")
    page.wait_for_function("window.kouanViewer && window.kouanViewer.loaded", timeout=30_000)
    page.evaluate("() => new Promise(requestAnimationFrame)")
    assert not errors, errors
    return page


def hook(page: Any, expr: str) -> Any:
    return page.evaluate(f"() => window.kouanViewer.{expr}")


def sample_under(page: Any, img: np.ndarray, cx: float, cy: float, pane: int = 0) -> float:
    """The image's sample under client point (cx, cy) of a pane."""
    p = page.evaluate(f"() => window.kouanViewer.clientToImage({cx}, {cy}, {pane})")
    return float(img[int(p["y"]), int(p["x"])])


def expected_grey(v: float, low: float, high: float, gamma: float = 1.0, invert: bool = False) -> float:
    t = min(max((v - low) / (high - low), 0.0), 1.0) ** (1 / gamma)
    return 255 * ((1 - t) if invert else t)


def canvas_point(page: Any, fx: float, fy: float, pane: int = 0) -> tuple[float, float]:
    """Client coordinates at fractions (fx, fy) of a pane's canvas, whole pixels (as mouse events carry)."""
    r = hook(page, f"canvasRect({pane})")
    return round(r["x"] + fx * r["width"]), round(r["y"] + fy * r["height"])


def rendered(page: Any, cx: float, cy: float, pane: int = 0) -> list[int]:
    r = hook(page, f"canvasRect({pane})")
    return page.evaluate(f"() => window.kouanViewer.pixelAt({cx - r['x']}, {cy - r['y']}, {pane})")


def assert_grey(page: Any, img: np.ndarray, cx: float, cy: float, pane: int = 0, tol: float = 3.0) -> int:
    """The pixel drawn at (cx, cy) is window/level/gamma/invert applied to the sample there."""
    panes = hook(page, "panes")
    gamma, invert = hook(page, "gamma"), hook(page, "invert")
    want = expected_grey(sample_under(page, img, cx, cy, pane), panes[pane]["low"], panes[pane]["high"], gamma, invert)
    got = rendered(page, cx, cy, pane)
    assert got[0] == got[1] == got[2], got
    assert abs(got[0] - want) <= tol, (got, want)
    return got[0]


def right_drag(page: Any, start: tuple[float, float], delta: tuple[float, float], steps: int = 5) -> None:
    page.mouse.move(*start)
    page.mouse.down(button="right")
    page.mouse.move(start[0] + delta[0], start[1] + delta[1], steps=steps)
    page.mouse.up(button="right")
    page.evaluate("() => new Promise(requestAnimationFrame)")


def test_window_level_auto_window_and_invert_change_the_drawn_pixel(server: tuple[str, Images], browser: Any) -> None:
    base, images = server
    page = open_viewer(browser, base)
    img = images.raw[images.sets["main"]["ref"]["sha256"]]
    assert hook(page, "renderer") == "webgl2"
    assert "WebGL2" in page.inner_text(".tool-renderer")
    # on load the window is the histogram's 0.5 %..99.5 %
    lo, hi = np.percentile(img, [0.5, 99.5])
    w0, l0 = hook(page, "window"), hook(page, "level")
    assert abs(w0 - (hi - lo)) < 0.01 * 65535, (w0, hi - lo)
    point = canvas_point(page, 0.3, 0.5)
    before = assert_grey(page, img, *point)
    # a right drag across half the canvas widens the window by half the data's range
    rect = hook(page, "canvasRect(0)")
    rng = hook(page, "panes")[0]["histogram"]
    right_drag(page, canvas_point(page, 0.2, 0.2), (rect["width"] / 2, rect["height"] / 4))
    w1, l1 = hook(page, "window"), hook(page, "level")
    data_range = rng["max"] - rng["min"]
    assert abs((w1 - w0) - data_range / 2) < 0.02 * data_range, (w0, w1, data_range)
    assert abs((l1 - l0) - data_range / 4) < 0.02 * data_range, (l0, l1, data_range)  # down a quarter: level up a quarter
    after = assert_grey(page, img, *point)
    assert after != before
    # A: back to the histogram's window
    page.keyboard.press("a")
    page.evaluate("() => new Promise(requestAnimationFrame)")
    assert abs(hook(page, "window") - w0) < 1e-6
    normal = assert_grey(page, img, *point)
    page.keyboard.press("i")
    assert hook(page, "invert") is True
    inverted = assert_grey(page, img, *point)
    assert abs(inverted - (255 - normal)) <= 2
    # gamma and colour map reach the screen too
    page.keyboard.press("i")
    page.keyboard.press("g")
    assert abs(hook(page, "gamma") - 1.2) < 1e-9
    assert_grey(page, img, *point)
    page.keyboard.press("c")
    assert hook(page, "colormap") == "hot"
    r, g, b, _ = rendered(page, *point)
    assert r > b, (r, g, b)
    page.close()


def test_overlay_toggle_shows_and_hides_the_region_outline(server: tuple[str, Images], browser: Any) -> None:
    base, images = server
    page = open_viewer(browser, base)
    img = images.raw[images.sets["main"]["ref"]["sha256"]]
    top = hook(page, f"imageToClient({REGION['x'] + REGION['width'] / 2}, {REGION['y']}, 0)")
    edge = (top["x"], top["y"] - 1)  # just outside the region's top edge: the outline
    inside = (top["x"], top["y"] + 10)
    assert hook(page, "overlay") is True
    assert rendered(page, *edge) == MAGENTA
    assert rendered(page, *inside) != MAGENTA
    page.keyboard.press("o")
    assert hook(page, "overlay") is False
    assert rendered(page, *edge) != MAGENTA
    assert_grey(page, img, *edge)
    page.keyboard.press("o")
    assert rendered(page, *edge) == MAGENTA
    page.close()


def test_zoom_and_pan_keep_the_image_point_under_the_cursor(server: tuple[str, Images], browser: Any) -> None:
    base, images = server
    page = open_viewer(browser, base)
    img = images.raw[images.sets["main"]["ref"]["sha256"]]
    fit = hook(page, "zoom")
    cursor = canvas_point(page, 0.7, 0.35)
    under = page.evaluate(f"() => window.kouanViewer.clientToImage({cursor[0]}, {cursor[1]}, 0)")
    page.mouse.move(*cursor)
    for _ in range(3):
        page.mouse.wheel(0, -100)
    page.wait_for_function(f"window.kouanViewer.zoom > {fit * 1.9}")
    after = hook(page, f"imageToClient({under['x']}, {under['y']}, 0)")
    # within a screen pixel: the drawn offset is snapped to whole pixels, before and after
    assert abs(after["x"] - cursor[0]) <= 1 and abs(after["y"] - cursor[1]) <= 1, (cursor, after)
    assert abs(hook(page, "zoom") - fit * 1.25 ** 3) < 1e-6 * fit
    assert_grey(page, img, *cursor)
    # a drag pans: the point grabbed stays under the pointer
    start = canvas_point(page, 0.5, 0.5)
    grabbed = page.evaluate(f"() => window.kouanViewer.clientToImage({start[0]}, {start[1]}, 0)")
    end = (start[0] - 150, start[1] + 80)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=4)
    page.mouse.up()
    there = hook(page, f"imageToClient({grabbed['x']}, {grabbed['y']}, 0)")
    assert abs(there["x"] - end[0]) <= 1 and abs(there["y"] - end[1]) <= 1, (end, there)
    assert_grey(page, img, *end)
    # 1:1 and fit
    page.keyboard.press("0")
    assert hook(page, "zoom") == pytest.approx(1.0)
    page.keyboard.press("f")
    assert hook(page, "zoom") == pytest.approx(fit)
    page.keyboard.press("+")
    assert hook(page, "zoom") == pytest.approx(fit * 1.25)
    centre = hook(page, "center")
    page.keyboard.press("ArrowRight")
    assert hook(page, "center")[0] > centre[0]
    page.close()


def test_side_by_side_panes_share_window_level_and_zoom(server: tuple[str, Images], browser: Any) -> None:
    base, images = server
    page = open_viewer(browser, base)
    earlier = images.raw[images.sets["main"]["earlier"][0]["ref"]["sha256"]]
    page.keyboard.press("s")
    page.wait_for_function("window.kouanViewer.panes.length === 2 && window.kouanViewer.panes[1].loaded")
    page.evaluate("() => new Promise(requestAnimationFrame)")
    assert hook(page, "sideBySide") is True
    a, b = hook(page, "panes")
    assert a["zoom"] == b["zoom"] and a["low"] == b["low"] and a["high"] == b["high"]
    assert_grey(page, earlier, *canvas_point(page, 0.5, 0.3, 1), pane=1)
    # window/level dragged on the left pane, zoom on the right: both panes follow
    right_drag(page, canvas_point(page, 0.3, 0.3, 0), (120, -60))
    page.mouse.move(*canvas_point(page, 0.4, 0.6, 1))
    page.mouse.wheel(0, -200)
    page.wait_for_function(f"window.kouanViewer.panes[0].zoom > {a['zoom'] * 1.3}")
    a2, b2 = hook(page, "panes")
    assert a2["low"] != a["low"] and a2["low"] == b2["low"] and a2["high"] == b2["high"]
    assert a2["zoom"] == b2["zoom"] and a2["offsetX"] == b2["offsetX"] and a2["offsetY"] == b2["offsetY"]
    point = canvas_point(page, 0.6, 0.4, 1)
    assert_grey(page, earlier, *point, pane=1)
    left = (point[0] - hook(page, "canvasRect(1)")["x"] + hook(page, "canvasRect(0)")["x"], point[1])
    assert page.evaluate(f"() => window.kouanViewer.clientToImage({left[0]}, {left[1]}, 0)") == pytest.approx(
        page.evaluate(f"() => window.kouanViewer.clientToImage({point[0]}, {point[1]}, 1)"))
    page.keyboard.press("s")
    assert len(hook(page, "panes")) == 1
    page.close()


def test_tiles_smaller_than_the_image_draw_the_same_image(server: tuple[str, Images], browser: Any) -> None:
    base, images = server
    page = open_viewer(browser, base, "maxTile=1024")
    img = images.raw[images.sets["main"]["ref"]["sha256"]]
    page.keyboard.press("0")  # 1:1, so each screen pixel is one sample, either side of tile seams
    seam = hook(page, "imageToClient(2048, 1536, 0)")
    for dx, dy in [(-1, -1), (0, 0), (-1, 0), (0, -1), (5, -7)]:
        assert_grey(page, img, seam["x"] + dx + 0.5, seam["y"] + dy + 0.5, tol=2)
    page.close()


def test_canvas2d_fallback_applies_window_level(server: tuple[str, Images], browser: Any) -> None:
    base, images = server
    page = open_viewer(browser, base, "renderer=canvas2d")
    img = images.raw[images.sets["main"]["ref"]["sha256"]]
    assert hook(page, "renderer") == "canvas2d"
    assert "Canvas 2D" in page.inner_text(".tool-renderer")
    point = canvas_point(page, 0.25, 0.5)
    before = assert_grey(page, img, *point, tol=6)  # nearest downsampled copy: one sample off at most
    right_drag(page, canvas_point(page, 0.2, 0.2), (-200, 0))
    after = assert_grey(page, img, *point, tol=6)
    assert after != before
    page.keyboard.press("i")
    assert abs(assert_grey(page, img, *point, tol=6) - (255 - after)) <= 2
    page.close()


def test_an_8_bit_dual_energy_scan_shows_each_plane(server: tuple[str, Images], browser: Any) -> None:
    base, images = server
    page = open_viewer(browser, base, "set=dual")
    dual = images.raw[images.sets["dual"]["ref"]["sha256"]]
    page.keyboard.press("0")  # 1:1: one sample per screen pixel
    assert hook(page, "plane") == 0
    centres = [hook(page, f"imageToClient({x + 0.5}, {y + 0.5}, 0)") for x, y in [(450, 380), (451, 380), (600, 555)]]
    points = [(c["x"], c["y"]) for c in centres]  # noise: exactly one sample's centre each
    for point in points:
        assert_grey(page, dual[0], *point, tol=2)
    page.keyboard.press("p")
    assert hook(page, "plane") == 1
    assert "plane 2/2" in page.inner_text(".tool-readout")
    for point in points:
        assert_grey(page, dual[1], *point, tol=2)
    page.close()


def test_window_level_drag_on_a_60_mb_scan_is_drawn_within_a_frame(server: tuple[str, Images], browser: Any) -> None:
    """Reports the time from each drag event to the end of its frame (no wall-time assertion)."""
    base, images = server
    img = images.raw[images.sets["big"]["ref"]["sha256"]]
    assert img.nbytes == 60_000_000
    for renderer in ("webgl2", "canvas2d"):
        t0 = time.monotonic()
        page = open_viewer(browser, base, f"set=big&renderer={'auto' if renderer == 'webgl2' else renderer}")
        loaded_s = time.monotonic() - t0
        assert hook(page, "renderer") == renderer
        samples, draw_ms = drag_timing(page, img)
        print(f"\n60 MB 16-bit scan, {renderer}: loaded (fetch, histogram, upload) in {loaded_s:.1f} s; "
              f"window/level drag, input to drawn frame: median {np.median(samples):.1f} ms, max {max(samples):.1f} ms;"
              f" one frame drawn and finished {draw_ms:.1f} ms")
        page.close()


def drag_timing(page: Any, img: np.ndarray) -> tuple[list[float], float]:
    """Right-drag in 20 steps, a frame after each; the input-to-frame times and the last draw's cost."""
    page.evaluate("() => { window.kouanViewer.measure = true; }")
    frames0 = hook(page, "timing.frames")
    w0 = hook(page, "window")
    start = canvas_point(page, 0.3, 0.5)
    page.mouse.move(*start)
    page.mouse.down(button="right")
    for i in range(1, 21):
        page.mouse.move(start[0] + 10 * i, start[1])
        page.evaluate("() => new Promise(requestAnimationFrame)")
    page.mouse.up(button="right")
    timing = hook(page, "timing")
    assert timing["frames"] - frames0 >= 20
    assert hook(page, "window") > w0
    assert_grey(page, img, *canvas_point(page, 0.4, 0.4), tol=6)
    return timing["samples"][-20:], timing["drawMs"]
