// The reviewer's image viewer: one pane, or two side by side (this pass and an earlier pass of the
// same vehicle or container) kept in step. It owns the shared view state (window and level in
// the first image's sample units, gamma, invert, colour map, overlay, zoom and centre in the
// first image's pixels), turns gestures, buttons and keys into changes of it, and draws every
// pane at the next animation frame: a change is a few uniforms, never a re-upload.
//   const viewer = new Viewer(document.getElementById("viewer"));
//   await viewer.show({sha256, regions, caption}, [{caption, ref}]);
//   viewer.handleKey(event)  // true when it was a viewer key
"use strict";

import { lut, nextColormap } from "./colormaps.js";
import { installHook } from "./hook.js";
import { matchKey, VIEWER_KEYS } from "./keys.js";
import { Pane } from "./pane.js";
import { Toolbar } from "./toolbar.js";

const GAMMA_STEP = 1.2;
const GAMMA_RANGE = [0.1, 10];
const ZOOM_STEP = 1.25;
const MAX_ZOOM = 32;         // device pixels per image pixel
const MIN_ZOOM_OF_FIT = 1 / 8;
const PAN_STEP = 0.1;        // of the canvas per arrow key

function el(tag, cls) {
  const node = document.createElement(tag);
  node.className = cls;
  return node;
}

export class Viewer {
  /** options: renderer ("auto" | "canvas2d"), maxTile (tile side cap), pixelsUrl(sha) -> URL. */
  constructor(root, options = {}) {
    this.options = { renderer: "auto", pixelsUrl: (sha) => `/api/v1/images/${sha}/pixels`, ...options };
    this.state = {
      window: 1, level: 0.5, gamma: 1, invert: false, colormap: "grey", overlay: true,
      zoom: 1, cx: 0, cy: 0, plane: 0, planes: 1, wlMode: false, sideBySide: false,
    };
    this.root = root;
    root.classList.add("viewer");
    this.toolbar = new Toolbar((a) => this.run(a), (name) => this.run(() => this.setColormap(name)),
      (i) => this.pickEarlier(i));
    this.stage = el("div", "viewer-panes");
    const events = {
      pan: (dx, dy, ts) => this.run(() => this.panBy(dx, dy), ts),
      windowLevel: (fx, fy, pane, ts) => this.run(() => this.dragWindowLevel(fx, fy), ts),
      zoom: (f, sx, sy, pane, ts) => this.run(() => this.zoomAt(f, sx, sy, pane), ts),
      hover: (pane, sx, sy) => this.hover(pane, sx, sy),
      resized: () => { if (this.fitted) this.fit(); this.changed(); },
      fit: () => this.run("fit"),
      windowLevelMode: () => this.state.wlMode,
    };
    this.panes = [new Pane(events, this.options), new Pane(events, this.options)];
    this.panes[1].root.hidden = true;
    this.stage.append(...this.panes.map((p) => p.root));
    root.append(this.toolbar.root, this.stage, this.toolbar.status);
    this.toolbar.setRenderer(this.renderer, Boolean(this.panes[0].renderer.software));
    this.toolbar.setEarlier([], 0);
    this.toolbar.setPlanes(1);
    this.earlier = [];
    this.earlierIndex = 0;
    this.fitted = true;
    this.frameRequested = false;
    this.pendingInput = null;
    this.timing = { frames: 0, drawMs: null, inputToFrameMs: null, samples: [] };
    this.measure = false;  // when true each frame waits for the GPU, so drawMs is the real cost
    this.loaded = false;
    this.lutBytes = lut("grey");
    this.actions = this.makeActions();
    installHook(this);
  }

  get renderer() {
    return this.panes[0].renderer.kind;
  }

  /** Show image `ref` ({sha256, regions, caption}); `earlier`: [{caption, ref}] for side by side. */
  async show(ref, earlier = []) {
    this.loaded = false;
    this.earlier = earlier;
    this.earlierIndex = 0;
    this.toolbar.setEarlier(earlier.map((e) => e.caption), 0);
    this.panes[1].clear();
    if (!earlier.length) this.setSideBySide(false);
    await this.panes[0].load(ref, this.options.pixelsUrl(ref.sha256), this.lutBytes);
    const image = this.panes[0].image;
    if (!image) return;  // superseded by a later show()
    this.state.plane = 0;
    this.state.planes = image.planes;
    this.toolbar.setPlanes(image.planes);
    this.autoWindow();
    this.fit();
    if (this.state.sideBySide) await this.loadEarlier();
    this.loaded = true;
    this.changed();
  }

  /** Forget the images (leaving an item). */
  clear() {
    this.loaded = false;
    for (const p of this.panes) p.clear();
    this.changed();
  }

  async loadEarlier() {
    const pane = this.panes[1];
    const chosen = this.earlier[this.earlierIndex];
    const first = this.panes[0].image;
    if (!chosen || !first) return;
    try {
      if (!(await pane.load(chosen.ref, this.options.pixelsUrl(chosen.ref.sha256), this.lutBytes))) return;
    } catch (err) {
      return;  // the pane says why
    }
    pane.k = pane.image.width / first.width;
    pane.kv = pane.image.maxValue / first.maxValue;
    pane.setPlane(this.state.plane);
    this.changed();
  }

  pickEarlier(index) {
    this.earlierIndex = index;
    if (this.state.sideBySide) this.loadEarlier();
  }

  setSideBySide(on) {
    const want = on && this.earlier.length > 0;
    this.state.sideBySide = want;
    this.panes[1].root.hidden = !want;
    this.root.classList.toggle("side-by-side", want);
    if (want && (!this.panes[1].ref || this.panes[1].ref !== this.earlier[this.earlierIndex].ref)) this.loadEarlier();
  }

