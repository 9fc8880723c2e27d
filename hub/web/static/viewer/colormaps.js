// Pseudo-colour maps as 256-entry RGBA lookup tables (Uint8Array of 1024 bytes): the GPU renderer
// uploads one as a small texture, the Canvas 2D fallback indexes it on the CPU. Each map is a few
// control points interpolated linearly, so what a colour means is readable here.
"use strict";

// [position 0..1, r, g, b]; position 0 is the darkest display value (most attenuation on X-ray)
const STOPS = {
  grey: [[0, 0, 0, 0], [1, 255, 255, 255]],
  hot: [[0, 0, 0, 0], [0.375, 230, 0, 0], [0.75, 255, 210, 0], [1, 255, 255, 255]],
  jet: [[0, 0, 0, 131], [0.125, 0, 0, 255], [0.375, 0, 255, 255], [0.625, 255, 255, 0],
    [0.875, 255, 0, 0], [1, 128, 0, 0]],
  // cargo screening style: dense metal blue-black, inorganic green, organic orange, empty near white
  cargo: [[0, 8, 8, 24], [0.15, 20, 40, 150], [0.35, 40, 150, 200], [0.5, 60, 170, 70],
    [0.72, 240, 150, 40], [0.9, 250, 215, 160], [1, 250, 250, 245]],
};

export const COLORMAPS = Object.freeze(Object.keys(STOPS));

/** The 256x1 RGBA table of the map called `name` (grey for an unknown name). */
export function lut(name) {
  const stops = STOPS[name] || STOPS.grey;
  const out = new Uint8Array(256 * 4);
  let j = 0;
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    while (j < stops.length - 2 && t > stops[j + 1][0]) j++;
    const [t0, ...a] = stops[j];
    const [t1, ...b] = stops[j + 1];
    const f = t1 > t0 ? Math.min(Math.max((t - t0) / (t1 - t0), 0), 1) : 0;
    for (let c = 0; c < 3; c++) out[i * 4 + c] = Math.round(a[c] + (b[c] - a[c]) * f);
    out[i * 4 + 3] = 255;
  }
  return out;
}

/** The map after `name` in COLORMAPS, wrapping round (the C key). */
export function nextColormap(name) {
  return COLORMAPS[(COLORMAPS.indexOf(name) + 1) % COLORMAPS.length];
}
