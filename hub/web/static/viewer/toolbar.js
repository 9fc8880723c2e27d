// The viewer's tool strip: a button for every keyboard action (same names, so a click and a key
// do the same thing), the colour map and earlier-pass choices; and its status line: the window,
// level, gamma, zoom, the sample under the cursor and which renderer draws.
"use strict";

import { COLORMAPS } from "./colormaps.js";

const BUTTONS = [
  ["auto", "Auto", "Auto window (A)"],
  ["presetCargo", "Cargo", "Cargo preset (1)"],
  ["presetUnder", "Under", "Undercarriage preset (2)"],
  ["invert", "Inv", "Invert (I)", "invert"],
  ["gammaDown", "γ−", "Gamma down (Shift+G)"],
  ["gammaUp", "γ+", "Gamma up (G)"],
  ["overlay", "Regions", "The model's regions (O)", "overlay"],
  ["windowLevelMode", "W/L drag", "Left drag changes window/level (W)", "wlMode"],
  ["zoomOut", "−", "Zoom out (-)"],
  ["fit", "Fit", "Fit (F)"],
  ["oneToOne", "1:1", "One image pixel per screen pixel (0)"],
  ["zoomIn", "+", "Zoom in (+)"],
  ["plane", "Plane", "Next energy plane (P)"],
  ["sideBySide", "Side by side", "The earlier pass beside this one (S)", "sideBySide"],
];

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class Toolbar {
  /** `run(action)` runs a viewer action; `pickColormap(name)`, `pickEarlier(index)` the choices. */
  constructor(run, pickColormap, pickEarlier) {
    this.root = el("div", "viewer-tools");
    this.root.setAttribute("role", "toolbar");
    this.root.setAttribute("aria-label", "Image tools");
    this.buttons = new Map();
    for (const [action, text, title, pressed] of BUTTONS) {
      const b = el("button", "tool", text);
      b.type = "button";
      b.title = title;
      b.dataset.action = action;
      if (pressed) b.dataset.pressed = pressed;
      b.addEventListener("click", () => run(action));
      this.buttons.set(action, b);
      this.root.append(b);
    }
    this.colormap = el("select", "tool-select");
    this.colormap.title = "Colour map (C)";
    this.colormap.setAttribute("aria-label", "Colour map");
    for (const name of COLORMAPS) this.colormap.append(new Option(name, name));
    this.colormap.addEventListener("change", () => pickColormap(this.colormap.value));
    this.earlier = el("select", "tool-select");
    this.earlier.title = "Which earlier pass to show beside";
    this.earlier.setAttribute("aria-label", "Earlier pass");
    this.earlier.addEventListener("change", () => pickEarlier(Number(this.earlier.value)));
    this.buttons.get("invert").before(this.colormap);
    this.root.append(this.earlier);
    // the readouts live in a status line of their own, one line high, so changing text never moves the image
    this.status = el("div", "viewer-status");
    this.readout = el("span", "tool-readout");
    this.readout.setAttribute("aria-live", "off");
    this.hover = el("span", "tool-hover");
    this.renderer = el("span", "tool-renderer");
    this.status.append(this.readout, this.hover, this.renderer);
  }

  setEarlier(captions, index) {
    this.earlier.replaceChildren(...captions.map((c, i) => new Option(c, String(i))));
    this.earlier.value = String(index);
    this.earlier.hidden = captions.length < 2;
    this.buttons.get("sideBySide").disabled = captions.length === 0;
    this.buttons.get("sideBySide").title = captions.length
      ? "The earlier pass beside this one (S)" : "No earlier pass of this vehicle or container";
  }

  setPlanes(planes) {
    this.buttons.get("plane").hidden = planes < 2;
  }

  setRenderer(kind, software) {
    this.renderer.textContent = kind === "webgl2"
      ? `WebGL2${software ? " (software rendering: no GPU)" : ""}` : "Canvas 2D (no WebGL2: a reduced copy)";
    this.renderer.dataset.kind = kind;
  }

  update(s, zoomPercent) {
    for (const b of this.buttons.values()) {
      if (b.dataset.pressed) b.setAttribute("aria-pressed", String(Boolean(s[b.dataset.pressed])));
    }
    if (this.colormap.value !== s.colormap) this.colormap.value = s.colormap;
    this.readout.textContent = `W ${Math.round(s.window)}  L ${Math.round(s.level)}  γ ${s.gamma.toFixed(2)}  ${zoomPercent} %`
      + (s.planes > 1 ? `  plane ${s.plane + 1}/${s.planes}` : "");
  }

  showHover(text) {
    this.hover.textContent = text;
  }
}
