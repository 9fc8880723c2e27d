// The passage list: newest first, one page at a time from the API's keyset cursor ("older" asks
// for the next page), live rows from the stream inserted in id order, an update replacing its
// row only when its `version` is newer. A filter of several states ("needs the officer": flagged,
// reviewed by the hub, open, analysing) merges one keyset-paged source per state, so it still never loads everything.
// A live update of a passage below the loaded rows is kept by the pager until its part is loaded: it then
// shows as it is now, in its place, even if the source of its new state had already paged past it (or
// not at all when it no longer matches, even if another source holds it as it was). A row that no longer
// matches leaves the list, the selected one when the selection moves on.
"use strict";

export const PAGE = 50;
const MAX_ROWS = 600;  // a day's live rows are trimmed from the old end (they stay one "older" away)
export const FILTERS = {
  needs: ["flagged", "reviewed", "open", "analysing"],
  flagged: ["flagged"],
  held: ["held"],
  all: [null],
};
const STATE_MARK = {
  open: "○", analysing: "◔", clear: "✓", flagged: "⚠", released: "➜", held: "■", reviewed: "☑",
};

export function stateMark(state) {
  return STATE_MARK[state] || "·";
}

export function stateWord(summary) {
  if (summary.state === "released" && summary.acted_by === "machine") return "released (machine)";
  return summary.state;
}

/** The hub's verdict as a marker for the row ("hub ✓", "hub ⚠", the word for screen readers); null without one. */
export function hubVerdict(summary) {
  const v = summary.verdict;
  if (!v || typeof v !== "object" || (v.verdict !== "clear" && v.verdict !== "suspicious")) return null;
  const mark = el("span", `hub-verdict ${v.verdict}`, `hub ${v.verdict === "clear" ? "✓" : "⚠"}`);
  mark.append(el("span", "sr-only", ` ${v.verdict}`), " ");
  mark.title = `hub verdict: ${v.verdict} by ${v.reviewer}${v.note ? `: ${v.note}` : ""}`;
  return mark;
}

