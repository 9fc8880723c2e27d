// The GPU renderer (WebGL2). The samples go up once as integer textures (R16UI or R8UI, in tiles
// of at most MAX_TEXTURE_SIZE per side); the fragment shader fetches the raw sample (texelFetch,
// no filtering of integers) and applies window/level, gamma, invert and a 256-entry colour table.
// So a window/level drag, a zoom or a pan only changes uniforms: nothing is uploaded again.
// Regions are drawn by a second, trivial program as screen-space bars over the image.
"use strict";

const IMAGE_VS = `#version 300 es
in vec2 a_unit;
uniform vec2 u_canvas, u_offset, u_origin, u_size;
uniform float u_zoom;
out vec2 v_img;
void main() {
  v_img = a_unit * u_size;
  vec2 s = u_offset + (u_origin + v_img) * u_zoom;
  gl_Position = vec4(s.x / u_canvas.x * 2.0 - 1.0, 1.0 - s.y / u_canvas.y * 2.0, 0.0, 1.0);
}`;

const IMAGE_FS = `#version 300 es
precision highp float;
precision highp int;
precision highp usampler2D;
uniform usampler2D u_tex;
uniform sampler2D u_lut;
uniform vec2 u_size;
uniform float u_zoom, u_low, u_high, u_gamma;
uniform bool u_invert;
in vec2 v_img;
out vec4 o;
float at(vec2 p) {
  ivec2 ip = clamp(ivec2(floor(p)), ivec2(0), ivec2(u_size) - 1);
  return float(texelFetch(u_tex, ip, 0).r);
}
void main() {
  float v;
  if (u_zoom < 0.75) {  // several samples under one screen pixel: a 2x2 box instead of aliasing
    float d = 0.25 / u_zoom;
    v = 0.25 * (at(v_img + vec2(-d, -d)) + at(v_img + vec2(d, -d)) + at(v_img + vec2(-d, d)) + at(v_img + vec2(d, d)));
  } else {
    v = at(v_img);
  }
  float t = clamp((v - u_low) / max(u_high - u_low, 1e-6), 0.0, 1.0);
  t = pow(t, 1.0 / u_gamma);
  if (u_invert) t = 1.0 - t;
  o = vec4(texture(u_lut, vec2((t * 255.0 + 0.5) / 256.0, 0.5)).rgb, 1.0);
}`;

const BARS_VS = `#version 300 es
in vec2 a_pos;
uniform vec2 u_canvas;
void main() { gl_Position = vec4(a_pos.x / u_canvas.x * 2.0 - 1.0, 1.0 - a_pos.y / u_canvas.y * 2.0, 0.0, 1.0); }`;

const BARS_FS = `#version 300 es
precision mediump float;
uniform vec4 u_color;
out vec4 o;
void main() { o = u_color; }`;

export const REGION_RGBA = [255, 60, 240, 255];  // magenta: in none of the colour maps
const BACKGROUND = [0.043, 0.055, 0.071, 1];

function compile(gl, vs, fs) {
  const program = gl.createProgram();
  for (const [type, src] of [[gl.VERTEX_SHADER, vs], [gl.FRAGMENT_SHADER, fs]]) {
    const shader = gl.createShader(type);
    gl.shaderSource(shader, src);
    gl.compileShader(shader);
    if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(shader) || "shader");
    gl.attachShader(program, shader);
  }
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(program) || "link");
  const uniforms = {};
  const n = gl.getProgramParameter(program, gl.ACTIVE_UNIFORMS);
  for (let i = 0; i < n; i++) {
    const name = gl.getActiveUniform(program, i).name;
    uniforms[name] = gl.getUniformLocation(program, name);
  }
  return { program, uniforms };
}

export class GLRenderer {
  /** A renderer on `canvas`, or null when the browser has no WebGL2. `maxTile` caps the tile side. */
  static create(canvas, maxTile) {
    const gl = canvas.getContext("webgl2", { antialias: false, alpha: false, premultipliedAlpha: false });
    if (!gl) return null;
    try {
      return new GLRenderer(canvas, gl, maxTile);
    } catch (err) {
      console.warn("WebGL2 renderer unavailable:", err);
      return null;
    }
  }

