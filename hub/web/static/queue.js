// The review queue: the items not yet decided, flagged first, with their deadlines counting down
// (overdue in red) and who holds which; polled every POLL_MS while shown, the countdowns ticked
// every second in between. "Next" (N) claims the first free item for this reviewer.
"use strict";

import { el, scoreText, vehicleText } from "./dom.js";
import { countdown, duration, hubNow, syncClock } from "./time.js";

const POLL_MS = 3000;

export class QueueView {
  /** `els`: {rows, empty, depth}; `me`: {name}. */
  constructor(api, els, me) {
    this.api = api;
    this.els = els;
    this.me = me;
    this.items = [];
    this.timers = [];
  }

  start() {
    this.stop();
    this.refresh();
    this.timers.push(setInterval(() => this.refresh(), POLL_MS), setInterval(() => this.tick(), 1000));
  }

  stop() {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  async refresh() {
    let r;
    try {
      r = await fetch("/api/v1/queue", { credentials: "same-origin" });
    } catch (err) {
      this.els.depth.textContent = "The hub does not answer; the queue shown may be old.";
      return undefined;
    }
    if (r.status === 401) return this.api.leave("/login.html");
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      this.els.depth.textContent = `The queue could not be read: ${body.detail || r.status}`;
      return undefined;
    }
    const body = await r.json();
    syncClock(body.now, r.headers.get("Date"));
    this.items = Array.isArray(body) ? body : body.items;
    this.depth = body.depth ?? this.items.length;
    this.oldest = body.oldest_age_s ?? null;
    this.render();
    return undefined;
  }

  render() {
    const rows = this.items.map((item) => this.row(item));
    this.els.rows.replaceChildren(...rows);
    this.els.empty.hidden = this.items.length > 0;
    this.els.depth.textContent = this.depth
      ? `${this.depth} waiting · oldest ${duration(this.oldest)}` : "";
    this.tick();
  }

  row(item) {
    const tr = el("tr", item.flagged ? "flagged" : "");
    tr.dataset.item = String(item.id);
    const lane = el("td", "", item.lane);
    if (item.port) lane.append(el("span", "muted small", ` ${item.port}`));
    const flag = el("td", "", item.flagged ? "flagged" : "");
    if (item.flagged) flag.className = "flag";
    const deadline = el("td", "deadline");
    deadline.dataset.at = String(item.deadline_at);
    const held = el("td", "held");
    if (item.claimed_by) {
      held.textContent = item.claimed_by === this.me.name ? `${item.claimed_by} (you)` : item.claimed_by;
      held.dataset.until = String(item.lease_until ?? "");
      tr.classList.add("claimed");
    } else {
      held.textContent = "–";
    }
    tr.append(lane, el("td", "", vehicleText(item)), flag, el("td", "num", scoreText(item.score)), deadline, held);
    return tr;
  }

  /** Update the countdowns from the hub's clock, without asking the hub. */
  tick() {
    const now = hubNow();
    for (const td of this.els.rows.querySelectorAll("td.deadline")) {
      const left = Number(td.dataset.at) - now;
      td.textContent = left >= 0 ? countdown(left) : `overdue ${countdown(-left)}`;
      td.classList.toggle("overdue", left < 0);
    }
    for (const td of this.els.rows.querySelectorAll("td.held")) {
      const until = Number(td.dataset.until);
      td.title = until ? `lease ${Math.max(0, Math.round(until - now))} s left` : "";
    }
  }

  /** Claim the next item: the claim ({item_id, fence, lease_until, lease_s}), or null when none waits. */
  async claimNext() {
    const claim = await this.api.post("/queue/claim", {});
    this.refresh();
    return claim;
  }
}
