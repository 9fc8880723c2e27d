// The fallback when the browser has no WebGL2: a downsampled copy (at most MAX_SIDE per side) is
// mapped through one table (sample value -> RGBA, window/level, gamma, invert and colour map
// folded in) into an ImageData, which Canvas 2D scales and moves. A window/level change remaps
// the copy on the CPU (a few million samples); a zoom or pan only redraws it.
"use strict";

import { REGION_RGBA } from "./gl-renderer.js";

const MAX_SIDE = 2048;
const BACKGROUND = "#0b0e12";

export class Canvas2DRenderer {
  constructor(canvas) {
    this.kind = "canvas2d";
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.copy = null;
    this.regions = [];
    this.lutBytes = null;
    this.mappedWith = "";
  }

  /** Keep a nearest-neighbour copy of one plane at most MAX_SIDE on its longer side. */
  setImage(samples, width, height) {
    const f = Math.max(1, Math.ceil(Math.max(width, height) / MAX_SIDE));
    const dw = Math.ceil(width / f);
    const dh = Math.ceil(height / f);
    const Ctor = samples.BYTES_PER_ELEMENT === 2 ? Uint16Array : Uint8Array;
    const small = new Ctor(dw * dh);
    for (let y = 0; y < dh; y++) {
      const row = y * f * width;
      for (let x = 0; x < dw; x++) small[y * dw + x] = samples[row + x * f];
    }
    this.copy = { small, dw, dh, f, maxValue: Ctor === Uint16Array ? 65535 : 255 };
    this.surface = document.createElement("canvas");
    this.surface.width = dw;
    this.surface.height = dh;
    this.surfaceCtx = this.surface.getContext("2d");
    this.pixels = this.surfaceCtx.createImageData(dw, dh);
    this.mappedWith = "";
  }

  setLut(bytes) {
    this.lutBytes = bytes;
    this.mappedWith = "";
  }

  setRegions(regions) {
    this.regions = regions || [];
  }

  remap(p) {
    const key = `${p.low}|${p.high}|${p.gamma}|${p.invert}`;
    if (key === this.mappedWith) return;
    const { small, maxValue } = this.copy;
    const lut = this.lutBytes;
    const table = new Uint32Array(maxValue + 1);
    const span = Math.max(p.high - p.low, 1e-6);
    for (let v = 0; v <= maxValue; v++) {
      let t = Math.min(Math.max((v - p.low) / span, 0), 1) ** (1 / p.gamma);
      if (p.invert) t = 1 - t;
      const i = Math.round(t * 255) * 4;
      table[v] = lut[i] | (lut[i + 1] << 8) | (lut[i + 2] << 16) | (255 << 24);  // little-endian RGBA
    }
    const out = new Uint32Array(this.pixels.data.buffer);
    for (let i = 0; i < small.length; i++) out[i] = table[small[i]];
    this.surfaceCtx.putImageData(this.pixels, 0, 0);
    this.mappedWith = key;
  }

  draw(p) {
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = BACKGROUND;
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (!this.copy || !this.lutBytes) return;
    this.remap(p);
    const s = p.zoom * this.copy.f;
    ctx.imageSmoothingEnabled = s < 1;
    ctx.setTransform(s, 0, 0, s, p.offsetX, p.offsetY);
    ctx.drawImage(this.surface, 0, 0);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    if (!p.overlay) return;
    const w = Math.max(2, Math.round(window.devicePixelRatio || 1) * 2);
    ctx.strokeStyle = `rgb(${REGION_RGBA.slice(0, 3).join(",")})`;
    ctx.lineWidth = w;
    for (const r of this.regions) {
      ctx.strokeRect(p.offsetX + r.x * p.zoom - w / 2, p.offsetY + r.y * p.zoom - w / 2,
        r.width * p.zoom + w, r.height * p.zoom + w);
    }
  }

  readPixel(x, y) {
    return Array.from(this.ctx.getImageData(Math.floor(x), Math.floor(y), 1, 1).data);
  }
}