  constructor(canvas, gl, maxTile) {
    this.kind = "webgl2";
    this.canvas = canvas;
    this.gl = gl;
    this.maxTile = maxTile || Infinity;
    this.image = null;
    this.tiles = [];
    this.regions = [];
    this.lutBytes = null;
    this.lost = false;
    canvas.addEventListener("webglcontextlost", (e) => { e.preventDefault(); this.lost = true; });
    canvas.addEventListener("webglcontextrestored", () => this.restore());
    this.init();
  }

  init() {
    const gl = this.gl;
    this.imageProgram = compile(gl, IMAGE_VS, IMAGE_FS);
    this.barsProgram = compile(gl, BARS_VS, BARS_FS);
    this.unitBuffer = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, this.unitBuffer);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([0, 0, 1, 0, 0, 1, 1, 1]), gl.STATIC_DRAW);
    this.barsBuffer = gl.createBuffer();
    this.lutTexture = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, this.lutTexture);
    for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D, p, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    this.maxTextureSize = gl.getParameter(gl.MAX_TEXTURE_SIZE);
    const info = gl.getExtension("WEBGL_debug_renderer_info");
    const name = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : "";
    this.software = /swiftshader|llvmpipe|software/i.test(name);  // no GPU: the shader runs on the CPU
  }

  restore() {
    this.lost = false;
    this.init();
    if (this.lutBytes) this.setLut(this.lutBytes);
    if (this.image) this.setImage(...this.image);
  }

  /** The tile side in use: the GPU's limit, or less when asked. */
  get tileSide() {
    return Math.min(this.maxTextureSize, this.maxTile);
  }

  /** Upload one plane's samples (Uint16Array or Uint8Array, row-major `width` x `height`). */
  setImage(samples, width, height) {
    const gl = this.gl;
    for (const t of this.tiles) gl.deleteTexture(t.texture);
    this.tiles = [];
    this.image = [samples, width, height];
    const wide = samples.BYTES_PER_ELEMENT === 2;
    const side = this.tileSide;
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.pixelStorei(gl.UNPACK_ROW_LENGTH, width);
    for (let y = 0; y < height; y += side) {
      for (let x = 0; x < width; x += side) {
        const w = Math.min(side, width - x);
        const h = Math.min(side, height - y);
        const texture = gl.createTexture();
        gl.bindTexture(gl.TEXTURE_2D, texture);
        for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D, p, gl.NEAREST);
        gl.texStorage2D(gl.TEXTURE_2D, 1, wide ? gl.R16UI : gl.R8UI, w, h);
        gl.pixelStorei(gl.UNPACK_SKIP_PIXELS, x);
        gl.pixelStorei(gl.UNPACK_SKIP_ROWS, y);
        gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, w, h, gl.RED_INTEGER, wide ? gl.UNSIGNED_SHORT : gl.UNSIGNED_BYTE, samples);
        this.tiles.push({ x, y, w, h, texture });
      }
    }
    for (const p of [gl.UNPACK_ROW_LENGTH, gl.UNPACK_SKIP_PIXELS, gl.UNPACK_SKIP_ROWS]) gl.pixelStorei(p, 0);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 4);
    const err = gl.getError();
    if (err !== gl.NO_ERROR) throw new Error(`the GPU refused the image (WebGL error ${err})`);
  }

  /** The colour table: 256 RGBA entries. */
  setLut(bytes) {
    const gl = this.gl;
    this.lutBytes = bytes;
    gl.bindTexture(gl.TEXTURE_2D, this.lutTexture);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, 256, 1, 0, gl.RGBA, gl.UNSIGNED_BYTE, bytes);
  }

  /** Regions in the image's own pixels: [{x, y, width, height}]. */
  setRegions(regions) {
    this.regions = regions || [];
  }

  /** Draw with `p`: {low, high, gamma, invert, zoom, offsetX, offsetY, overlay}, in device pixels. */
  draw(p) {
    const gl = this.gl;
    if (this.lost) return;
    const cw = this.canvas.width;
    const ch = this.canvas.height;
    gl.viewport(0, 0, cw, ch);
    gl.clearColor(...BACKGROUND);
    gl.clear(gl.COLOR_BUFFER_BIT);
    if (!this.tiles.length) return;
    const { program, uniforms: u } = this.imageProgram;
    gl.useProgram(program);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.unitBuffer);
    const unit = gl.getAttribLocation(program, "a_unit");
    gl.enableVertexAttribArray(unit);
    gl.vertexAttribPointer(unit, 2, gl.FLOAT, false, 0, 0);
    gl.uniform2f(u.u_canvas, cw, ch);
    gl.uniform2f(u.u_offset, p.offsetX, p.offsetY);
    gl.uniform1f(u.u_zoom, p.zoom);
    gl.uniform1f(u.u_low, p.low);
    gl.uniform1f(u.u_high, p.high);
    gl.uniform1f(u.u_gamma, p.gamma);
    gl.uniform1i(u.u_invert, p.invert ? 1 : 0);
    gl.uniform1i(u.u_tex, 0);
    gl.uniform1i(u.u_lut, 1);
    gl.activeTexture(gl.TEXTURE1);
    gl.bindTexture(gl.TEXTURE_2D, this.lutTexture);
    gl.activeTexture(gl.TEXTURE0);
    for (const t of this.tiles) {
      const x0 = p.offsetX + t.x * p.zoom;
      const y0 = p.offsetY + t.y * p.zoom;
      if (x0 > cw || y0 > ch || x0 + t.w * p.zoom < 0 || y0 + t.h * p.zoom < 0) continue;  // off screen
      gl.bindTexture(gl.TEXTURE_2D, t.texture);
      gl.uniform2f(u.u_origin, t.x, t.y);
      gl.uniform2f(u.u_size, t.w, t.h);
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    }
    gl.disableVertexAttribArray(unit);
    if (p.overlay && this.regions.length) this.drawRegions(p, cw, ch);
  }

  drawRegions(p, cw, ch) {
    const gl = this.gl;
    const w = Math.max(2, Math.round(window.devicePixelRatio || 1) * 2);  // outline thickness
    const v = [];
    const bar = (x0, y0, x1, y1) => v.push(x0, y0, x1, y0, x0, y1, x0, y1, x1, y0, x1, y1);
    for (const r of this.regions) {
      const x0 = p.offsetX + r.x * p.zoom - w;
      const y0 = p.offsetY + r.y * p.zoom - w;
      const x1 = p.offsetX + (r.x + r.width) * p.zoom + w;
      const y1 = p.offsetY + (r.y + r.height) * p.zoom + w;
      bar(x0, y0, x1, y0 + w);
      bar(x0, y1 - w, x1, y1);
      bar(x0, y0, x0 + w, y1);
      bar(x1 - w, y0, x1, y1);
    }
    const { program, uniforms: u } = this.barsProgram;
    gl.useProgram(program);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.barsBuffer);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array(v), gl.DYNAMIC_DRAW);
    const pos = gl.getAttribLocation(program, "a_pos");
    gl.enableVertexAttribArray(pos);
    gl.vertexAttribPointer(pos, 2, gl.FLOAT, false, 0, 0);
    gl.uniform2f(u.u_canvas, cw, ch);
    gl.uniform4f(u.u_color, ...REGION_RGBA.map((c) => c / 255));
    gl.drawArrays(gl.TRIANGLES, 0, v.length / 2);
    gl.disableVertexAttribArray(pos);
  }

  /** The RGBA drawn at device pixel (x, y) from the top left; call right after draw(). */
  readPixel(x, y) {
    const out = new Uint8Array(4);
    this.gl.readPixels(Math.floor(x), this.canvas.height - 1 - Math.floor(y), 1, 1, this.gl.RGBA, this.gl.UNSIGNED_BYTE, out);
    return Array.from(out);
  }
}
