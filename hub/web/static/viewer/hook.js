// window.kouanViewer: a small read-mostly hook for browser tests (and a curious reviewer's
// console): the viewer's current settings, the renderer in use, and pixelAt(x, y), the RGBA
// actually drawn at a canvas point (gl.readPixels right after a draw), so a test asserts effects.
"use strict";

export function installHook(viewer) {
  const s = viewer.state;
  const pane = (i) => viewer.panes[i || 0];
  window.kouanViewer = {
    get window() { return s.window; },
    get level() { return s.level; },
    get gamma() { return s.gamma; },
    get invert() { return s.invert; },
    get colormap() { return s.colormap; },
    get zoom() { return s.zoom; },
    get center() { return [s.cx, s.cy]; },
    get overlay() { return s.overlay; },
    get sideBySide() { return s.sideBySide; },
    get plane() { return s.plane; },
    get renderer() { return viewer.renderer; },
    get loaded() { return viewer.loaded; },
    get timing() { return viewer.timing; },
    get measure() { return viewer.measure; },
    set measure(on) { viewer.measure = Boolean(on); },
    /** Each visible pane: its image, its own zoom and window bounds. */
    get panes() {
      return viewer.panes.filter((p) => !p.root.hidden).map((p) => {
        const q = p.params(s);
        return { sha256: p.ref && p.ref.sha256, loaded: Boolean(p.image), width: p.image && p.image.width,
          height: p.image && p.image.height, zoom: q.zoom, low: q.low, high: q.high,
          offsetX: q.offsetX, offsetY: q.offsetY, histogram: p.histogram && { min: p.histogram.min, max: p.histogram.max,
            p005: p.histogram.percentile(0.005), p995: p.histogram.percentile(0.995) } };
      });
    },
    /** The RGBA drawn at CSS point (x, y) of pane `i`'s canvas. */
    pixelAt(x, y, i) {
      const p = pane(i);
      const dpr = p.canvas.width / p.canvas.getBoundingClientRect().width;
      p.draw(s);
      return p.renderer.readPixel(x * dpr, y * dpr);
    },
    /** Client (page) coordinates of pane `i`'s own image pixel (x, y). */
    imageToClient(x, y, i) {
      const p = pane(i);
      const q = p.params(s);
      const r = p.canvas.getBoundingClientRect();
      const k = r.width / p.canvas.width;
      return { x: r.left + (q.offsetX + x * q.zoom) * k, y: r.top + (q.offsetY + y * q.zoom) * k };
    },
    /** Pane `i`'s own image pixel under client point (x, y). */
    clientToImage(x, y, i) {
      const p = pane(i);
      const [sx, sy] = p.toDevice(x, y);
      const [ix, iy] = p.imagePoint(s, sx, sy);
      return { x: ix, y: iy };
    },
    /** The canvas's client rectangle of pane `i`. */
    canvasRect(i) {
      const r = pane(i).canvas.getBoundingClientRect();
      return { x: r.left, y: r.top, width: r.width, height: r.height };
    },
  };
}
