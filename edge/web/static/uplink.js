// The uplink to the image-review hub, beside the device health: what waits in the outbox and
// since when, what the hub refused, whether it answers. Polled from /api/uplink (the outbox
// lives in the edge's store; the live stream does not carry it). Hidden when the lane has no hub.
"use strict";

import { ago } from "/static/devices.js";

const EVERY_MS = 5000;
const BEHIND_S = 120;  // an item older than this is worth the officer's notice

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** "42 s", "5 min", "3 h": how long something has waited. */
export function waited(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h`;
}

/** The words of the line, from GET /api/uplink's answer (exported for the tests' reading of it). */
export function uplinkWords(u) {
  const link = u.hub_reachable === null ? "not asked yet" : u.hub_reachable ? "reachable" : "unreachable";
  const queue = u.depth ? `${u.depth} waiting, oldest ${waited(u.oldest_age_s || 0)}` : "all sent";
  return { link, queue, refused: u.refused ? `${u.refused} refused` : "" };
}

export class UplinkLine {
  constructor(node, api) {
    this.node = node;
    this.api = api;
    this.timer = null;
  }

  start() {
    const poll = async () => {
      try {
        this.render(await this.api.get("/api/uplink"));
      } catch { /* the next poll tries again; the link indicator shows an edge away */ }
      this.timer = setTimeout(poll, EVERY_MS);
    };
    poll();
  }

  stop() {
    clearTimeout(this.timer);
  }

  render(u) {
    this.node.hidden = !u.configured;
    if (!u.configured) return;
    const words = uplinkWords(u);
    const down = u.hub_reachable === false;
    const behind = u.depth > 0 && (u.oldest_age_s || 0) > BEHIND_S;
    this.node.className = `uplink${down ? " down" : ""}${behind ? " behind" : ""}${u.refused ? " refused" : ""}`;
    const state = el("span", `uplink-state ${down ? "offline" : "online"}`);
    state.append(el("span", "status-mark", down ? "✕" : "●"), ` ${words.link}`);
    state.firstChild.setAttribute("aria-hidden", "true");
    const parts = [el("span", "uplink-name", "Hub"), state, el("span", "uplink-depth", words.queue)];
    if (words.refused) parts.push(el("span", "uplink-refused", words.refused));
    this.node.replaceChildren(...parts);
    this.node.dataset.depth = String(u.depth);
    const hover = [`review hub ${u.hub_url}`, `${u.blobs} images and ${u.passages} passages waiting`,
      `last verdict ${u.verdict_cursor}`];
    if (u.last_ok_at) hover.push(`answered ${ago(u.last_ok_at)}`);
    if (u.last_error) hover.push(`last error: ${u.last_error}`);
    for (const r of u.refused_items || []) hover.push(`refused ${r.kind} of passage ${r.passage_id}: ${r.code}: ${r.detail}`);
    this.node.title = hover.join("\n");
  }
}
