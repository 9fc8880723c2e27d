// One image pane of the viewer: a canvas with its renderer, the image's full-depth samples and
// histogram, and the pointer gestures on it (drag pans, right-drag or W/L mode changes
// window/level, the wheel zooms around the cursor). It keeps no view state of its own: the
// viewer's shared state is in the first pane's image pixels and sample units, and each pane maps
// it to its own image by the ratio of widths (k) and of full scales (kv), so panes stay in step.
"use strict";

import { Canvas2DRenderer } from "./canvas-renderer.js";
import { GLRenderer } from "./gl-renderer.js";
import { Histogram } from "./histogram.js";
import { fetchPixels } from "./pixels.js";

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class Pane {
  /** `events`: {pan(dx, dy, ts), windowLevel(dx, dy, pane, ts), zoom(f, sx, sy, pane, ts), hover(pane, ix, iy)}. */
  constructor(events, options) {
    this.events = events;
    this.options = options;
    this.root = el("div", "pane");
    this.canvas = el("canvas", "pane-canvas");
    this.canvas.tabIndex = -1;
    this.status = el("p", "pane-status", "");
    this.caption = el("p", "pane-caption", "");
    this.root.append(this.canvas, this.caption, this.status);
    this.renderer = this.makeRenderer(options.renderer === "canvas2d");
    this.image = null;      // PixelImage
    this.samples = null;    // the plane shown
    this.histogram = null;
    this.ref = null;        // {sha256, regions, label, ...} from the hub
    this.plane = 0;
    this.k = 1;
    this.kv = 1;
    this.drag = null;
    this.loading = null;
    this.listen();
    new ResizeObserver(() => this.resize()).observe(this.root);
  }

  makeRenderer(forceCanvas) {
    if (!forceCanvas) {
      const gl = GLRenderer.create(this.canvas, this.options.maxTile);
      if (gl) return gl;
      const fresh = el("canvas", "pane-canvas");  // a canvas that handed out a webgl2 context cannot give a 2d one
      this.canvas.replaceWith(fresh);
      this.canvas = fresh;
    }
    return new Canvas2DRenderer(this.canvas);
  }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(this.canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(this.canvas.clientHeight * dpr));
    if (w !== this.canvas.width || h !== this.canvas.height) {
      this.canvas.width = w;
      this.canvas.height = h;
      this.events.resized(this);
    }
  }

  /** Fetch and show `ref`'s pixels; resolves when uploaded, rejects (and says so) on failure. */
  async load(ref, url, lutBytes) {
    this.ref = ref;
    this.image = null;
    this.caption.textContent = ref.caption || ref.label || "";
    this.status.textContent = "Loading the image…";
    this.root.classList.add("loading");
    try {
      const image = await fetchPixels(url, (got, total) => {
        this.status.textContent = `Loading ${(got / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB…`;
      });
      if (this.ref !== ref) return false;  // another image was asked for meanwhile
      this.image = image;
      this.renderer.setLut(lutBytes);
      this.setPlane(0);
      this.status.textContent = "";
      return true;
    } catch (err) {
      if (this.ref === ref) this.status.textContent = `The image could not be shown: ${err.message}`;
      throw err;
    } finally {
      this.root.classList.remove("loading");
    }
  }

  /** Show plane `p` (dual-energy scans have two); a plane the image lacks shows its last. */
  setPlane(p) {
    if (!this.image) return;
    this.plane = Math.min(p, this.image.planes - 1);
    this.samples = this.image.plane(this.plane);
    this.histogram = new Histogram(this.samples, this.image.bits);
    this.renderer.setImage(this.samples, this.image.width, this.image.height);
    this.renderer.setRegions(this.ref.regions || []);
  }

  clear() {
    this.ref = null;
    this.image = null;
    this.samples = null;
    this.caption.textContent = "";
    this.status.textContent = "";
    this.renderer.setRegions([]);
  }

  /** Map the shared state to this pane's image: {low, high, gamma, invert, zoom, offsetX, offsetY, overlay}. */
  params(s) {
    const low = (s.level - s.window / 2) * this.kv;
    const high = (s.level + s.window / 2) * this.kv;
    return {
      low, high, gamma: s.gamma, invert: s.invert, overlay: s.overlay,
      zoom: s.zoom / this.k,
      // whole device pixels: at 1:1 and above each sample's edges fall on pixel edges, never between
      offsetX: Math.round(this.canvas.width / 2 - s.cx * s.zoom),
      offsetY: Math.round(this.canvas.height / 2 - s.cy * s.zoom),
    };
  }

  draw(s) {
    if (this.image) this.renderer.draw(this.params(s));
    else this.renderer.draw({ low: 0, high: 1, gamma: 1, zoom: 1, offsetX: 0, offsetY: 0 });
  }

  /** Device pixels of the canvas for a client (CSS) point. */
  toDevice(clientX, clientY) {
    const r = this.canvas.getBoundingClientRect();
    return [(clientX - r.left) * (this.canvas.width / r.width), (clientY - r.top) * (this.canvas.height / r.height)];
  }

  /** This pane's own image pixel under device point (sx, sy). */
  imagePoint(s, sx, sy) {
    const p = this.params(s);
    return [(sx - p.offsetX) / p.zoom, (sy - p.offsetY) / p.zoom];
  }

  /** The raw sample at own image pixel (x, y), or null outside the image. */
  sampleAt(x, y) {
    if (!this.image) return null;
    const ix = Math.floor(x);
    const iy = Math.floor(y);
    if (ix < 0 || iy < 0 || ix >= this.image.width || iy >= this.image.height) return null;
    return this.samples[iy * this.image.width + ix];
  }

  listen() {
    const c = () => this.canvas;
    this.root.addEventListener("contextmenu", (e) => e.preventDefault());
    this.root.addEventListener("pointerdown", (e) => {
      if (e.button !== 0 && e.button !== 2) return;
      e.preventDefault();
      c().focus({ preventScroll: true });
      this.root.setPointerCapture(e.pointerId);
      const wl = e.button === 2 || this.events.windowLevelMode();
      this.drag = { id: e.pointerId, x: e.clientX, y: e.clientY, wl };
      this.root.classList.toggle("wl-drag", wl);
    });
    this.root.addEventListener("pointermove", (e) => {
      const [sx, sy] = this.toDevice(e.clientX, e.clientY);
      this.events.hover(this, sx, sy);
      if (!this.drag || this.drag.id !== e.pointerId) return;
      const dx = e.clientX - this.drag.x;
      const dy = e.clientY - this.drag.y;
      this.drag.x = e.clientX;
      this.drag.y = e.clientY;
      const r = c().getBoundingClientRect();
      if (this.drag.wl) this.events.windowLevel(dx / r.width, dy / r.height, this, e.timeStamp);
      else this.events.pan(dx * (c().width / r.width), dy * (c().height / r.height), e.timeStamp);
    });
    const end = (e) => {
      if (this.drag && this.drag.id === e.pointerId) this.drag = null;
      this.root.classList.remove("wl-drag");
    };
    for (const t of ["pointerup", "pointercancel", "lostpointercapture"]) this.root.addEventListener(t, end);
    this.root.addEventListener("pointerleave", () => this.events.hover(this, null, null));
    this.root.addEventListener("wheel", (e) => {
      e.preventDefault();
      const [sx, sy] = this.toDevice(e.clientX, e.clientY);
      const notches = e.deltaMode === 1 ? e.deltaY / 3 : e.deltaY / 100;
      this.events.zoom(Math.pow(1.25, -notches), sx, sy, this, e.timeStamp);
    }, { passive: false });
    this.root.addEventListener("dblclick", () => this.events.fit());
  }
}
