// An image with its flagged regions drawn over it, zoomed and panned: the mouse wheel and a drag
// on a desk, a pinch and a drag on touch (pointer events), a double click or tap to zoom in or
// fit, buttons for the same. It shows the edge's 8-bit preview (at most PREVIEW_PX on its longer
// side: a 4096x2048 pass image or a 16-bit X-ray stays light), and places each region from the
// ORIGINAL image's pixel coordinates (the image ref's width and height) scaled to the preview.
// The image and the boxes sit on one stage moved by a CSS transform, so they never drift apart.
"use strict";

const PREVIEW_PX = 2048;
const MAX_ZOOM_OVER_FIT = 16;

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class ImageViewer {
  constructor() {
    this.root = el("figure", "viewer");
    this.frame = el("div", "viewer-frame");
    this.frame.tabIndex = 0;
    this.stage = el("div", "viewer-stage");
    this.img = el("img", "viewer-img");
    this.img.draggable = false;
    this.img.decoding = "async";
    this.boxes = el("div", "viewer-boxes");
    this.status = el("p", "viewer-status", "");
    this.stage.append(this.img, this.boxes);
    this.frame.append(this.stage, this.status);
    this.caption = el("figcaption", "viewer-caption");
    this.tools = el("div", "viewer-tools");
    this.tools.setAttribute("role", "group");
    this.tools.setAttribute("aria-label", "Zoom");
    const button = (label, title, fn) => {
      const b = el("button", "tool", label);
      b.type = "button";
      b.title = title;
      b.setAttribute("aria-label", title);
      b.addEventListener("click", fn);
      this.tools.append(b);
      return b;
    };
    button("−", "Zoom out (-)", () => this.zoomBy(1 / 1.5));
    this.fitButton = button("Fit", "Fit the image (F)", () => this.fit());
    this.fitButton.setAttribute("aria-label", "Fit the image");
    button("+", "Zoom in (+)", () => this.zoomBy(1.5));
    this.zoomText = el("span", "zoom-text", "");
    this.original = el("a", "original", "Original file");
    this.original.target = "_blank";
    this.original.rel = "noopener";
    this.tools.append(this.zoomText, this.original);
    this.root.append(this.frame, this.tools, this.caption);

    this.ref = null;
    this.k = 1; this.tx = 0; this.ty = 0;
    this.fitted = true;
    this.pointers = new Map();
    this.gesture = null;
    this.frameRequested = false;
    this.img.addEventListener("load", () => this.loaded());
    this.img.addEventListener("error", () => { this.status.textContent = "The image could not be shown."; });
    this.frame.addEventListener("wheel", (e) => this.wheel(e), { passive: false });
    this.frame.addEventListener("pointerdown", (e) => this.down(e));
    this.frame.addEventListener("pointermove", (e) => this.move(e));
    for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
      this.frame.addEventListener(type, (e) => this.up(e));
    }
    this.frame.addEventListener("dblclick", (e) => this.doubleClick(e));
    new ResizeObserver(() => { if (this.fitted) this.fit(); else this.apply(); }).observe(this.frame);
  }

  // ------------------------------------------------------------ what is shown

  /** Show `ref` ({sha256, label, width, height, regions}); the same image again keeps the zoom. */
  show(ref, caption) {
    const same = this.ref && this.ref.sha256 === ref.sha256;
    this.ref = ref;
    this.caption.textContent = caption || ref.label || "";
    this.original.href = `/api/media/${ref.sha256}`;
    this.img.alt = `${ref.label || "image"}${(ref.regions || []).length ? `, ${ref.regions.length} flagged region(s) marked` : ""}`;
    if (same && this.img.complete && this.img.naturalWidth) {
      this.drawRegions();
      return;
    }
    this.status.textContent = "loading the image…";
    this.root.classList.remove("ready");
    this.img.src = `/api/media/${ref.sha256}/preview?max_px=${PREVIEW_PX}`;
  }

  loaded() {
    this.status.textContent = "";
    this.root.classList.add("ready");
    this.stage.style.width = `${this.img.naturalWidth}px`;
    this.stage.style.height = `${this.img.naturalHeight}px`;
    this.frame.style.setProperty("--aspect", String(this.img.naturalWidth / this.img.naturalHeight));
    this.drawRegions();
    this.fit();
  }

  /** The scale from the original image's pixels to the preview's. */
  originalToPreview() {
    const w = this.img.naturalWidth, h = this.img.naturalHeight;
    const ow = this.ref.width || w, oh = this.ref.height || h;
    return [w / ow, h / oh];
  }

  drawRegions() {
    const [sx, sy] = this.originalToPreview();
    this.boxes.replaceChildren();
    (this.ref.regions || []).forEach((r, i) => {
      const box = el("div", "region");
      Object.assign(box.style, {
        left: `${r.x * sx}px`, top: `${r.y * sy}px`, width: `${r.width * sx}px`, height: `${r.height * sy}px`,
      });
      Object.assign(box.dataset, { x: r.x, y: r.y, width: r.width, height: r.height, index: i });
      const tag = el("span", "region-tag", `${i + 1}${r.score !== null && r.score !== undefined ? ` · ${Number(r.score).toFixed(2)}` : ""}`);
      box.append(tag);
      this.boxes.append(box);
    });
  }

  // ------------------------------------------------------------ zoom and pan

  fitScale() {
    const w = this.img.naturalWidth, h = this.img.naturalHeight;
    if (!w || !h) return 1;
    return Math.min(this.frame.clientWidth / w, this.frame.clientHeight / h);
  }

  fit() {
    if (!this.img.naturalWidth) return;
    this.k = this.fitScale();
    this.tx = (this.frame.clientWidth - this.img.naturalWidth * this.k) / 2;
    this.ty = (this.frame.clientHeight - this.img.naturalHeight * this.k) / 2;
    this.fitted = true;
    this.apply();
  }

  /** Zoom by `factor` keeping the frame point (cx, cy) still (the centre by default). */
  zoomBy(factor, cx = this.frame.clientWidth / 2, cy = this.frame.clientHeight / 2) {
    if (!this.img.naturalWidth) return;
    const fit = this.fitScale();
    const k = Math.min(Math.max(this.k * factor, fit * 0.5), Math.max(fit * MAX_ZOOM_OVER_FIT, 4));
    this.tx = cx - (cx - this.tx) * (k / this.k);
    this.ty = cy - (cy - this.ty) * (k / this.k);
    this.k = k;
    this.fitted = false;
    this.apply();
  }

  panBy(dx, dy) {
    this.tx += dx;
    this.ty += dy;
    this.fitted = false;
    this.apply();
  }

  /** Keep some of the image in the frame, then move the stage on the next frame. */
  apply() {
    const w = this.img.naturalWidth * this.k, h = this.img.naturalHeight * this.k;
    const fw = this.frame.clientWidth, fh = this.frame.clientHeight;
    const keep = 40;
    this.tx = Math.min(Math.max(this.tx, keep - w), fw - keep);
    this.ty = Math.min(Math.max(this.ty, keep - h), fh - keep);
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => {
      this.frameRequested = false;
      this.stage.style.transform = `translate(${this.tx}px, ${this.ty}px) scale(${this.k})`;
      this.stage.style.setProperty("--inv", String(1 / this.k));
      const fit = this.fitScale();
      this.zoomText.textContent = `${Math.round((this.k / fit) * 100)} %`;
      this.root.classList.toggle("zoomed", !this.fitted);
    });
  }

  point(e) {
    const rect = this.frame.getBoundingClientRect();
    return [e.clientX - rect.left, e.clientY - rect.top];
  }

  wheel(e) {
    if (!this.img.naturalWidth) return;
    e.preventDefault();
    const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? this.frame.clientHeight : 1;
    if (e.ctrlKey || !e.shiftKey) {  // a wheel (or a trackpad pinch, sent as ctrl+wheel) zooms
      const [x, y] = this.point(e);
      this.zoomBy(Math.exp(-e.deltaY * unit * 0.0015), x, y);
    } else {
      this.panBy(-e.deltaX * unit, -e.deltaY * unit);
    }
  }

  down(e) {
    if (e.button !== undefined && e.button !== 0 && e.pointerType === "mouse") return;
    try {
      this.frame.setPointerCapture(e.pointerId);
    } catch { /* a pointer already gone: the gesture still works inside the frame */ }
    this.pointers.set(e.pointerId, this.point(e));
    this.startGesture();
    this.root.classList.add("grabbing");
  }

  startGesture() {
    const pts = [...this.pointers.values()];
    if (pts.length >= 2) {
      const [a, b] = pts;
      this.gesture = { kind: "pinch", dist: Math.hypot(a[0] - b[0], a[1] - b[1]) || 1,
                       mid: [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2] };
    } else if (pts.length === 1) {
      this.gesture = { kind: "drag", last: pts[0] };
    } else {
      this.gesture = null;
    }
  }

  move(e) {
    if (!this.pointers.has(e.pointerId) || !this.gesture) return;
    this.pointers.set(e.pointerId, this.point(e));
    const pts = [...this.pointers.values()];
    if (this.gesture.kind === "pinch" && pts.length >= 2) {
      const [a, b] = pts;
      const dist = Math.hypot(a[0] - b[0], a[1] - b[1]) || 1;
      const mid = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
      this.tx += mid[0] - this.gesture.mid[0];
      this.ty += mid[1] - this.gesture.mid[1];
      this.zoomBy(dist / this.gesture.dist, mid[0], mid[1]);
      this.gesture.dist = dist;
      this.gesture.mid = mid;
    } else if (this.gesture.kind === "drag") {
      const p = pts[0];
      this.panBy(p[0] - this.gesture.last[0], p[1] - this.gesture.last[1]);
      this.gesture.last = p;
    }
  }

  up(e) {
    if (!this.pointers.delete(e.pointerId)) return;
    this.startGesture();  // a pinch that loses a finger goes on as a drag
    if (!this.pointers.size) this.root.classList.remove("grabbing");
  }

  doubleClick(e) {
    if (this.fitted) {
      const [x, y] = this.point(e);
      this.zoomBy(3, x, y);
    } else {
      this.fit();
    }
  }
}