  setColormap(name) {
    this.state.colormap = name;
    this.lutBytes = lut(name);
    for (const p of this.panes) p.renderer.setLut(this.lutBytes);
  }

  makeActions() {
    const s = this.state;
    const zoomCentre = (f) => this.zoomAt(f, this.panes[0].canvas.width / 2, this.panes[0].canvas.height / 2, this.panes[0]);
    const step = () => PAN_STEP * this.panes[0].canvas.width;
    return {
      auto: () => this.autoWindow(),
      presetCargo: () => this.windowFrom(0.01, 0.999, 2.0),
      presetUnder: () => this.windowFrom(0.05, 0.95, 1.0),
      invert: () => { s.invert = !s.invert; },
      gammaUp: () => { s.gamma = Math.min(GAMMA_RANGE[1], s.gamma * GAMMA_STEP); },
      gammaDown: () => { s.gamma = Math.max(GAMMA_RANGE[0], s.gamma / GAMMA_STEP); },
      colormap: () => this.setColormap(nextColormap(s.colormap)),
      overlay: () => { s.overlay = !s.overlay; },
      fit: () => this.fit(),
      oneToOne: () => zoomCentre(1 / s.zoom),
      zoomIn: () => zoomCentre(ZOOM_STEP),
      zoomOut: () => zoomCentre(1 / ZOOM_STEP),
      panLeft: () => this.panBy(step(), 0),
      panRight: () => this.panBy(-step(), 0),
      panUp: () => this.panBy(0, step()),
      panDown: () => this.panBy(0, -step()),
      windowLevelMode: () => { s.wlMode = !s.wlMode; },
      sideBySide: () => this.setSideBySide(!s.sideBySide),
      plane: () => {
        s.plane = (s.plane + 1) % s.planes;
        for (const p of this.panes) p.setPlane(s.plane);
      },
    };
  }

  /** Run an action (its name, or a function) and draw at the next frame; `ts` the input's time. */
  run(action, ts) {
    const fn = typeof action === "function" ? action : this.actions[action];
    if (!fn || !this.panes[0].image) return;
    fn();
    this.changed(ts);
  }

  /** Answer a viewer key: true when `e` was one (and it ran). */
  handleKey(e) {
    const entry = matchKey(e, VIEWER_KEYS);
    if (!entry) return false;
    e.preventDefault();
    this.run(entry.action, e.timeStamp);
    return true;
  }

  windowFrom(qLow, qHigh, gamma) {
    const h = this.panes[0].histogram;
    const low = h.percentile(qLow);
    const high = Math.max(h.percentile(qHigh), low + 1);
    this.state.window = high - low;
    this.state.level = (high + low) / 2;
    this.state.gamma = gamma;
  }

  autoWindow() {
    this.windowFrom(0.005, 0.995, this.state.gamma);
  }

  /** A drag of (fx, fy) canvases: the whole width spans the data's range in window, the height in level. */
  dragWindowLevel(fx, fy) {
    const range = this.panes[0].histogram.range;
    this.state.window = Math.max(1, this.state.window + fx * range);
    this.state.level += fy * range;
  }

  fitZoom() {
    const p = this.panes[0];
    return Math.min(p.canvas.width / p.image.width, p.canvas.height / p.image.height);
  }

  fit() {
    const image = this.panes[0].image;
    if (!image) return;
    this.state.zoom = this.fitZoom();
    this.state.cx = image.width / 2;
    this.state.cy = image.height / 2;
    this.fitted = true;
  }

  /** Zoom by `f` keeping the image point under device point (sx, sy) of `pane` where it is. */
  zoomAt(f, sx, sy, pane) {
    const s = this.state;
    const z = Math.min(MAX_ZOOM, Math.max(this.fitZoom() * MIN_ZOOM_OF_FIT, s.zoom * f));
    const dx = sx - pane.canvas.width / 2;
    const dy = sy - pane.canvas.height / 2;
    const px = s.cx + dx / s.zoom;
    const py = s.cy + dy / s.zoom;
    s.zoom = z;
    s.cx = px - dx / z;
    s.cy = py - dy / z;
    this.fitted = false;
  }

  panBy(dx, dy) {
    this.state.cx -= dx / this.state.zoom;
    this.state.cy -= dy / this.state.zoom;
    this.fitted = false;
  }

  hover(pane, sx, sy) {
    if (sx === null || !pane.image) {
      this.toolbar.showHover("");
      return;
    }
    const [x, y] = pane.imagePoint(this.state, sx, sy);
    const v = pane.sampleAt(x, y);
    this.toolbar.showHover(v === null ? "" : `x ${Math.floor(x)}  y ${Math.floor(y)}  value ${v}`);
  }

  /** Ask for a frame; `ts` (an input event's timeStamp) is measured to the end of that frame. */
  changed(ts) {
    if (ts !== undefined && this.pendingInput === null) this.pendingInput = ts;
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => this.frame());
  }

  drawAll() {
    for (const p of this.panes) if (!p.root.hidden) p.draw(this.state);
  }

  frame() {
    this.frameRequested = false;
    const t0 = performance.now();
    this.drawAll();
    if (this.measure) this.panes[0].renderer.readPixel(0, 0);  // waits for the GPU to finish the frame
    const t1 = performance.now();
    this.timing.frames++;
    this.timing.drawMs = t1 - t0;
    if (this.pendingInput !== null) {
      this.timing.inputToFrameMs = t1 - this.pendingInput;
      this.timing.samples.push(this.timing.inputToFrameMs);
      if (this.timing.samples.length > 200) this.timing.samples.shift();
      this.pendingInput = null;
    }
    this.toolbar.update(this.state, Math.round(this.state.zoom * 100));
  }
}
