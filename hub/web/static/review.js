// One open item: its evidence in the viewer and the side panel, and its decision. In review mode
// the page holds a claim (a lease with a fencing token): it renews the lease every 5 s, sends
// the verdict under the fence, and gives the item back when the reviewer leaves it. A 409 on
// renew or verdict means the claim was lost (the lease ran out and someone else took the item):
// the reviewer is told and sent back to the queue. In re-check mode a supervisor confirms or
// overturns the first verdict; there is no lease.
"use strict";

import { $, el } from "./dom.js";
import { earlierFor, imageCaption, markImage, orderedImages, renderDetail } from "./detail.js";
import { countdown, hubNow, syncClock } from "./time.js";

const RENEW_MS = 5000;  // or a third of the lease, if the hub's lease is shorter than 15 s

export class Review {
  /** `done(message, kind)` is called when the item is finished with (verdict, lost claim, error). */
  constructor(api, viewer, me, done) {
    this.api = api;
    this.viewer = viewer;
    this.me = me;
    this.done = done;
    this.id = null;
    this.mode = null;
    this.claim = null;
    this.detail = null;
    this.images = [];
    this.imageIndex = 0;
    this.renewTimer = null;
    this.tickTimer = null;
    this.sending = false;
  }

  get open() {
    return this.id !== null;
  }

  /** Open item `id`: mode "review" with `claim` ({fence, lease_until, lease_s}), or "recheck". */
  async show(id, mode, claim) {
    this.id = id;
    this.mode = mode;
    this.claim = claim || null;
    this.sending = false;
    $("detail").replaceChildren(el("p", "muted", "Loading the item…"));
    this.setButtons(mode);
    if (mode === "review") {
      const every = Math.min(RENEW_MS, ((this.claim && this.claim.lease_s) || 60) * 1000 / 3);
      this.renewTimer = setInterval(() => this.renew(), every);
      this.tickTimer = setInterval(() => this.showLease(), 1000);
    }
    this.showLease();
    let detail;
    try {
      detail = await this.api.get(`/review/${id}`);
    } catch (err) {
      return this.finish(`Item ${id} could not be opened: ${err.message}`, "bad", true);
    }
    if (this.id !== id) return undefined;
    syncClock(detail.now);
    this.detail = detail;
    this.images = orderedImages(detail.passage);
    renderDetail($("detail"), detail, this.images, (i) => this.showImage(i));
    this.showLease();
    if (this.images.length) return this.showImage(0);
    this.viewer.clear();
    return undefined;
  }

  setButtons(mode) {
    const first = mode === "recheck" ? "Re-check: " : "";
    $("clear").textContent = `${first}Clear (Shift+C)`;
    $("suspicious").textContent = `${first}Suspicious… (Shift+S)`;
    $("back").textContent = mode === "recheck" ? "Back (Esc)" : "Back, give it back (Esc)";
  }

  async showImage(i) {
    if (!this.images.length) return;
    this.imageIndex = (i + this.images.length) % this.images.length;
    const image = this.images[this.imageIndex];
    markImage($("detail"), this.imageIndex, this.id, image.sha256);
    const ref = { ...image, caption: `this pass · ${imageCaption(image)}` };
    try {
      await this.viewer.show(ref, earlierFor(image, this.detail.earlier));
    } catch (err) {
      // the pane says why; the verdict stays possible on the other evidence
    }
  }

  nextImage(step) {
    this.showImage(this.imageIndex + step);
  }

  showLease() {
    const box = $("lease");
    box.className = "lease";
    if (!this.open) {
      box.textContent = "";
      return;
    }
    const parts = [];
    if (this.mode === "review" && this.claim) {
      const left = Math.max(0, Math.round(this.claim.lease_until - hubNow()));
      parts.push(`Held by you · lease ${left} s`);
    } else if (this.mode === "recheck") {
      parts.push("Re-check: your verdict confirms or overturns the first one");
    }
    if (this.detail) {
      const left = this.detail.item.deadline_at - hubNow();
      parts.push(left >= 0 ? `deadline in ${countdown(left)}` : `overdue by ${countdown(-left)}`);
      if (left < 0) box.classList.add("overdue");
    }
    box.textContent = parts.join(" · ");
  }

  async renew() {
    if (!this.open || this.mode !== "review" || this.sending) return;
    const id = this.id;
    try {
      const claim = await this.api.post(`/review/${id}/renew`, { fence: this.claim.fence });
      if (this.id === id && claim) this.claim = claim;
      this.showLease();
    } catch (err) {
      if (this.id !== id) return;
      if (err.status === 409) this.lost(err.message);
      else $("lease").textContent = `The lease could not be renewed (${err.message}); trying again.`;
    }
  }

  lost(words) {
    this.finish(`The claim on this item was lost: someone else has it now (${words}).`, "bad", false);
  }

  /** Send a verdict ("clear" | "suspicious") with `note`. */
  async decide(verdict, note) {
    if (!this.open || this.sending) return;
    const id = this.id;
    this.sending = true;
    try {
      if (this.mode === "review") {
        await this.api.post(`/review/${id}/verdict`, { fence: this.claim.fence, verdict, note });
        this.finish(`Verdict ${verdict} sent for ${this.detail ? this.detail.item.lane : "the item"}. N for the next.`, "ok", false);
      } else {
        const done = await this.api.post(`/review/${id}/recheck`, { verdict, note });
        const word = done && done.outcome === "overturned" ? "overturned: the lane gets the new verdict" : "confirmed";
        this.finish(`Re-check sent: ${word}.`, "ok", false);
      }
    } catch (err) {
      this.sending = false;
      if (err.status === 409 && this.mode === "review") this.lost(err.message);
      else $("lease").textContent = `The verdict was not accepted: ${err.message}`;
    }
  }

  /** Leave the item; a claim still held is given back first (release) unless `keep` is false. */
  async leave() {
    if (!this.open) return;
    const { id, claim, mode } = this;
    this.close();
    if (mode === "review" && claim) {
      try {
        await this.api.post(`/review/${id}/release`, { fence: claim.fence });
      } catch (err) {
        // a claim already lost or decided has nothing to give back
      }
    }
  }

  /** The page is unloading: give the item back with a request that outlives it. */
  leaveOnUnload() {
    if (this.open && this.mode === "review" && this.claim) {
      this.api.postOnLeave(`/review/${this.id}/release`, { fence: this.claim.fence });
    }
  }

  close() {
    clearInterval(this.renewTimer);
    clearInterval(this.tickTimer);
    this.renewTimer = null;
    this.tickTimer = null;
    this.id = null;
    this.claim = null;
    this.detail = null;
    this.viewer.clear();
    this.showLease();
  }

  finish(message, kind, release) {
    if (release) this.leave();
    else this.close();
    this.done(message, kind);
  }
}
