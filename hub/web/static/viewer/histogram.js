// The data's histogram from a subsampled pass (at most MAX_SAMPLES samples, evenly strided), so a
// 60 MB scan is summarised in a few milliseconds on load without a worker; its percentiles drive
// auto-window and the presets, its range scales the window/level drag.
"use strict";

const MAX_SAMPLES = 1 << 21;

export class Histogram {
  /** `samples`: a Uint8Array or Uint16Array of one plane; `bits`: 8 or 16. */
  constructor(samples, bits) {
    const bins = bits > 8 ? 65536 : 256;
    this.counts = new Uint32Array(bins);
    const stride = Math.max(1, Math.floor(samples.length / MAX_SAMPLES));
    // an odd stride does not alias with even image widths (every sample of one column otherwise)
    const step = stride > 1 && stride % 2 === 0 ? stride + 1 : stride;
    let n = 0;
    for (let i = 0; i < samples.length; i += step) {
      this.counts[samples[i]]++;
      n++;
    }
    this.total = n;
    this.min = this.counts.findIndex((c) => c > 0);
    let max = bins - 1;
    while (max > 0 && this.counts[max] === 0) max--;
    this.max = Math.max(max, this.min < 0 ? 0 : this.min);
    if (this.min < 0) this.min = 0;
  }

  /** The smallest sample value with at least `q` (0..1) of the samples at or below it. */
  percentile(q) {
    const want = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let v = 0; v < this.counts.length; v++) {
      seen += this.counts[v];
      if (seen >= want) return v;
    }
    return this.max;
  }

  /** The data's range (max - min), at least 1, for drag sensitivity. */
  get range() {
    return Math.max(1, this.max - this.min);
  }
}