/** Local time of the terminal; the date too when it is not today. */
export function localTime(epoch, withDate = false) {
  if (epoch === null || epoch === undefined) return "";
  const at = new Date(epoch * 1000);
  const time = at.toLocaleTimeString([], { hour12: false });
  const today = new Date().toDateString() === at.toDateString();
  if (today && !withDate) return time;
  return `${at.toLocaleDateString([], { month: "2-digit", day: "2-digit" })} ${time}`;
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Keyset pages of several states merged newest first: only what every source has loaded past is shown. */
class MergedPager {
  constructor(states, before = null) {
    this.states = states;
    this.sources = states.map((state) => ({ state, cursor: before, started: false, buffer: [] }));
    this.live = new Map();  // id -> the newest summary the live stream gave of a passage not loaded yet
    this.settled = before ?? Infinity;  // every passage from this id up is shown, or does not match
  }

  matches(summary) {
    return this.states.includes(null) || this.states.includes(summary.state);
  }

  get more() {
    return this.sources.some((s) => s.buffer.length || s.cursor !== null || !s.started)
      || [...this.live.values()].some((p) => this.matches(p));
  }

  /** A live update of a passage below what is shown: it counts over any version a source loaded or will load. */
  offer(summary) {
    const seen = this.live.get(summary.id);
    if (!seen || summary.version > seen.version) this.live.set(summary.id, summary);
  }

  async next(api) {
    await Promise.all(this.sources.map(async (s) => {
      if (s.buffer.length >= PAGE || (s.started && s.cursor === null)) return;
      const q = new URLSearchParams({ limit: String(PAGE) });
      if (s.cursor !== null) q.set("before", String(s.cursor));
      if (s.state) q.set("state", s.state);
      const page = await api.get(`/api/passages?${q}`);
      s.started = true;
      s.buffer.push(...page.items);
      s.cursor = page.next;
    }));
    // Every source with more to load has given everything newer than its last loaded id.
    const open = this.sources.filter((s) => s.cursor !== null && s.buffer.length);
    const floor = open.length ? Math.max(...open.map((s) => s.buffer[s.buffer.length - 1].id)) : -Infinity;
    // A passage that changed state between two sources' queries is in both, and one the live stream told
    // of may be in a buffer as it was: keep its newest version, and only if it still matches.
    const newest = new Map();
    for (const p of [...this.sources.flatMap((s) => s.buffer), ...this.live.values()]) {
      if (p.id >= floor && !(newest.has(p.id) && newest.get(p.id).version >= p.version)) newest.set(p.id, p);
    }
    const merged = [];
    let through = floor;  // from this id up everything is now shown or no longer matches
    for (const p of [...newest.values()].sort((a, b) => b.id - a.id)) {
      if (merged.length === PAGE) {
        through = merged[PAGE - 1].id;
        break;
      }
      if (this.matches(p)) merged.push(p);
    }
    for (const s of this.sources) s.buffer = s.buffer.filter((p) => p.id < through);
    for (const id of [...this.live.keys()]) if (id >= through) this.live.delete(id);
    this.settled = Math.min(this.settled, through);
    return merged;
  }
}

export class PassageList {
  /** `onSelect(id)` when the selection moves, `onOpen(id)` when a row is opened (tap, click, Enter). */
  constructor(list, olderButton, emptyNote, api, { onSelect, onOpen }) {
    this.list = list;
    this.olderButton = olderButton;
    this.emptyNote = emptyNote;
    this.api = api;
    this.onSelect = onSelect;
    this.onOpen = onOpen;
    this.filter = "needs";
    this.rows = new Map();  // id -> {summary, li}
    this.selected = null;
    this.pager = null;
    this.loading = null;
    this.generation = 0;
    this.during = null;  // live summaries that came while a reload was in flight: replayed onto its rows
    olderButton.addEventListener("click", () => this.older());
  }

  states() {
    return FILTERS[this.filter] || [this.filter];
  }

  matches(summary) {
    const states = this.states();
    return states.includes(null) || states.includes(summary.state);
  }

  /** Below what the pager has loaded while it has more: it keeps the summary for when that part is loaded. */
  unloaded(summary) {
    return this.pager !== null && summary.id < this.pager.settled && this.pager.more;
  }

  /** Load the first page again (a new filter, a resync, a reconnect); the selection stays if still shown. */
  async reload() {
    const generation = ++this.generation;
    const during = this.during = new Map();
    const pager = new MergedPager(this.states());
    const items = await pager.next(this.api);
    if (generation !== this.generation) return;  // a newer reload won
    this.during = null;
    this.pager = pager;
    this.rows.clear();
    this.list.replaceChildren();
    for (const p of items) this.append(p);
    // What the live stream said while the pages were on their way may be newer than the snapshot.
    for (const summary of during.values()) this.upsert(summary, false);
    this.refreshChrome();
    if (this.selected !== null && this.rows.has(this.selected)) this.mark(this.selected);
  }

  async older() {
    if (!this.pager || !this.pager.more) return;
    if (this.loading) return this.loading;
    const generation = this.generation;
    this.olderButton.disabled = true;
    this.olderButton.textContent = "loading…";
    this.loading = (async () => {
      try {
        const items = await this.pager.next(this.api);
        if (generation !== this.generation) return;
        for (const p of items) if (!this.rows.has(p.id)) this.append(p);
      } finally {
        this.loading = null;
        this.olderButton.disabled = false;
        this.olderButton.textContent = "Older passages";
        this.refreshChrome();
      }
    })();
    return this.loading;
  }

  refreshChrome() {
    this.olderButton.hidden = !(this.pager && this.pager.more);
    this.emptyNote.hidden = this.rows.size > 0;
  }

  setFilter(filter) {
    this.filter = filter;
    return this.reload();
  }

  // ------------------------------------------------------------ rows

  row(summary) {
    const li = el("li", `passage st-${summary.state}`);
    li.dataset.id = summary.id;
    li.dataset.state = summary.state;
    const button = el("button", "row");
    button.type = "button";
    const state = el("span", `state st-${summary.state}`);
    const mark = el("span", "mark", stateMark(summary.state));
    mark.setAttribute("aria-hidden", "true");
    state.append(mark, el("span", "word", stateWord(summary)));
    const plate = el("span", "plate", summary.plate || "no plate read");
    if (!summary.plate) plate.classList.add("none");
    const containers = el("span", "containers", (summary.containers || []).join(" "));
    const time = el("time", "time", localTime(summary.arrived_at));
    time.dateTime = new Date(summary.arrived_at * 1000).toISOString();
    const reason = el("span", "reason", summary.reason || (summary.state === "flagged" ? "flagged" : ""));
    if (!summary.reason && summary.acted_by && summary.acted_by !== "machine") {
      reason.textContent = `by ${summary.acted_by}`;
      reason.classList.add("by");
    }
    if ((summary.waiting_for || []).length && (summary.state === "open" || summary.state === "analysing")) {
      reason.textContent = `waiting for ${summary.waiting_for.join(", ")}`;
      reason.classList.add("by");
    }
    if (summary.holding > 1) reason.append(el("span", "more", ` +${summary.holding - 1}`));
    const verdict = hubVerdict(summary);
    if (verdict) reason.prepend(verdict);  // first, so a long reason is what the ellipsis cuts
    button.append(state, plate, containers, time, reason);
    button.addEventListener("click", () => { this.select(summary.id, false); this.onOpen(summary.id); });
    li.append(button);
    if (summary.id === this.selected) this.markRow(li, true);
    return li;
  }

  append(summary) {
    const li = this.row(summary);
    this.rows.set(summary.id, { summary, li });
    this.list.append(li);
  }

  /** A summary from the live stream (or an action's answer): a new row, a newer version of one, or nothing. */
  upsert(summary, fresh = true) {
    if (this.during) {
      const seen = this.during.get(summary.id);
      if (!seen || summary.version > seen.version) this.during.set(summary.id, summary);
    }
    const known = this.rows.get(summary.id);
    if (known) {
      if (summary.version <= known.summary.version) return { changed: false };
      if (!this.matches(summary) && summary.id !== this.selected) {
        known.li.remove();
        this.rows.delete(summary.id);
        this.refreshChrome();
        return { changed: true, before: known.summary };
      }
      const li = this.row(summary);
      if (fresh) li.classList.add("fresh");
      known.li.replaceWith(li);
      this.rows.set(summary.id, { summary, li });
      return { changed: true, before: known.summary };
    }
    // Older than everything loaded while older pages remain: it belongs to a page not yet asked for, where a
    // source may hold it as it was, or the source of its new state may have paged past it already.
    if (this.unloaded(summary)) {
      this.pager.offer(summary);
      this.refreshChrome();
      return { changed: false };
    }
    if (!this.matches(summary)) return { changed: false };
    const li = this.row(summary);
    if (fresh) li.classList.add("fresh");
    let after = null;
    for (const child of this.list.children) {
      if (Number(child.dataset.id) < summary.id) { after = child; break; }
    }
    this.list.insertBefore(li, after);
    this.rows.set(summary.id, { summary, li });
    this.trim();
    this.refreshChrome();
    return { changed: true, before: null };
  }

  oldestId() {
    const last = this.list.lastElementChild;
    return last ? Number(last.dataset.id) : null;
  }

  /** A long day: drop the oldest rows past MAX_ROWS; the pager goes on below the oldest kept. */
  trim() {
    if (this.rows.size <= MAX_ROWS) return;
    while (this.rows.size > MAX_ROWS) {
      const last = this.list.lastElementChild;
      if (!last || Number(last.dataset.id) === this.selected) break;
      this.rows.delete(Number(last.dataset.id));
      last.remove();
    }
    this.pager = new MergedPager(this.states(), this.oldestId());
  }

  summary(id) {
    const known = this.rows.get(id);
    return known ? known.summary : null;
  }

  /** The row the selection left, if it no longer matches the filter (it stayed while selected). */
  dropUnmatched(id) {
    const known = this.rows.get(id);
    if (!known || this.matches(known.summary)) return;
    known.li.remove();
    this.rows.delete(id);
    this.refreshChrome();
  }

  // ------------------------------------------------------------ selection

  markRow(li, on) {
    li.classList.toggle("selected", on);
    const button = li.querySelector("button.row");
    if (on) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }

  mark(id) {
    for (const li of this.list.querySelectorAll("li.selected")) this.markRow(li, false);
    const known = this.rows.get(id);
    if (known) this.markRow(known.li, true);
  }

  select(id, focus = true) {
    const left = this.selected;
    this.selected = id;
    this.mark(id);
    if (left !== id) this.dropUnmatched(left);
    const known = this.rows.get(id);
    if (known && focus) {
      known.li.querySelector("button.row").focus({ preventScroll: true });
      known.li.scrollIntoView({ block: "nearest" });
    }
    this.onSelect(id);
  }

  /** J/K: the next older (+1) or newer (-1) row; past the last row, the next page. */
  async move(delta) {
    const items = [...this.list.children];
    if (!items.length) return;
    let index = items.findIndex((li) => Number(li.dataset.id) === this.selected);
    if (index < 0) index = delta > 0 ? -1 : items.length;
    let next = index + delta;
    if (next >= items.length && this.pager && this.pager.more) {
      await this.older();
      return this.move(delta);
    }
    next = Math.min(Math.max(next, 0), this.list.children.length - 1);
    this.select(Number(this.list.children[next].dataset.id));
  }
}
