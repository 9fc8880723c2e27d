// Fetch an image's full-depth samples from the hub (GET /api/v1/images/{sha}/pixels): raw
// little-endian uint8 or uint16, planes stacked, its shape in X-Width/X-Height/X-Bits/X-Planes.
// The body streams into one preallocated buffer, so progress can be shown on a 60 MB scan and no
// second copy is made.
"use strict";

export class PixelImage {
  constructor(width, height, bits, planes, buffer) {
    this.width = width;
    this.height = height;
    this.bits = bits;
    this.planes = planes;
    this.buffer = buffer;
    this.bytesPerSample = bits > 8 ? 2 : 1;
    this.maxValue = 2 ** Math.min(bits, 16) - 1;  // the full scale, e.g. 4095 for 12-bit samples in uint16
  }

  /** The samples of plane `p` as a typed array view (no copy). */
  plane(p) {
    const n = this.width * this.height;
    const Ctor = this.bytesPerSample === 2 ? Uint16Array : Uint8Array;
    return new Ctor(this.buffer, p * n * this.bytesPerSample, n);
  }
}

function header(r, name) {
  const v = Number.parseInt(r.headers.get(name) || "", 10);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`the hub's answer has no valid ${name} header`);
  return v;
}

/** Load `url`; `onProgress(received, total)` is called as bytes arrive. */
export async function fetchPixels(url, onProgress) {
  const r = await fetch(url, { credentials: "same-origin" });
  if (r.status === 401) {
    location.assign("/login.html");
    throw new Error("the session ended");
  }
  if (!r.ok) throw new Error(`the hub answered ${r.status} for the image's pixels`);
  const width = header(r, "X-Width");
  const height = header(r, "X-Height");
  const bits = header(r, "X-Bits");
  const planes = Number.parseInt(r.headers.get("X-Planes") || "1", 10) || 1;
  const bytes = width * height * planes * (bits > 8 ? 2 : 1);
  const buffer = new ArrayBuffer(bytes);
  const view = new Uint8Array(buffer);
  let got = 0;
  if (r.body && r.body.getReader) {
    const reader = r.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (got + value.length > bytes) throw new Error(`the pixels are longer than ${width}x${height}x${planes} at ${bits} bits`);
      view.set(value, got);
      got += value.length;
      if (onProgress) onProgress(got, bytes);
    }
  } else {
    const all = new Uint8Array(await r.arrayBuffer());
    if (all.length > bytes) throw new Error(`the pixels are longer than ${width}x${height}x${planes} at ${bits} bits`);
    view.set(all);
    got = all.length;
  }
  if (got !== bytes) throw new Error(`the pixels are ${got} bytes, ${bytes} expected for ${width}x${height}x${planes} at ${bits} bits`);
  return new PixelImage(width, height, bits, planes, buffer);
}
