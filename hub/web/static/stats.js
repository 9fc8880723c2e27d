// The statistics page: GET /api/v1/stats for a chosen period, per lane, per port and overall:
// passages, the share released directly after machine inspection, arrival-to-decision and
// upload-to-verdict times (p50/p95), a reviewer's time per scan, and the queue as it stands.
"use strict";

import { hubApi } from "./api.js";
import { $, el } from "./dom.js";
import { duration, localTime } from "./time.js";

const REFRESH_MS = 15_000;

const share = (x) => (x === null || x === undefined ? "–" : `${Math.round(x * 100)} %`);
const pair = (q) => (q ? `${duration(q.p50)} / ${duration(q.p95)}` : "–");

const COLUMNS = [
  ["Passages", (g) => String(g.passages)],
  ["Released directly", (g) => `${share(g.released_directly_share)} (${g.released_directly})`],
  ["Arrival → decision p50 / p95", (g) => pair(g.arrival_to_decision_s)],
  ["Upload → verdict p50 / p95", (g) => pair(g.upload_to_verdict_s)],
  ["Reviewer per scan p50", (g) => duration(g.reviewer_s_per_scan && g.reviewer_s_per_scan.p50)],
  ["Queue", (g) => String(g.queue ? g.queue.depth : "–")],
  ["Oldest waiting", (g) => duration(g.queue && g.queue.oldest_age_s)],
];

function table(root, name, groups) {
  const head = el("tr");
  head.append(el("th", "", name), ...COLUMNS.map(([title]) => el("th", "", title)));
  const rows = Object.entries(groups || {}).map(([key, g]) => {
    const tr = el("tr");
    tr.dataset.key = key;
    tr.append(el("th", "", key), ...COLUMNS.map(([, f]) => el("td", "num", f(g))));
    return tr;
  });
  if (!rows.length) {
    const tr = el("tr");
    const td = el("td", "muted", "No passage in this period.");
    td.colSpan = COLUMNS.length + 1;
    tr.append(td);
    rows.push(tr);
  }
  const thead = el("thead");
  thead.append(head);
  const tbody = el("tbody");
  tbody.append(...rows);
  root.replaceChildren(thead, tbody);
}

function figures(g) {
  const root = $("overall");
  root.replaceChildren(...COLUMNS.map(([title, f]) => {
    const box = el("div", "figure");
    box.append(el("span", "figure-value", f(g)), el("span", "figure-label", title));
    return box;
  }));
}

async function load() {
  const hours = Number($("since").value);
  const since = Date.now() / 1000 - hours * 3600;
  try {
    const s = await hubApi.get(`/stats?since=${since.toFixed(0)}`);
    figures(s.overall);
    table($("lanes"), "Lane", s.lanes);
    table($("ports"), "Port", s.ports);
    $("stats-at").textContent = `as of ${localTime(s.now ?? Date.now() / 1000)}`;
    $("notice").textContent = "";
  } catch (err) {
    $("notice").textContent = `The statistics could not be read: ${err.message}`;
    $("notice").className = "notice bad";
  }
}

const me = await hubApi.me();
$("user-name").textContent = me.name;
$("user-role").textContent = me.role;
$("since").addEventListener("change", load);
load();
setInterval(load, REFRESH_MS);
