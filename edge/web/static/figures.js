// The numbers the lane page shows from the server: the day's figures (GET /api/stats, polled), and
// how many passages wait in each state (GET /api/passages/counts) for the "(N flagged)" title and
// the filter buttons' counts. Those are the whole store's, not the loaded page's (the list holds a
// page at a time, and a filter may show no flagged rows at all); the page asks again when the live
// stream says a passage changed, coalesced: one request in flight at a time, the updates of
// SETTLE_MS costing one more.
"use strict";

import { FILTERS } from "/static/passages.js";

const SETTLE_MS = 250;
const $ = (id) => document.getElementById(id);

export async function loadStats(api) {
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  const hours = Math.max((Date.now() - midnight.getTime()) / 3_600_000, 1 / 60);
  const s = await api.get(`/api/stats?hours=${hours.toFixed(4)}`);
  $("fig-passages").textContent = String(s.passages);
  $("fig-direct").textContent = s.released_directly_share === null || s.released_directly_share === undefined
    ? "–" : `${Math.round(s.released_directly_share * 100)} %`;
  $("fig-direct").title = `${s.released_directly} of ${s.decided} decided passages released directly after machine inspection`;
  $("fig-median").textContent = s.decision_s_p50 === null || s.decision_s_p50 === undefined
    ? "–" : `${s.decision_s_p50.toFixed(1)} s`;
  $("fig-median").title = s.decision_s_p95 === null || s.decision_s_p95 === undefined
    ? "" : `95 % decided within ${s.decision_s_p95.toFixed(1)} s of arrival`;
  $("fig-let-go").textContent = s.machine_held_let_go_share === null || s.machine_held_let_go_share === undefined
    ? "–" : `${Math.round(s.machine_held_let_go_share * 100)} %`;
  const byReason = Object.entries(s.holds_by_reason || {}).map(([code, n]) => `${n.word || code}: ${n.let_go} of ${n.held}`);
  $("fig-let-go").title = `${s.machine_held_let_go} of ${s.machine_held} vehicles the machine held were released by an `
    + `officer or cleared by the hub${byReason.length ? ` (${byReason.join("; ")})` : ""}`;
}

/** The waiting counts: the title's "(N flagged)" and a count on each filter button but "All". */
export class WaitingCounts {
  constructor(api, buttons) {
    this.api = api;
    this.buttons = [...buttons].filter((b) => FILTERS[b.dataset.filter] && !FILTERS[b.dataset.filter].includes(null));
    this.base = document.title;
    this.byState = null;
    this.timer = null;
    this.inFlight = false;
    this.again = false;
    this.stopped = false;
  }

  /** The title without the count (the lane's name). */
  setBase(title) {
    this.base = title;
    this.render();
  }

  /** Ask again soon: within SETTLE_MS of the first ask (later asks meanwhile ride along, so a busy lane's
   *  stream of updates cannot put it off), one request in flight at a time and one more after it when
   *  asked meanwhile. `now`: without waiting (a reload). */
  refresh(now = false) {
    if (this.stopped) return;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    if (this.timer !== null && !now) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), now ? 0 : SETTLE_MS);
  }

  async load() {
    this.timer = null;
    if (this.stopped) return;
    this.inFlight = true;
    this.again = false;
    try {
      this.byState = (await this.api.get("/api/passages/counts")).by_state;
      this.render();
    } catch { /* kept as it was; the next update asks again */ }
    finally {
      this.inFlight = false;
      if (this.again) this.refresh();
    }
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  render() {
    const flagged = this.byState ? this.byState.flagged || 0 : 0;
    document.title = flagged ? `(${flagged} flagged) ${this.base}` : this.base;
    if (!this.byState) return;
    for (const b of this.buttons) {
      const n = FILTERS[b.dataset.filter].reduce((sum, state) => sum + (this.byState[state] || 0), 0);
      let badge = b.querySelector(".count");
      if (!badge) {
        badge = document.createElement("span");
        badge.className = "count";
        b.append(badge);
      }
      badge.textContent = String(n);
      badge.hidden = n === 0;
      badge.title = `${n} passage${n === 1 ? "" : "s"} in all, not only those loaded`;
    }
  }
}
